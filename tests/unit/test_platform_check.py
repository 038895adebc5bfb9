"""The pre-Qt check of ``ui.platform_check``: ldd output → missing sonames → Debian packages → the
``apt-get`` line, when the check applies, and ``ldd`` itself on a real library with a missing
dependency (built here with the C compiler)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from reception_app.ui import platform_check as pc

# ldd of PySide6 6.11's libqxcb.so on a Debian 12 machine without libxcb-icccm4 and libxcb-keysyms1
# (abridged; the missing ones appear twice, once per library that needs them).
LDD_DEBIAN12 = """\
\tlinux-vdso.so.1 (0x00007f1d8bd95000)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/plugins/platforms/../../lib/libQt6XcbQpa.so.6 (0x00007f1d8bcc7000)
\tlibGL.so.1 => /lib/x86_64-linux-gnu/libGL.so.1 (0x00007f1d8bc37000)
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f1d8bbe4000)
\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f1d8bbdd000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-util.so.1 => /lib/x86_64-linux-gnu/libxcb-util.so.1 (0x00007f1d8bbd5000)
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-randr.so.0 => /lib/x86_64-linux-gnu/libxcb-randr.so.0 (0x00007f1d8bbbc000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1d89e1e000)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\t/lib64/ld-linux-x86-64.so.2 (0x00007f1d8bd97000)
"""

# What a fresh Ubuntu desktop lacks for Qt 6.5+ (the issue's list).
FRESH_DESKTOP = [
    ("libxcb-cursor.so.0", "libxcb-cursor0"),
    ("libxkbcommon-x11.so.0", "libxkbcommon-x11-0"),
    ("libxcb-icccm.so.4", "libxcb-icccm4"),
    ("libxcb-image.so.0", "libxcb-image0"),
    ("libxcb-keysyms.so.1", "libxcb-keysyms1"),
    ("libxcb-randr.so.0", "libxcb-randr0"),
    ("libxcb-render-util.so.0", "libxcb-render-util0"),
    ("libxcb-shape.so.0", "libxcb-shape0"),
    ("libxcb-xinerama.so.0", "libxcb-xinerama0"),
    ("libxcb-xkb.so.1", "libxcb-xkb1"),
    ("libEGL.so.1", "libegl1"),
    ("libGL.so.1", "libgl1"),
    ("libxkbcommon.so.0", "libxkbcommon0"),
    ("libfontconfig.so.1", "libfontconfig1"),
    ("libdbus-1.so.3", "libdbus-1-3"),
]


def test_missing_sonames_are_read_once_each_in_order() -> None:
    assert pc.missing_sonames(LDD_DEBIAN12) == ("libxcb-icccm.so.4", "libxcb-keysyms.so.1")


def test_nothing_missing_means_no_problem() -> None:
    complete = "\n".join(line for line in LDD_DEBIAN12.splitlines() if "not found" not in line)
    assert pc.missing_sonames(complete) == ()
    assert pc.packages_for(pc.missing_sonames(complete)) is None
    assert pc.missing_sonames("") == ()


def test_ldd_output_maps_to_the_apt_get_line() -> None:
    missing = pc.packages_for(pc.missing_sonames(LDD_DEBIAN12))
    assert missing is not None
    assert missing.packages == ("libxcb-icccm4", "libxcb-keysyms1")
    assert missing.unknown == ()
    assert missing.install_command() == "sudo apt-get install libxcb-icccm4 libxcb-keysyms1"
    text = missing.message()
    assert "libxcb-icccm.so.4, libxcb-keysyms.so.1" in text
    assert "  sudo apt-get install libxcb-icccm4 libxcb-keysyms1" in text.splitlines()


@pytest.mark.parametrize(("soname", "package"), FRESH_DESKTOP)
def test_each_library_of_the_issue_maps_to_its_package(soname: str, package: str) -> None:
    ldd = f"\t{soname} => not found\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x1)\n"
    missing = pc.packages_for(pc.missing_sonames(ldd))
    assert missing is not None and missing.packages == (package,)


def test_the_readme_list_is_every_package_of_the_issue() -> None:
    assert set(pc.ALL_PACKAGES) == {package for _, package in FRESH_DESKTOP}


def test_libraries_of_one_package_name_it_once() -> None:
    ldd = "\tlibglib-2.0.so.0 => not found\n\tlibgthread-2.0.so.0 => not found\n"
    missing = pc.packages_for(pc.missing_sonames(ldd))
    assert missing is not None and missing.packages == ("libglib2.0-0",)


def test_an_unknown_library_is_named_with_where_to_look() -> None:
    ldd = "\tlibxcb-icccm.so.4 => not found\n\tlibfrobnicate.so.3 => not found\n"
    missing = pc.packages_for(pc.missing_sonames(ldd))
    assert missing is not None
    assert missing.packages == ("libxcb-icccm4",)
    assert missing.unknown == ("libfrobnicate.so.3",)
    assert "No package is known for libfrobnicate.so.3" in missing.message()
    only_unknown = pc.packages_for(["libfrobnicate.so.3"])
    assert only_unknown is not None and only_unknown.install_command() == ""
    assert "apt-get" not in only_unknown.message()


@pytest.mark.parametrize(("environ", "platform", "expected"), [
    ({}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb:no_shm"}, "linux", True),
    ({"QT_QPA_PLATFORM": "xcb;wayland"}, "linux", True),
    ({"QT_QPA_PLATFORM": " XCB "}, "linux", True),
    ({"QT_QPA_PLATFORM": "offscreen"}, "linux", False),
    ({"QT_QPA_PLATFORM": "minimal"}, "linux", False),
    ({"QT_QPA_PLATFORM": "wayland;xcb"}, "linux", False),
    ({"XDG_SESSION_TYPE": "wayland"}, "linux", False),
    ({"XDG_SESSION_TYPE": "x11"}, "linux", True),
    ({}, "darwin", False),
    ({}, "win32", False),
    ({"QT_QPA_PLATFORM": "xcb"}, "darwin", False),
])
def test_the_check_applies_only_where_qt_loads_xcb(environ: dict[str, str], platform: str,
                                                   expected: bool) -> None:
    assert pc.uses_xcb(environ, platform) is expected


def test_no_check_for_offscreen_even_with_libraries_missing() -> None:
    assert pc.check_xcb({"QT_QPA_PLATFORM": "offscreen"}) is None
    pc.exit_if_window_cannot_start({"QT_QPA_PLATFORM": "offscreen"})  # returns, no SystemExit


def test_no_display_stops_with_its_own_message() -> None:
    assert pc.no_display_message({"QT_QPA_PLATFORM": "xcb", "DISPLAY": ":0"}) is None
    assert pc.no_display_message({"QT_QPA_PLATFORM": "offscreen"}) is None
    text = pc.no_display_message({"QT_QPA_PLATFORM": "xcb"})
    assert text is not None and "DISPLAY is not set" in text


def test_the_plugin_of_the_installed_pyside6_is_found() -> None:
    plugin = pc.xcb_plugin_path()
    assert plugin is not None
    assert plugin.name == "libqxcb.so" and plugin.parent.name == "platforms" and plugin.is_file()


@pytest.mark.skipif(shutil.which("cc") is None or shutil.which("ldd") is None,
                    reason="needs a C compiler and ldd")
def test_ldd_of_a_real_library_reports_the_dependency_that_is_gone(tmp_path: Path) -> None:
    """Build libneeded.so.7 and libplugin.so linked against it, delete libneeded: ldd says
    ``not found`` and the check names the soname (unknown to the Debian table)."""
    (tmp_path / "needed.c").write_text("int needed(void) { return 7; }\n")
    (tmp_path / "plugin.c").write_text("int needed(void);\nint plugin(void) { return needed(); }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-soname,libneeded.so.7", "-o", "libneeded.so.7",
                    "needed.c"], cwd=tmp_path, check=True, timeout=60)
    subprocess.run(["cc", "-shared", "-fPIC", "-Wl,-rpath,$ORIGIN", "-o", "libplugin.so", "plugin.c",
                    "./libneeded.so.7"],
                   cwd=tmp_path, check=True, timeout=60)
    present = pc.run_ldd(tmp_path / "libplugin.so")
    assert present is not None and "libneeded.so.7" in present
    (tmp_path / "libneeded.so.7").unlink()
    gone = pc.run_ldd(tmp_path / "libplugin.so")
    assert gone is not None
    missing = pc.packages_for(pc.missing_sonames(gone))
    assert missing is not None and missing.sonames == ("libneeded.so.7",)
    assert missing.unknown == ("libneeded.so.7",) and missing.packages == ()


def test_ldd_of_something_that_is_not_a_library_says_nothing(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not an ELF file\n")
    assert pc.run_ldd(text) is None


def test_the_readme_install_line_is_the_same_list() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("sudo apt-get install ", 1)[1].split("```", 1)[0]
    assert block.replace("\\", " ").split() == list(pc.ALL_PACKAGES)
