"""Peewee models, one module per aggregate; ALL lists them in creation order."""

from app.models.activity import UserActivity
from app.models.api_keys import APIKey
from app.models.audit import AuditLog
from app.models.organizations import Organization, OrganizationMember
from app.models.users import User

ALL = (User, Organization, OrganizationMember, APIKey, AuditLog, UserActivity)

__all__ = [
    "ALL",
    "APIKey",
    "AuditLog",
    "Organization",
    "OrganizationMember",
    "User",
    "UserActivity",
]
