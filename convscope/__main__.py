"""``python -m convscope`` runs the ``convscope`` command."""

import sys

from convscope.cli import main

sys.exit(main())
