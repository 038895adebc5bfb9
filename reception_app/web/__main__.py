"""``python -m reception_app.web``: the portal (``clinic-portal``), as ``clinic portal serve`` runs it."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="clinic portal serve"))
