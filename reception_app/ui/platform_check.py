"""Can Qt open a window here? A check that runs before ``QApplication`` exists.

On Linux, Qt's ``xcb`` platform plugin (``PySide6/Qt/plugins/platforms/libqxcb.so``)
links against a dozen X11 libraries that a fresh Debian/Ubuntu desktop does not
all have (Qt 6.5+ needs ``libxcb-cursor0``, and ``libxcb-icccm4``,
``libxcb-keysyms1`` … are often missing). Without them Qt prints "could not load
the Qt platform plugin xcb" and aborts the process (SIGABRT, a core dump). This
module runs ``ldd`` on the plugin, maps each library reported ``not found`` to
the Debian package that ships it, and lets ``main.py`` stop with the exact
``sudo apt-get install …`` line instead.

This module imports no Qt: it finds PySide6's files without loading them.
``python -m reception_app.ui.platform_check`` runs the check alone (exit 0: fine
or not applicable; 69: libraries missing; 78: no display).
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: Exit code when the window cannot start for a missing system library (sysexits' EX_UNAVAILABLE).
EXIT_MISSING_LIBRARIES = 69
#: Exit code when there is no display to open a window on (sysexits' EX_CONFIG).
EXIT_NO_DISPLAY = 78

#: The shared libraries Qt's xcb plugin (and the Qt libraries it loads) links against, by soname,
#: with the Debian/Ubuntu package that ships each one. Names of Debian 12; on Debian 13 and
#: Ubuntu 24.04 the 64-bit-time renames (``libglib2.0-0t64``, ``libpng16-16t64``) provide these names.
SONAME_PACKAGES: dict[str, str] = {
    # the ones Qt 6.5+ needs that a desktop install often lacks
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    # what every Qt GUI needs (also offscreen)
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    # the rest of X11 and xcb
    "libxcb.so.1": "libxcb1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libXau.so.6": "libxau6",
    "libXdmcp.so.6": "libxdmcp6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    # general libraries they pull in
    "libz.so.1": "zlib1g",
    "libpng16.so.16": "libpng16-16",
    "libexpat.so.1": "libexpat1",
    "libzstd.so.1": "libzstd1",
    "libbsd.so.0": "libbsd0",
    "libmd.so.0": "libmd0",
    "libpcre2-8.so.0": "libpcre2-8-0",
    "libbrotlidec.so.1": "libbrotli1",
    "libbrotlicommon.so.1": "libbrotli1",
    "libsystemd.so.0": "libsystemd0",
}

#: What ``sudo apt-get install`` gets for a window on a fresh Debian/Ubuntu machine (the README's line).
ALL_PACKAGES: tuple[str, ...] = (
    "libxcb-cursor0", "libxkbcommon-x11-0", "libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1",
    "libxcb-randr0", "libxcb-render-util0", "libxcb-shape0", "libxcb-xinerama0", "libxcb-xkb1",
    "libegl1", "libgl1", "libxkbcommon0", "libfontconfig1", "libdbus-1-3",
)

_NOT_FOUND = re.compile(r"^\s*(\S+)\s*=>\s*not found\s*$")


@dataclass(frozen=True)
class MissingLibraries:
    """The outcome of a failed check: ``sonames`` reported missing by ``ldd`` (in its order, each
    once), the Debian ``packages`` that ship them (sorted, each once), and ``unknown``: sonames no
    package is known for (also listed in ``sonames``)."""

    sonames: tuple[str, ...]
    packages: tuple[str, ...]
    unknown: tuple[str, ...]

    def install_command(self) -> str:
        """The line to run: ``"sudo apt-get install libxcb-icccm4 libxcb-keysyms1"``; ``""`` when no
        package is known for any missing library."""
        return f"sudo apt-get install {' '.join(self.packages)}" if self.packages else ""

    def message(self) -> str:
        """What a person reads: which libraries are missing, the ``apt-get`` line, and what else to try."""
        lines = [
            "Clinic Reception cannot open its window: Qt's xcb platform plugin needs system "
            "libraries that are not installed:",
            f"  {', '.join(self.sonames)}",
        ]
        if self.packages:
            lines += ["On Debian or Ubuntu install them with:", f"  {self.install_command()}"]
        if self.unknown:
            lines.append(f"No package is known for {', '.join(self.unknown)}: your distribution's "
                         "package search (apt-file search, dnf provides) finds it.")
        lines.append("Then start it again. (Without a screen: QT_QPA_PLATFORM=offscreen.)")
        return "\n".join(lines)


def missing_sonames(ldd_output: str) -> tuple[str, ...]:
    """The sonames ``ldd`` reported as ``not found``, each once, in the order first seen.

    ``ldd_output`` is ``ldd``'s standard output (lines such as
    ``"\\tlibxcb-icccm.so.4 => not found"``); other lines are ignored."""
    seen: dict[str, None] = {}
    for line in ldd_output.splitlines():
        match = _NOT_FOUND.match(line)
        if match:
            seen.setdefault(match.group(1), None)
    return tuple(seen)


def packages_for(sonames: Iterable[str],
                 table: Mapping[str, str] = SONAME_PACKAGES) -> MissingLibraries | None:
    """Map missing sonames to Debian packages; ``None`` when ``sonames`` is empty (nothing missing)."""
    names = tuple(dict.fromkeys(sonames))
    if not names:
        return None
    packages = sorted({table[name] for name in names if name in table})
    unknown = tuple(name for name in names if name not in table)
    return MissingLibraries(sonames=names, packages=tuple(packages), unknown=unknown)


def xcb_plugin_path() -> Path | None:
    """``…/PySide6/Qt/plugins/platforms/libqxcb.so`` of the installed PySide6 (without importing
    it), or ``None`` when PySide6 or the plugin is not there."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        plugin = Path(location) / "Qt" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.is_file():
            return plugin
    return None


