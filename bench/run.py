"""`make bench`: every benchmark in turn, each writing its section of BENCHMARKS.md."""

from __future__ import annotations

import sys

from bench import cli_load, http_load, proxy, scale, workspaces


def main() -> None:
    sys.argv = [sys.argv[0]]
    http_load.main()
    proxy.main()
    workspaces.main()
    scale.main()
    cli_load.main()


if __name__ == "__main__":
    main()
