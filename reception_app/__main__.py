"""``python -m reception_app`` runs the ``clinic`` command."""

import sys

from .cli import main

sys.exit(main())
