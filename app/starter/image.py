"""The starter image, built from this machine's Debian packages: no download, no image builder.

What is in it (README "The first workspace"):
- busybox-static: `/bin/sh` (ash) and busybox's applets in /bin (ls, cat, cp, vi, ps, top,
  grep, sed, awk, tar, gzip, wget, nc, …): what a shell session needs;
- bash, when /bin/bash is here (it is on every Debian), with the shared libraries it loads;
- rsync, when /usr/bin/rsync is here (Debian package rsync), with its libraries: what
  `coder sync` runs at the workspace's end;
- /etc/os-release, /etc/passwd and /etc/group (root), /etc/profile (a prompt), /root, /home, /tmp.
It runs `/bin/sh` (a terminal keeps it running) as root, with HOME set by pycoderd to the
workspace's home volume.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from app.starter import oci

REPOSITORY = "pycoderd/starter"
TAG = "latest"
# Optional programs: {path in the image: path on this machine}.
PROGRAMS = {"/bin/bash": "/bin/bash", "/usr/bin/rsync": "/usr/bin/rsync"}


def _version(program: str) -> str:
    """ "rsync 3.2.7" from `rsync --version`'s first line ("" when it will not say)."""
    try:
        first = subprocess.run(
            [program, "--version"], capture_output=True, text=True, timeout=10
        ).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return ""
    words = first.replace(",", " ").split()
    number = next((w for w in words if w[:1].isdigit()), "")
    return f"{Path(program).name} {number.split('(')[0]}".strip()


def contents() -> list[str]:
    """What the image will hold, for people: ["busybox 1.35.0", "bash 5.2.15", …]."""
    busybox = subprocess.run([oci.BUSYBOX], capture_output=True, text=True).stdout
    version = busybox.split()[1].lstrip("v") if busybox.startswith("BusyBox") else ""
    found = [f"busybox {version}".strip()]
    found += [_version(source) for source in PROGRAMS.values() if os.access(source, os.X_OK)]
    return found


def _etc(description: str) -> dict[str, str]:
    return {
        "/etc/os-release": (
            f'PRETTY_NAME="pycoderd starter ({description})"\n'
            'NAME="pycoderd starter"\nID=pycoderd-starter\nVERSION_ID=1\n'
        ),
        "/etc/passwd": "root:x:0:0:root:/root:/bin/sh\n",
        "/etc/group": "root:x:0:\n",
        "/etc/profile": 'export PS1="\\u@\\h:\\w\\$ "\n',
    }


def layers() -> list[bytes]:
    """The image's layers, bottom-up (uncompressed tars)."""
    programs = {target: source for target, source in PROGRAMS.items() if os.access(source, os.X_OK)}
    built = [oci.busybox_layer()]
    if programs:
        built.append(oci.programs_layer(programs))
    built.append(oci.files_layer(_etc(", ".join(contents()))))
    return built


def push(pusher: oci.Pusher) -> str:
    """Build the starter image and push it as REPOSITORY:TAG; return its manifest digest."""
    return pusher.push_image(REPOSITORY, TAG, layers(), ["/bin/sh"])
