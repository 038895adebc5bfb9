"""The real window on a real X server: ``python main.py`` with ``QT_QPA_PLATFORM=xcb`` under Xvfb.

Everything else tests Qt offscreen, which needs none of the X11 libraries the xcb
platform plugin links against; this test is what notices when one is missing (Qt
would abort) or when the window does not come up on the built-in database.

It starts Xvfb on a display Xvfb picks itself (``-displayfd``), starts the app on
the embedded default in a scratch data directory, waits until the main window is
mapped (``xdotool search --onlyvisible``) and the demo clinic is loaded, grabs the screen with a separate Qt
process, checks the picture is not blank, and quits with Ctrl+Q — every step with a
time limit. The picture is kept in ``CLINIC_XVFB_SCREENSHOT`` when set.

Needs Debian's ``xvfb`` and ``xdotool`` (``.ci/run`` installs them); skipped without
them, except under CI (``CI`` set), where their absence fails.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # runs the real programs as processes (make test-fast leaves it out)

ROOT = Path(__file__).resolve().parents[2]
MAIN = ROOT / "main.py"
TITLE = "Clinic Reception"
START_TIMEOUT_S = 240.0    # first start: initdb, migrations, the demo clinic
PAINT_TIMEOUT_S = 60.0
QUIT_TIMEOUT_S = 60.0
FIRST_RUN_DONE = "first run: "  # what the window logs when the demo clinic is in
MIN_WIDTH = 800            # the main window opens at 1280x820; the start-up note and message boxes are smaller

# Grabs the whole X screen with Qt's own xcb plugin (a process of its own: this test process runs
# offscreen) and prints the picture's size, number of distinct colours and the share of the
# commonest colour, sampling every 2nd pixel.
GRAB = r"""
import sys
from collections import Counter
from PySide6.QtGui import QGuiApplication
app = QGuiApplication(sys.argv[:1])
x, y, w, h = (int(v) for v in sys.argv[2:6])
image = app.primaryScreen().grabWindow(0, x, y, w, h).toImage()
if not image.save(sys.argv[1], "PNG"):
    sys.exit("could not write " + sys.argv[1])
