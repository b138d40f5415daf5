"""``python -m mllmsc`` (and ``torchrun -m mllmsc train ...``): the ``mllmsc`` command."""

import sys

from mllmsc.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
