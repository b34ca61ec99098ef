"""A small client for the OCI distribution API: ping, auth, manifests, tags and os-release.

Built on `requests` rather than a registry library: pycoderd needs only a handful of read-only
calls, and it needs control that the libraries (oras, docker's SDK) do not expose — a check of
the address each connection really reaches (no server-side request forgery, even through DNS
rebinding or redirects), per-call timeouts, byte caps on every body, and streaming a layer to
pick one file out of it. `requests` gives all of that through its transport adapter.

Every failure is a `RegistryError` whose subclass says which: `Unreachable`, `BadCredentials`,
`ManifestNotFound` (repository:tag), `Refused` (a host pycoderd may not contact) and
`BadResponse`. With an allow-list (`allowed`), a host outside it is refused before its name is
looked up, for the registry itself, its token realm and every redirect alike.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import re
import socket
import tarfile
import threading
import time
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

log = logging.getLogger("pycoderd.registry")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))

TIMEOUT = (5.0, 20.0)  # connect, read (seconds)
LAYER_DEADLINE = 120.0  # seconds for one layer download
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_JSON_BYTES = 1024 * 1024
MAX_LAYER_BYTES = 512 * 1024 * 1024  # compressed bytes read from one layer
MAX_OS_RELEASE_BYTES = 64 * 1024
MAX_TAGS = 10_000
MAX_REDIRECTS = 5
OS_RELEASE_PATHS = ("etc/os-release", "usr/lib/os-release")
HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
    r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?::\d{1,5})?$"
    r"|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$"
)
REPOSITORY_RE = re.compile(
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class RegistryError(Exception):
    """A registry call failed; `code` names the case for the API's error body."""

    code = "registry_error"


class Unreachable(RegistryError):
    code = "registry_unreachable"


class BadCredentials(RegistryError):
    code = "registry_unauthorized"


class ManifestNotFound(RegistryError):
    code = "image_not_found"


class Refused(RegistryError):
    code = "registry_refused"


class BadResponse(RegistryError):
    code = "registry_bad_response"


class _ForbiddenAddress(Exception):
    """Raised inside a connection; deliberately not an OSError so urllib3 does not retry it."""


