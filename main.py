"""Start Clinic Reception: ``python main.py [--database CONNINFO]`` (what ``make run`` does).

Before Qt starts, ``ui.platform_check`` makes sure Qt's xcb platform plugin can load
and that there is a display; if not, it prints what to install (the exact
``sudo apt-get install …`` line) and exits with 69 (or 78 for no display)
instead of letting Qt abort.
"""

import sys

from reception_app.ui.platform_check import exit_if_window_cannot_start

if __name__ == "__main__":
    exit_if_window_cannot_start()
    from reception_app.ui.app import main

    sys.exit(main())
