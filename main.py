"""Start Clinic Reception: ``python main.py [--database CONNINFO]`` (what ``make run`` does)."""

import sys

from reception_app.ui.app import main

if __name__ == "__main__":
    sys.exit(main())