def split_host(host: str) -> tuple[str, int | None]:
    """("name", port) from "name[:port]" or "[v6]:port"."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
    else:
        name, _, port = host.partition(":")
    return name.lower(), int(port) if port else None


def valid_host(host: str) -> bool:
    """host[:port]; like Docker, a bare single label is a namespace, not a host (but localhost)."""
    if not host or len(host) > 255 or not HOST_RE.match(host):
        return False
    if "." not in host and ":" not in host and host.lower() != "localhost":
        return False
    port = split_host(host)[1]
    return port is None or 0 < port < 65536


def valid_repository(repository: str) -> bool:
    return bool(repository) and len(repository) <= 255 and bool(REPOSITORY_RE.match(repository))


def valid_tag(tag: str) -> bool:
    return bool(TAG_RE.match(tag or ""))


def normalize_hosts(hosts: Iterable[str]) -> frozenset[str]:
    """A host list as the options give it (host or host:port entries), lower-cased."""
    return frozenset(h.strip().lower() for h in hosts if h and h.strip())


def host_listed(hosts: frozenset[str], name: str, port: int | None) -> bool:
    """Whether `name` (any port) or `name:port` is in the list."""
    bare = f"[{name}]" if ":" in name else name
    return name in hosts or bare in hosts or (port is not None and f"{bare}:{port}" in hosts)


def _host_text(name: str, port: int | None = None) -> str:
    host = f"[{name}]" if ":" in name else name
    return host + (f":{port}" if port is not None else "")


def _not_allowed(name: str, port: int | None = None) -> str:
    return f"registry host {_host_text(name, port)} is not listed in CODER_REGISTRY_ALLOWED"


def is_public_address(address: str) -> bool:
    """A global unicast address (an IPv4-mapped IPv6 address judged as its IPv4 one)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _guarded_adapter(insecure: frozenset[str], allowed: frozenset[str]) -> HTTPAdapter:
    """An adapter whose connections refuse non-public peers unless the host is listed as
    insecure, and (with an allow-list) every host not on it, before any DNS lookup.

    The check looks at the socket's real peer after connecting, so neither a DNS answer that
    changes between check and use nor a redirect can reach an internal address.
    """

    def refuse(conn, address: str):
        # The address stays in the server's log: told to the client, it would answer what any
        # internal name resolves to.
        log.info("registry host %s:%s refused: it is %s", conn.host, conn.port, address)
        return _ForbiddenAddress(
            f"registry host {_host_text(conn.host, conn.port)} is not allowed: it is not a "
            "public address; list it in CODER_REGISTRY_INSECURE to allow it"
        )

    def guarded(conn, new_conn):
        if allowed and not host_listed(allowed, conn.host.lower(), conn.port):
            raise _ForbiddenAddress(_not_allowed(conn.host, conn.port))
        if host_listed(insecure, conn.host.lower(), conn.port):
            return new_conn()
        try:  # refuse before connecting, so closed and open internal ports look the same
            infos = socket.getaddrinfo(conn.host, conn.port, type=socket.SOCK_STREAM)
        except OSError:
            infos = []  # let the connection attempt report the resolution failure
        for info in infos:
            if not is_public_address(info[4][0]):
                raise refuse(conn, info[4][0])
        sock = new_conn()
        peer = sock.getpeername()[0]
        if not is_public_address(peer):  # the name changed its answer since the check
            sock.close()
            raise refuse(conn, peer)
        return sock

    class GuardedHTTPConnection(HTTPConnection):
        def _new_conn(self):
            return guarded(self, super()._new_conn)

    class GuardedHTTPSConnection(HTTPSConnection):
        def _new_conn(self):
            return guarded(self, super()._new_conn)

    class GuardedHTTPPool(HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    class GuardedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {
                "http": GuardedHTTPPool,
                "https": GuardedHTTPSPool,
            }

    return GuardedAdapter(max_retries=0)


def _read_capped(response: requests.Response, cap: int, what: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > cap:
        response.close()
        raise BadResponse(f"the registry's {what} is larger than {cap} bytes")
    chunks, total = [], 0
    for chunk in response.iter_content(64 * 1024):
        total += len(chunk)
        if total > cap:
            response.close()
            raise BadResponse(f"the registry's {what} is larger than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _json(data: bytes, what: str):
    try:
        return json.loads(data)
    except ValueError:
        raise BadResponse(f"the registry's {what} is not valid JSON") from None


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """("bearer", {"realm": …, "service": …}) from a WWW-Authenticate header."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        key.lower(): value for key, value in re.findall(r'([A-Za-z_]+)\s*=\s*"?([^",]*)"?', rest)
    }
    return scheme.lower(), params


def parse_os_release(text: str) -> dict:
    """{"id", "pretty_name", "home_url"} from an os-release file."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value.replace('\\"', '"')
    return {
        "id": values.get("ID", ""),
        "pretty_name": values.get("PRETTY_NAME") or values.get("NAME", ""),
        "home_url": values.get("HOME_URL", ""),
    }


class _OSReleaseCache:
    """os-release by manifest digest: a digest names immutable content."""

    def __init__(self, size: int = 512):
        self.size = size
        self._items: OrderedDict[str, dict | None] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str):
        with self._lock:
            if digest in self._items:
                self._items.move_to_end(digest)
                return True, self._items[digest]
        return False, None

    def put(self, digest: str, value) -> None:
        with self._lock:
            self._items[digest] = value
            self._items.move_to_end(digest)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


OS_RELEASE_CACHE = _OSReleaseCache()


@dataclass
class Manifest:
    digest: str
    media_type: str
    body: dict


class _LayerReader:
    """A file-like view of a streamed layer that stops at a byte cap and a deadline."""

    def __init__(self, response: requests.Response, cap: int, deadline: float):
        self._chunks = response.iter_content(64 * 1024)
        self._buffer = b""
        self._total = 0
        self._cap = cap
        self._deadline = deadline

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self._buffer) < size:
            if time.monotonic() > self._deadline:
                raise BadResponse("reading an image layer took too long")
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._total += len(chunk)
            if self._total > self._cap:
                raise BadResponse(f"an image layer is larger than {self._cap} bytes")
            self._buffer += chunk
        if size < 0:
            data, self._buffer = self._buffer, b""
        else:
            data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


@dataclass
class Client:
    """Talks to one registry (`host` is host[:port]) as one user, or anonymously.

    `insecure`: hosts that may be non-public and reached over plain HTTP or unverified TLS.
    `allowed`: when not empty, the only hosts that may be contacted at all.
    """

    host: str
    username: str = ""
    password: str = ""
    insecure: frozenset[str] = frozenset()
    allowed: frozenset[str] = frozenset()
    timeout: tuple[float, float] = TIMEOUT
    _session: requests.Session = field(init=False, repr=False)
    _base: str | None = field(default=None, init=False, repr=False)
    _tokens: dict[str, str] = field(default_factory=dict, init=False, repr=False)
    _basic: bool = field(default=False, init=False, repr=False)

    def __post_init__(self):
        if not valid_host(self.host):
            raise Refused(f'"{self.host}" is not a registry host[:port]')
        self.host = self.host.lower()
        self.insecure = normalize_hosts(self.insecure)
        self.allowed = normalize_hosts(self.allowed)
        if self.allowed and not host_listed(self.allowed, *split_host(self.host)):
            raise Refused(_not_allowed(*split_host(self.host)))
        self._session = requests.Session()
        self._session.trust_env = False  # no proxies or netrc from the environment
        self._session.max_redirects = MAX_REDIRECTS
        adapter = _guarded_adapter(self.insecure, self.allowed)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)

    @property
    def listed_insecure(self) -> bool:
        name, port = split_host(self.host)
        return host_listed(self.insecure, name, port)

    def close(self) -> None:
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # transport ----------------------------------------------------------------------------

    def _send(self, method: str, url: str, *, headers=None, auth=None, stream=True, verify=True):
        try:
            with warnings.catch_warnings():
                # verify=False only for hosts the operator listed as insecure
                warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                return self._session.request(
                    method,
                    url,
                    headers=headers or {},
                    auth=auth,
                    timeout=self.timeout,
                    stream=stream,
                    verify=verify,
                    allow_redirects=True,
                )
        except _ForbiddenAddress as exc:
            raise Refused(str(exc)) from None
        except requests.TooManyRedirects:
            raise BadResponse(f"registry {self.host} redirected too many times") from None
        except requests.RequestException as exc:
            if isinstance(exc.__context__, _ForbiddenAddress):
                raise Refused(str(exc.__context__)) from None
            raise Unreachable(f"registry {self.host} cannot be reached: {_reason(exc)}") from None

    def _base_url(self) -> str:
        """https://host, or for a host listed as insecure, https without verification or http."""
        if self._base is not None:
            return self._base
        if not self.listed_insecure:
            self._base = f"https://{self.host}"
            return self._base
        try:
            response = self._send("GET", f"https://{self.host}/v2/", verify=False)
            response.close()
            self._base = f"https://{self.host}"
        except Unreachable:
            self._base = f"http://{self.host}"
        return self._base

    def _request(self, method: str, path: str, *, scope: str = "", headers=None):
        """Send with the registry's auth, answering a 401 challenge once."""
        base = self._base_url()
        verify = not (self.listed_insecure and base.startswith("https://"))
        url = base + path
        response = self._send(
            method, url, headers={**(headers or {}), **self._auth_header(scope)}, verify=verify
        )
        if response.status_code != 401:
            return response
        challenge = response.headers.get("WWW-Authenticate", "")
        response.close()
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.username:
                raise BadCredentials(f"registry {self.host} requires a username and password")
            self._basic = True
        elif scheme == "bearer":
            self._tokens[scope] = self._fetch_token(params, scope)
        else:
            raise BadCredentials(
                f"registry {self.host} refused access ({challenge or 'no challenge'})"
            )
        response = self._send(
            method, url, headers={**(headers or {}), **self._auth_header(scope)}, verify=verify
        )
        if response.status_code == 401:
            response.close()
            what = "the username or password" if self.username else "anonymous access"
            raise BadCredentials(f"registry {self.host} rejected {what}")
        return response

    def _auth_header(self, scope: str) -> dict:
        if scope in self._tokens:
            return {"Authorization": f"Bearer {self._tokens[scope]}"}
        if self._basic and self.username:
            return {"Authorization": requests.auth._basic_auth_str(self.username, self.password)}
        return {}

    def _fetch_token(self, params: dict[str, str], scope: str) -> str:
        realm = params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise BadResponse(f"registry {self.host} sent an unusable token realm")
        realm_host = parts.netloc.rsplit("@", 1)[-1].lower()
        same_host = realm_host == self.host
        listed = host_listed(self.insecure, parts.hostname.lower(), parts.port)
        if parts.scheme == "http" and not listed:
            raise Refused(
                f"registry {self.host} asks for a token over plain HTTP from {realm_host}; "
                "list that host in CODER_REGISTRY_INSECURE to allow it"
            )
        if not same_host and not valid_host(realm_host):
            raise BadResponse(f"registry {self.host} sent an unusable token realm")
        query = {"service": params["service"]} if params.get("service") else {}
        if scope:
            query["scope"] = scope
        url = realm + ("&" if parts.query else "?") + urlencode(query) if query else realm
        auth = (self.username, self.password) if self.username else None
        response = self._send("GET", url, auth=auth, verify=parts.scheme == "https" and not listed)
        if response.status_code in (401, 403):
            response.close()
            raise BadCredentials(
                f"registry {self.host}'s token service {realm_host} rejected "
                + ("the username or password" if self.username else "anonymous access")
            )
        if response.status_code != 200:
            response.close()
            raise BadResponse(
                f"registry {self.host}'s token service answered {response.status_code}"
            )
        body = _json(_read_capped(response, MAX_JSON_BYTES, "token"), "token")
        token = body.get("token") or body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise BadResponse(f"registry {self.host}'s token service sent no token")
        return token

    # the API ------------------------------------------------------------------------------

    def ping(self) -> None:
        """Check that the registry answers the distribution API and accepts our credentials."""
        response = self._request("GET", "/v2/")
        response.close()
        if response.status_code != 200:
            raise BadResponse(
                f"{self.host} does not look like a container registry "
                f"(GET /v2/ answered {response.status_code})"
            )

    def _manifest_request(self, method: str, repository: str, reference: str):
        if not valid_repository(repository):
            raise ManifestNotFound(f'"{repository}" is not a valid repository name')
        if not (valid_tag(reference) or DIGEST_RE.match(reference)):
            raise ManifestNotFound(f'"{reference}" is not a valid tag')
        response = self._request(
            method,
            f"/v2/{repository}/manifests/{reference}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": ACCEPT},
        )
        if response.status_code == 404:
            response.close()
            raise ManifestNotFound(
                f"{repository}:{reference} was not found in registry {self.host}"
            )
        if response.status_code == 403:
            response.close()
            raise BadCredentials(f"registry {self.host} denies access to {repository}")
        if response.status_code != 200:
            response.close()
            raise BadResponse(
                f"registry {self.host} answered {response.status_code} for {repository}:{reference}"
            )
        return response

    def manifest_digest(self, repository: str, reference: str) -> str:
        """The digest repository:reference points at now (HEAD; GET when no digest header)."""
        response = self._manifest_request("HEAD", repository, reference)
        response.close()
        digest = response.headers.get("Docker-Content-Digest", "")
        if DIGEST_RE.match(digest):
            return digest
        return self.manifest(repository, reference).digest

    def manifest(self, repository: str, reference: str) -> Manifest:
        response = self._manifest_request("GET", repository, reference)
        data = _read_capped(response, MAX_MANIFEST_BYTES, "manifest")
        body = _json(data, "manifest")
        if not isinstance(body, dict):
            raise BadResponse(f"registry {self.host} sent a manifest that is not an object")
        media_type = body.get("mediaType") or response.headers.get("Content-Type", "").split(";")[0]
        if media_type not in (*MANIFEST_TYPES, *INDEX_TYPES):
            raise BadResponse(
                f"{repository}:{reference} has an unsupported manifest type {media_type}"
            )
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        return Manifest(digest=digest, media_type=media_type, body=body)

    def tags(self, repository: str) -> list[str]:
        """Every tag of the repository (following Link pagination, at most MAX_TAGS)."""
        if not valid_repository(repository):
            raise ManifestNotFound(f'"{repository}" is not a valid repository name')
        path, found = f"/v2/{repository}/tags/list?n=1000", []
        while path and len(found) < MAX_TAGS:
            response = self._request("GET", path, scope=f"repository:{repository}:pull")
            if response.status_code == 404:
                response.close()
                raise ManifestNotFound(f"repository {repository} was not found in {self.host}")
            if response.status_code != 200:
                response.close()
                raise BadResponse(f"registry {self.host} answered {response.status_code}")
            body = _json(_read_capped(response, MAX_JSON_BYTES, "tag list"), "tag list")
            found.extend(t for t in (body.get("tags") or []) if isinstance(t, str))
            link = response.links.get("next", {}).get("url", "")
            path = urljoin("/", link) if link and not urlsplit(link).netloc else ""
        return found[:MAX_TAGS]

    def resolve_image_manifest(self, repository: str, reference: str) -> Manifest:
        """The image manifest (an index's linux/amd64 entry, or its first) for a reference."""
        manifest = self.manifest(repository, reference)
        if manifest.media_type in INDEX_TYPES:
            entries = [m for m in manifest.body.get("manifests") or [] if isinstance(m, dict)]
            if not entries:
                raise BadResponse(f"{repository}:{reference} is an empty image index")

            def rank(entry):
                platform = entry.get("platform") or {}
                return (platform.get("os") != "linux", platform.get("architecture") != "amd64")

            chosen = sorted(entries, key=rank)[0].get("digest", "")
            if not DIGEST_RE.match(chosen):
                raise BadResponse(f"{repository}:{reference} has an index entry without a digest")
            inner = self.manifest(repository, chosen)
            if inner.media_type not in MANIFEST_TYPES:
                raise BadResponse(f"{repository}:{reference} nests indexes too deeply")
            return inner
        return manifest

    def os_release(self, repository: str, reference: str, digest: str = "") -> dict | None:
        """/etc/os-release of the image, parsed, or None when it has none; cached by digest."""
        if digest:
            hit, value = OS_RELEASE_CACHE.get(digest)
            if hit:
                return value
        manifest = self.resolve_image_manifest(repository, reference)
        hit, value = OS_RELEASE_CACHE.get(manifest.digest)
        if not hit:
            value = self._read_os_release(repository, manifest)
            OS_RELEASE_CACHE.put(manifest.digest, value)
        if digest:
            OS_RELEASE_CACHE.put(digest, value)
        return value

    def _read_os_release(self, repository: str, manifest: Manifest) -> dict | None:
        layers = [layer for layer in manifest.body.get("layers") or [] if isinstance(layer, dict)]
        found: dict[str, tuple[str, bytes | str]] = {}
        for layer in reversed(layers):  # top-down: the first entry seen for a path wins
            for path, entry in self._scan_layer(repository, layer).items():
                found.setdefault(path, entry)
            text = _resolve_os_release(found, complete=False)
            if text is not None:
                return parse_os_release(text)
        text = _resolve_os_release(found, complete=True)
        return parse_os_release(text) if text else None

    def _scan_layer(self, repository: str, layer: dict) -> dict[str, tuple[str, bytes | str]]:
        """The os-release candidates one layer holds: ("file", bytes) | ("link", target) |
        ("deleted", "")."""
        digest = layer.get("digest", "")
        size = layer.get("size")
        media_type = layer.get("mediaType", "")
        if not DIGEST_RE.match(digest) or "zstd" in media_type:
            return {}
        if isinstance(size, int) and size > MAX_LAYER_BYTES:
            return {}
        response = self._request(
            "GET", f"/v2/{repository}/blobs/{digest}", scope=f"repository:{repository}:pull"
        )
        if response.status_code != 200:
            response.close()
            raise BadResponse(f"registry {self.host} answered {response.status_code} for a layer")
        reader = _LayerReader(response, MAX_LAYER_BYTES, time.monotonic() + LAYER_DEADLINE)
        entries: dict[str, tuple[str, bytes | str]] = {}
        try:
            with tarfile.open(fileobj=reader, mode="r|*") as tar:
                for member in tar:
                    name = member.name.lstrip("./").lstrip("/")
                    directory, _, base = name.rpartition("/")
                    if base.startswith(".wh.") and f"{directory}/{base[4:]}" in OS_RELEASE_PATHS:
                        entries.setdefault(f"{directory}/{base[4:]}", ("deleted", ""))
                    if name not in OS_RELEASE_PATHS or name in entries:
                        continue
                    if member.issym():
                        entries[name] = ("link", member.linkname)
                    elif member.isfile() and member.size <= MAX_OS_RELEASE_BYTES:
                        handle = tar.extractfile(member)
                        entries[name] = ("file", handle.read() if handle else b"")
                    if len(entries) == len(OS_RELEASE_PATHS):
                        break
        except (tarfile.TarError, EOFError, OSError, ValueError):
            return entries  # not a tar we can read (or cut short): nothing more from it
        finally:
            response.close()
        return entries


