"""``python -m workers.node --name N ...``: the same as ``kubeq node``."""

from __future__ import annotations

import sys

from workers.cli import main

if __name__ == "__main__":
    sys.exit(main(["node", *sys.argv[1:]]))
