"""Cold start benchmark: a fresh process to a usable window, the embedded server already running.

Each run is a new ``python -c`` process (the interpreter, the imports, Qt, the
database opened the way the app does it, the window, the first day loaded):
``ClinicApp`` — what ``ui.app.main`` runs — with ``CLINIC_DATA_DIR`` pointing at
the bench directory, whose embedded server the caller has started, so the app
reuses it (as the second window of the day does). Measured from just before the
process is started to the ``MainWindow``'s first ``day_loaded`` (the child
prints ``time.monotonic()`` then, the same clock for every process). One
untimed run first creates and fills the app's database (the demo clinic).
The XDG directories point at a scratch folder: nothing of the user's is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("CLINIC_BENCH_START_RUNS", "5"))

CHILD = r"""
import sys, time
from PySide6.QtWidgets import QApplication
from reception_app.config import choose_connection
from reception_app.logsetup import setup_logging
from reception_app.ui.app import ClinicApp, configure_application
from reception_app.ui.messages import install_excepthook

log_path = setup_logging()
app = QApplication(sys.argv[:1])
configure_application(app)
install_excepthook(log_path)
clinic = ClinicApp(choose_connection(None), log_path)
result = {}

def on_day_loaded(_view):
    if not result:
        result["t"] = time.monotonic()
        app.quit()

clinic.window_shown.connect(lambda window: window.day_loaded.connect(on_day_loaded))
clinic.start_failed.connect(lambda message: (result.setdefault("error", message), app.quit()))
clinic.start()
app.exec()
clinic.stop()
print(repr(result.get("t")) if "t" in result else "FAILED " + result.get("error", "?"), flush=True)
"""


def _run_once(data_dir: Path, scratch: Path, timeout_s: float) -> float:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", CLINIC_DATA_DIR=str(data_dir))
    env.pop("CLINIC_DATABASE_URL", None)
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        env[var] = str(scratch / var.lower())
    root = Path(__file__).resolve().parents[2]
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=root, capture_output=True, text=True,
                         timeout=timeout_s)
    last = (out.stdout.strip().splitlines() or ["FAILED (no output)"])[-1]
    if out.returncode != 0 or last.startswith("FAILED"):
        raise RuntimeError(f"cold start failed: {last} {out.stderr[-500:]}")
    return float(last) - t0


def bench_cold_start(data_dir: Path, runs: int = RUNS) -> dict:
    """``data_dir``: the directory whose ``pgdata`` holds the (running) embedded server."""
    scratch = Path(tempfile.mkdtemp(prefix="clinic-bench-home-"))
    first_s = _run_once(data_dir, scratch, timeout_s=600)  # creates, migrates and fills the app's database
    seconds = sorted(_run_once(data_dir, scratch, timeout_s=120) for _ in range(runs))
    return {"runs": runs, "first_run_with_setup_s": round(first_s, 2),
            "seconds": [round(s, 2) for s in seconds], "median_s": round(seconds[len(seconds) // 2], 2),
            "max_s": round(seconds[-1], 2), "goal_s": 2}
