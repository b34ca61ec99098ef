"""OCI images built from files on this machine, pushed to a registry through the distribution API.

No image builder and no download: a layer is a reproducible tar (fixed mtimes, sorted order) of
files taken from the host — Debian's static busybox with its applets as links in /bin, any
dynamically linked program with the shared libraries `ldd` names, or given contents — and an
image is a config and a manifest naming those layers. `Pusher` uploads blobs (monolithic
POST+PUT) and the manifest. The offline starter image (app/starter/image.py) and the tests'
images (tests/support/registry.py) are made here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import requests

BUSYBOX = "/bin/busybox"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CREATED = "2024-01-01T00:00:00Z"  # fixed, so the same files give the same digests


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_layer(entries: list[tarfile.TarInfo], contents: dict[str, bytes]) -> bytes:
    """An uncompressed layer tar; reproducible (fixed mtimes, sorted order)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info in entries:
            data = contents.get(info.name)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def dir_entry(name: str, mode: int = 0o755) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, 0
    return info


def file_entry(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, 0
    return info


def link_entry(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, 0
    return info


def _parents(names) -> list[str]:
    dirs = set()
    for name in names:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            dirs.add("/".join(parts[:i]))
    return sorted(dirs)


def files_layer(files: dict[str, bytes | str], modes: dict[str, int] | None = None) -> bytes:
    """An uncompressed layer tar holding `files` (absolute paths) and their parent directories."""
    modes = modes or {}
    contents = {}
    for path, data in files.items():
        contents[path.lstrip("/")] = data.encode() if isinstance(data, str) else data
    entries = [dir_entry(d) for d in _parents(contents)]
    entries += [
        file_entry(name, len(data), modes.get("/" + name, 0o644))
        for name, data in sorted(contents.items())
    ]
    return tar_layer(entries, contents)


_busybox_cache: dict[str, bytes] = {}


def busybox_layer() -> bytes:
    """/bin/busybox with every applet as a symlink in /bin, plus /etc, /home, /root, /tmp."""
    if "layer" not in _busybox_cache:
        binary = Path(BUSYBOX).read_bytes()
        applets = subprocess.run(
            [BUSYBOX, "--list"], capture_output=True, text=True, check=True
        ).stdout.split()
        entries = [dir_entry("bin"), file_entry("bin/busybox", len(binary), 0o755)]
        for applet in sorted(set(applets) - {"busybox"}):
            entries.append(link_entry(f"bin/{applet}", "busybox"))
        for name in ("etc", "home", "root"):
            entries.append(dir_entry(name))
        entries.append(dir_entry("tmp", 0o1777))
        _busybox_cache["layer"] = tar_layer(entries, {"bin/busybox": binary})
    return _busybox_cache["layer"]


_LDD_LINE = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x[0-9a-f]+\)")


def shared_libraries(program: str) -> list[str]:
    """The shared objects `ldd` says `program` loads (the dynamic loader included)."""
    result = subprocess.run(["ldd", program], capture_output=True, text=True)
    if result.returncode != 0:
        return []  # a static program
    return sorted({match.group(1) for match in _LDD_LINE.finditer(result.stdout)})


def programs_layer(programs: dict[str, str]) -> bytes:
    """Host programs at the given image paths ({image path: host path}), each with the shared
    libraries it loads, at the paths the loader looks them up by."""
    files: dict[str, bytes] = {}
    modes: dict[str, int] = {}
    for target, source in programs.items():
        files[target] = Path(source).read_bytes()
        modes[target] = 0o755
        for library in shared_libraries(source):
            files[library] = Path(library).read_bytes()  # follows the soname's link
            modes[library] = 0o755
    return files_layer(files, modes)


def image_config(raw_layers: list[bytes], cmd: list[str], env: list[str] | None = None) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": CREATED,
        "config": {"Cmd": cmd, "Env": env or [PATH_ENV]},
        "rootfs": {"type": "layers", "diff_ids": [digest(raw) for raw in raw_layers]},
        "history": [{"created": CREATED} for _ in raw_layers],
    }
    return json.dumps(config, sort_keys=True).encode()


class Pusher:
    """Uploads blobs and manifests to one registry (`base_url`, e.g. http://127.0.0.1:5000)."""

    def __init__(self, base_url: str, auth=None, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.session = session or requests.Session()

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        response = self.session.request(
            method, f"{self.base_url}{path}", auth=self.auth, timeout=60, **kwargs
        )
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload a blob unless the registry has it; return its digest."""
        blob_digest = digest(data)
        head = self.session.head(
            f"{self.base_url}/v2/{repo}/blobs/{blob_digest}", auth=self.auth, timeout=30
        )
        if head.status_code == 200:
            return blob_digest
        location = self.request("POST", f"/v2/{repo}/blobs/uploads/").headers["Location"]
        if location.startswith("/"):
            location = self.base_url + location
        separator = "&" if "?" in location else "?"
        response = self.session.put(
            f"{location}{separator}digest={blob_digest}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            auth=self.auth,
            timeout=60,
        )
        if response.status_code != 201:
            raise RuntimeError(f"blob upload: {response.status_code} {response.text[:300]}")
        return blob_digest

    def push_manifest(self, repo: str, reference: str, manifest: dict, media_type: str) -> str:
        body = json.dumps(manifest, sort_keys=True).encode()
        self.request(
            "PUT",
            f"/v2/{repo}/manifests/{reference}",
            data=body,
            headers={"Content-Type": media_type},
        )
        return digest(body)

    def push_image(
        self, repo: str, tag: str, raw_layers: list[bytes], cmd: list[str], *, docker=False
    ) -> str:
        """Push the layers (uncompressed tars, bottom-up), a config and the manifest to
        repo:tag; return the manifest's digest. `docker` uses Docker schema 2 media types."""
        layers = []
        for raw in raw_layers:
            blob = gzip.compress(raw, mtime=0)
            layers.append(
                {
                    "mediaType": DOCKER_LAYER if docker else OCI_LAYER,
                    "digest": self.push_blob(repo, blob),
                    "size": len(blob),
                }
            )
        config = image_config(raw_layers, cmd)
        media_type = DOCKER_MANIFEST if docker else OCI_MANIFEST
        manifest = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                "digest": self.push_blob(repo, config),
                "size": len(config),
            },
            "layers": layers,
        }
        return self.push_manifest(repo, tag, manifest, media_type)
