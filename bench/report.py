"""BENCHMARKS.md: each benchmark owns one `## section`, replaced on every run."""

from __future__ import annotations

from pathlib import Path

PATH = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nProduced by `make bench` (see each section for its own command).\n"


def write_section(title: str, body: str) -> None:
    text = PATH.read_text() if PATH.exists() else HEADER
    heading = f"## {title}\n"
    start = text.find(heading)
    section = f"{heading}\n{body.strip()}\n\n"
    if start == -1:
        text = text.rstrip() + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end + 1 :] if end != -1 else "")
    PATH.write_text(text.rstrip() + "\n")
