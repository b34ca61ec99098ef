"""Peewee models, one module per aggregate; ALL lists them in creation order."""

from app.models.activity import UserActivity
from app.models.api_keys import APIKey
from app.models.audit import AuditLog
from app.models.deployment import DeploymentSnapshot
from app.models.devurls import DevURL, DevURLTicket, ProxyTrafficSample
from app.models.images import Image, ImageTag, Registry
from app.models.organizations import Organization, OrganizationMember
from app.models.resource_pools import ResourcePool
from app.models.ssh_host_keys import SSHHostKey
from app.models.users import User
from app.models.workspaces import BuildLog, ProvisionerJob, Workspace, WorkspaceConfig

ALL = (
    User,
    Organization,
    OrganizationMember,
    APIKey,
    AuditLog,
    UserActivity,
    Registry,
    Image,
    ImageTag,
    Workspace,
    ProvisionerJob,
    BuildLog,
    DevURL,
    ProxyTrafficSample,
    DevURLTicket,
    WorkspaceConfig,
    DeploymentSnapshot,
    SSHHostKey,
    ResourcePool,
)

__all__ = [
    "ALL",
    "APIKey",
    "AuditLog",
    "BuildLog",
    "DeploymentSnapshot",
    "DevURL",
    "DevURLTicket",
    "Image",
    "ImageTag",
    "Organization",
    "OrganizationMember",
    "ProvisionerJob",
    "ProxyTrafficSample",
    "Registry",
    "ResourcePool",
    "SSHHostKey",
    "User",
    "UserActivity",
    "Workspace",
    "WorkspaceConfig",
]