def _resolve_os_release(found: dict, *, complete: bool) -> str | None:
    """The os-release text from the top-most entries seen so far; None when undecided.

    /etc/os-release wins, following a symlink (Debian's points at ../usr/lib/os-release);
    when /etc has none, /usr/lib/os-release is the fallback (os-release(5)).
    """
    path, hops = "etc/os-release", 0
    while hops < 4:
        hops += 1
        entry = found.get(path)
        if entry is None:
            if not complete:
                return None
            if path == "etc/os-release":
                path = "usr/lib/os-release"
                continue
            return ""
        kind, value = entry
        if kind == "file":
            return value.decode("utf-8", "replace")
        if kind == "deleted":
            if path == "etc/os-release":
                path = "usr/lib/os-release"
                continue
            return ""
        target = value if value.startswith("/") else f"/{path.rsplit('/', 1)[0]}/{value}"
        parts = []
        for part in target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
            else:
                parts.append(part)
        path = "/".join(parts)
        if path not in OS_RELEASE_PATHS:
            return ""
    return ""


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in (
        "Connection refused",
        "Name or service not known",
        "timed out",
        "No route to host",
        "Temporary failure in name resolution",
        "certificate verify failed",
        "WRONG_VERSION_NUMBER",
    ):
        if marker in text:
            return marker.lower() if marker != "WRONG_VERSION_NUMBER" else "not a TLS server"
    return exc.__class__.__name__
