"""Solve many problems and parameter sweeps: python scripts/batch.py problems/ --out runs/all

The same as ``pinn batch ...``; see ``python scripts/batch.py --help``.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from pinn.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["batch", *sys.argv[1:]], prog="scripts/batch.py"))
