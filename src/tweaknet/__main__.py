"""``python -m tweaknet ...``: the same as the ``tweaknet`` command."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
