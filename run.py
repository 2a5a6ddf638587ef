"""evalkit command line; see ``python run.py --help``."""

from evalkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
