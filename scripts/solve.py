#!/usr/bin/env python
"""Solve one problem file: python scripts/solve.py PROBLEM.yaml [--out DIR] [--set KEY=VALUE] ..."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from pinn.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["solve", *sys.argv[1:]], prog="scripts/solve.py"))
