"""``python -m pinn ...``: the command line, the same as the ``pinn`` console script (:func:`pinn.cli.main`)."""

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
