"""The bundled program's entry point: the ``convscope`` command (GUI, train, inspect…)."""

import sys

from convscope.cli import main

if __name__ == "__main__":
    sys.exit(main())