colours = Counter(image.pixel(i, j) for j in range(0, image.height(), 2) for i in range(0, image.width(), 2))
total = sum(colours.values())
print(image.width(), image.height(), len(colours), max(colours.values()) / total if total else 1.0)
"""


def _tools() -> dict[str, str]:
    found = {name: shutil.which(name) for name in ("Xvfb", "xdotool")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        reason = f"needs {', '.join(missing)} (apt-get install xvfb xdotool)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the window test: {reason}")
        pytest.skip(reason)
    return {name: str(path) for name, path in found.items()}


@pytest.fixture
def xvfb() -> Iterator[str]:
    """A fresh Xvfb server; yields its DISPLAY (``":N"``, N chosen by Xvfb) and stops it after."""
    tools = _tools()
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen([tools["Xvfb"], "-displayfd", str(write_fd), "-screen", "0", "1600x1000x24",
                               "-nolisten", "tcp", "-noreset"],
                              pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              start_new_session=True)
    os.close(write_fd)
    try:
        ready, _, _ = select.select([read_fd], [], [], 30.0)
        number = os.read(read_fd, 64).decode().strip() if ready else ""
        if not number.isdigit():
            server.kill()
            _, err = server.communicate(timeout=10)
            pytest.fail(f"Xvfb did not start: {err.decode(errors='replace')[-2000:]}")
        yield f":{number}"
    finally:
        os.close(read_fd)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)


def _app_env(home: Path, display: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CLINIC_DATABASE_URL", None)
    env.update(
        DISPLAY=display,
        QT_QPA_PLATFORM="xcb",
        CLINIC_DATA_DIR=str(home / "data"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "share"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_RUNTIME_DIR=str(home / "runtime"),
    )
    (home / "runtime").mkdir(mode=0o700, parents=True, exist_ok=True)
    return env


def _xdotool(env: dict[str, str], *args: str, timeout: float = 15.0) -> str:
    done = subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    return done.stdout if done.returncode == 0 else ""


def _main_window(env: dict[str, str]) -> tuple[str, tuple[int, int, int, int]] | None:
    """The mapped window titled "Clinic Reception…" at least MIN_WIDTH wide: (id, (x, y, w, h))."""
    for window in _xdotool(env, "search", "--onlyvisible", "--name", TITLE).split():
        geometry = _xdotool(env, "getwindowgeometry", window)
        position = re.search(r"Position:\s*(-?\d+),(-?\d+)", geometry)
        size = re.search(r"Geometry:\s*(\d+)x(\d+)", geometry)
        if position and size and int(size.group(1)) >= MIN_WIDTH:
            x, y = max(0, int(position.group(1))), max(0, int(position.group(2)))
            return window, (x, y, int(size.group(1)), int(size.group(2)))
    return None


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(none)"


def _stop_leftover_postgres(data_dir: Path) -> None:
    """Stop the embedded server if the app could not (killed before its atexit handler ran)."""
    for pid_file in data_dir.glob("**/postmaster.pid"):
        try:
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGINT)  # PostgreSQL's fast shutdown
        except (OSError, ValueError, IndexError):
            continue
        deadline = time.monotonic() + 30
        while pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)


@pytest.mark.timeout(START_TIMEOUT_S + PAINT_TIMEOUT_S + QUIT_TIMEOUT_S + 120)
def test_the_window_opens_on_x11_shows_the_day_and_quits(xvfb: str, tmp_path: Path) -> None:
    env = _app_env(tmp_path, xvfb)
    shot = Path(os.environ.get("CLINIC_XVFB_SCREENSHOT") or tmp_path / "window.png")
    out_path = tmp_path / "app-output.txt"
    log_path = tmp_path / "state" / "ClinicReception" / "log" / "clinic.log"
    with out_path.open("wb") as out:
        app = subprocess.Popen([sys.executable, str(MAIN)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                               stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        def explain(what: str) -> str:
            return (f"{what}\n--- app output ---\n{_tail(out_path)}\n--- app log ---\n{_tail(log_path)}")

        found = None
        deadline = time.monotonic() + START_TIMEOUT_S
        while found is None and time.monotonic() < deadline:
            if app.poll() is not None:
                pytest.fail(explain(f"the app exited with {app.returncode} before its window opened"))
            found = _main_window(env)
            if found is None:
                time.sleep(0.5)
        if found is None:
            pytest.fail(explain(f"no main window mapped within {START_TIMEOUT_S:.0f} s"))
        window, geometry = found
        title = _xdotool(env, "getwindowname", window).strip()
        print(f"main window {window} {title!r} at {geometry}")

        # A fresh data directory: the window loads the demo clinic first (logged when done).
        deadline = time.monotonic() + START_TIMEOUT_S
        while FIRST_RUN_DONE not in _tail(log_path, 10**6) and time.monotonic() < deadline:
            if app.poll() is not None:
                pytest.fail(explain(f"the app exited with {app.returncode} while loading the demo clinic"))
            time.sleep(0.5)
        assert FIRST_RUN_DONE in _tail(log_path, 10**6), explain(
            f"the demo clinic was not loaded within {START_TIMEOUT_S:.0f} s")

        # Loaded is not yet painted: grab until two pictures in a row are the same and not blank.
        stats: list[str] = []
        previous = b""
        deadline = time.monotonic() + PAINT_TIMEOUT_S
        while time.monotonic() < deadline:
            grab = subprocess.run([sys.executable, "-c", GRAB, str(shot), *map(str, geometry)], env=env,
                                  capture_output=True, text=True, timeout=60, check=False)
            assert grab.returncode == 0, f"screenshot failed: {grab.stderr[-2000:]}"
            stats = grab.stdout.split()
            picture = shot.read_bytes()
            if picture == previous and int(stats[2]) >= 16 and float(stats[3]) < 0.97:
                break
            previous = picture
            time.sleep(1.0)
        width, height, colours, commonest = int(stats[0]), int(stats[1]), int(stats[2]), float(stats[3])
        assert (width, height) == geometry[2:], f"grabbed {width}x{height}, window is {geometry[2:]}"
        assert colours >= 16 and commonest < 0.97, explain(
            f"the window looks blank: {colours} colours, the commonest on {commonest:.1%} of it ({shot})")
        assert app.poll() is None, explain("the app exited while its window was shown")

        # Quit as a person would: focus the window, press Ctrl+Q.
        _xdotool(env, "windowfocus", "--sync", window)
        _xdotool(env, "key", "--clearmodifiers", "ctrl+q")
        try:
            code = app.wait(timeout=QUIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(explain(f"Ctrl+Q did not close the app within {QUIT_TIMEOUT_S:.0f} s"))
        assert code == 0, explain(f"the app quit with exit code {code}")
    finally:
        if app.poll() is None:
            os.killpg(app.pid, signal.SIGTERM)
            try:
                app.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(app.pid, signal.SIGKILL)
                app.wait(timeout=15)
        _stop_leftover_postgres(tmp_path / "data")


def test_without_a_display_main_says_so_instead_of_qt_aborting(tmp_path: Path) -> None:
    env = _app_env(tmp_path, "")
    env.pop("DISPLAY")
    env.pop("XDG_SESSION_TYPE", None)
    done = subprocess.run([sys.executable, str(MAIN)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    # 78: no display; 69: the xcb plugin's libraries are missing (checked first, with the apt-get line)
    assert done.returncode in (69, 78), (done.returncode, done.stderr[-2000:])
    assert "Clinic Reception cannot open its window" in done.stderr
    assert "Traceback" not in done.stderr and "core dumped" not in done.stderr
    if done.returncode == 69:
        assert "sudo apt-get install " in done.stderr
    else:
        assert "DISPLAY is not set" in done.stderr