def uses_xcb(environ: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will load the xcb plugin first: on Linux, with ``QT_QPA_PLATFORM`` unset (outside
    a Wayland session) or naming ``xcb`` first (``"xcb"``, ``"xcb:option"``, ``"xcb;wayland"``).
    ``offscreen``, ``wayland`` or ``minimal`` need none of the X11 libraries."""
    if not platform.startswith("linux"):
        return False
    requested = environ.get("QT_QPA_PLATFORM", "").strip()
    if not requested:
        return environ.get("XDG_SESSION_TYPE", "").lower() != "wayland"
    first = requested.split(";", 1)[0].split(":", 1)[0].strip().lower()
    return first == "xcb"


def run_ldd(library: Path, timeout: float = 30.0) -> str | None:
    """``ldd library``'s standard output, or ``None`` when ``ldd`` is missing, fails or hangs
    (then nothing can be said and Qt is left to try)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return None
    try:
        done = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=timeout,
                              check=False, errors="replace")
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def check_xcb(environ: Mapping[str, str] | None = None) -> MissingLibraries | None:
    """The missing libraries of the xcb plugin, or ``None`` when nothing is missing or the check
    does not apply (not Linux, another platform plugin requested, PySide6's plugin or ``ldd`` absent)."""
    environ = os.environ if environ is None else environ
    if not uses_xcb(environ):
        return None
    plugin = xcb_plugin_path()
    if plugin is None:
        return None
    output = run_ldd(plugin)
    if output is None:
        return None
    return packages_for(missing_sonames(output))


def no_display_message(environ: Mapping[str, str]) -> str | None:
    """A sentence when the xcb plugin would have no X display to connect to (``DISPLAY`` unset),
    else ``None``."""
    if not uses_xcb(environ) or environ.get("DISPLAY"):
        return None
    return ("Clinic Reception cannot open its window: there is no display (DISPLAY is not set). "
            "Start it from a desktop session, or with QT_QPA_PLATFORM=offscreen to run without a screen.")


def exit_if_window_cannot_start(environ: Mapping[str, str] | None = None) -> None:
    """Stop the process with a clear message on standard error when Qt could not open a window:
    exit ``EXIT_MISSING_LIBRARIES`` (69) for missing libraries, ``EXIT_NO_DISPLAY`` (78) for no
    display. Returns normally when the window can start or the check does not apply."""
    environ = os.environ if environ is None else environ
    missing = check_xcb(environ)
    if missing is not None:
        print(missing.message(), file=sys.stderr)
        raise SystemExit(EXIT_MISSING_LIBRARIES)
    no_display = no_display_message(environ)
    if no_display is not None:
        print(no_display, file=sys.stderr)
        raise SystemExit(EXIT_NO_DISPLAY)


if __name__ == "__main__":
    exit_if_window_cannot_start()
