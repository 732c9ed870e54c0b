"""packaging/linux and assets/icons: the menu entry, the metainfo, the icons, install.sh.

The validators are the freedesktop.org ones (desktop-file-validate from
desktop-file-utils, appstreamcli from appstream; .ci/debian-packages-extra.txt installs
both in CI). A test that needs one is skipped, saying so, only where it is not installed.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # one test renders the SVG with Qt

import pytest
from PIL import Image

import convscope
from convscope.resources import assets_dir

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "packaging" / "linux"
ICONS = assets_dir() / "icons"
APP_ID = "io.github.convscope.ConvScope"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
INSTALL = LINUX / "install.sh"
PNG_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="install.sh is for Linux desktops"
)


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (Debian package {package}, in .ci/debian-packages-extra.txt)")
    return path


def _desktop_entry(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser


def _project_version() -> str:
    version = getattr(convscope, "__version__", None)
    if version:
        return str(version)
    match = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M)
    assert match, "no version in pyproject.toml or convscope.__version__"
    return match.group(1)


# ------------------------------------------------------------------ validators
def test_the_desktop_file_passes_desktop_file_validate() -> None:
    tool = _tool("desktop-file-validate", "desktop-file-utils")
    result = subprocess.run([tool, str(DESKTOP)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    # Hints (two main categories, Education and Science, on purpose) are allowed; nothing worse.
    complaints = [line for line in result.stdout.splitlines() if ": hint: " not in line]
    assert complaints == []


def test_the_metainfo_passes_appstreamcli_validate() -> None:
    tool = _tool("appstreamcli", "appstream")
    result = subprocess.run(
        [tool, "validate", "--no-net", str(METAINFO)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Errors fail above; no warnings either (a pedantic note on the id's capitals is fine).
    assert not re.search(r"^[EW]: ", result.stdout, re.M), result.stdout


# ------------------------------------------------------------------ one id everywhere
def test_the_id_and_icon_name_agree_across_the_files() -> None:
    entry = _desktop_entry(DESKTOP)["Desktop Entry"]
    assert entry["Icon"] == APP_ID
    assert entry["Exec"].split()[0] == entry["TryExec"] == "convscope"

    meta = ET.parse(METAINFO).getroot()
    assert meta.findtext("id") == APP_ID
    assert meta.findtext("launchable[@type='desktop-id']") == DESKTOP.name
    assert [b.text for b in meta.findall("provides/binary")] == ["convscope"]
    assert meta.findtext("name") == entry["Name"] == "ConvScope"
    assert meta.findtext("summary") == entry["Comment"]
    releases = [r.get("version") for r in meta.findall("releases/release")]
    assert releases and releases[0] == _project_version()
    assert meta.find("screenshots/screenshot[@type='default']") is not None
    assert meta.find("content_rating") is not None

    script = INSTALL.read_text()
    assert f"\nAPP_ID={APP_ID}\n" in script
    # `convscope` is the console script the wheel installs.
    assert re.search(r'^convscope\s*=\s*"convscope\.cli:main"', (ROOT / "pyproject.toml").read_text(), re.M)
    # The app names itself the same (its Wayland app id), see tests/ui/test_app_icon.py.
    source = (ROOT / "convscope" / "ui" / "app_icon.py").read_text()
    assert f'APP_ID = "{APP_ID}"' in source


def test_the_screenshots_named_in_the_metainfo_are_in_docs() -> None:
    meta = ET.parse(METAINFO).getroot()
    for image in meta.findall("screenshots/screenshot/image"):
        name = image.text.rsplit("/docs/", 1)[1]
        with Image.open(ROOT / "docs" / name) as shot:
            assert shot.size == (int(image.get("width")), int(image.get("height"))), name


# ------------------------------------------------------------------ icons
@pytest.mark.parametrize("size", PNG_SIZES)
def test_every_png_size_exists_at_its_size(size: int) -> None:
    with Image.open(ICONS / f"convscope-{size}.png") as image:
        assert image.format == "PNG"
        assert image.size == (size, size)
        rgba = image.convert("RGBA")
    # The rounded tile: transparent corners, an opaque middle.
    assert rgba.getpixel((0, 0))[3] < 64
    assert rgba.getpixel((size // 2, size // 2))[3] == 255


def test_the_svg_master_is_square_and_the_ico_and_icns_hold_their_sizes() -> None:
    svg = ET.parse(ICONS / "convscope.svg").getroot()
    assert svg.tag == "{http://www.w3.org/2000/svg}svg"
    assert svg.get("viewBox") == "0 0 256 256"
    with Image.open(ICONS / "convscope.ico") as ico:
        assert {16, 32, 48, 256} <= {w for w, h in ico.info["sizes"]}
    with Image.open(ICONS / "convscope.icns") as icns:
        assert {16, 32, 128, 256, 512} <= {w for w, h, _scale in icns.info["sizes"]}
    assert (ICONS / "PROVENANCE.md").is_file()


@pytest.mark.gui
@pytest.mark.parametrize("size", [16, 48, 256])
def test_the_pngs_are_the_svg_as_render_icons_draws_it(qapp, size: int) -> None:
    # A PNG left stale after an edit of the SVG fails here; Qt versions antialias a little
    # differently, hence a tolerance rather than equal bytes.
    import importlib.util
    import io

    import numpy as np

    spec = importlib.util.spec_from_file_location(
        "render_icons", ROOT / "packaging" / "icons" / "render_icons.py"
    )
    assert spec and spec.loader
    render_icons = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render_icons)
    fresh = np.asarray(
        Image.open(io.BytesIO(render_icons.render_png(ICONS / "convscope.svg", size))).convert("RGBA")
    )
    with Image.open(ICONS / f"convscope-{size}.png") as committed:
        kept = np.asarray(committed.convert("RGBA"))
    difference = np.abs(fresh.astype(int) - kept.astype(int))
    changed = (difference.max(axis=-1) > 48).mean()  # the fraction of pixels that differ visibly
    assert changed < 0.005, f"{changed:.1%} of the pixels differ: run packaging/icons/render_icons.py"


# ------------------------------------------------------------------ install.sh
def _fake_convscope(folder: Path) -> Path:
    folder.mkdir(parents=True)
    binary = folder / "convscope"
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(binary.stat().st_mode | stat.S_IXUSR)
    return binary


def _run_install(
    data_home: Path, *args: str, path: str = "/usr/bin:/bin"
) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": path,
        "HOME": str(data_home.parent / "home"),
        "XDG_DATA_HOME": str(data_home),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, env=env, timeout=60)


def _expected_files(data_home: Path) -> dict[Path, Path]:
    """Where install.sh puts each file (the spec's places) → the file it comes from."""
    icons = data_home / "icons" / "hicolor"
    files = {
        data_home / "metainfo" / METAINFO.name: METAINFO,
        icons / "scalable" / "apps" / f"{APP_ID}.svg": ICONS / "convscope.svg",
    }
    for size in PNG_SIZES:
        files[icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png"] = ICONS / f"convscope-{size}.png"
    return files


@linux_only
def test_install_sh_installs_into_xdg_data_home_and_uninstalls(tmp_path: Path) -> None:
    data_home = tmp_path / "data home"
    binary = _fake_convscope(tmp_path / "a venv" / "bin")  # a space: Exec must quote it
    result = _run_install(data_home, "--exec", str(binary))
    assert result.returncode == 0, result.stderr
    for target, source in _expected_files(data_home).items():
        assert target.read_bytes() == source.read_bytes(), target
    desktop = data_home / "applications" / DESKTOP.name
    entry = _desktop_entry(desktop)
    assert entry["Desktop Entry"]["Exec"] == f'"{binary}"'
    assert entry["Desktop Entry"]["TryExec"] == str(binary)
    assert entry["Desktop Action colours"]["Exec"] == f'"{binary}" --data builtin:colors'
    assert entry["Desktop Entry"]["Icon"] == APP_ID
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(
            ["desktop-file-validate", str(desktop)], capture_output=True, text=True, timeout=30
        )
        assert check.returncode == 0, check.stdout

    result = _run_install(data_home, "--uninstall")
    assert result.returncode == 0, result.stderr
    assert not desktop.exists()
    assert not any(target.exists() for target in _expected_files(data_home))


@linux_only
def test_install_sh_uses_convscope_on_path_and_refuses_without_one(tmp_path: Path) -> None:
    data_home = tmp_path / "share"
    refused = _run_install(data_home)
    assert refused.returncode == 1
    assert "convscope is not on PATH" in refused.stderr and "--exec" in refused.stderr
    assert not data_home.exists()  # nothing installed

    binary = _fake_convscope(tmp_path / "bin")
    result = _run_install(data_home, path=f"{binary.parent}:/usr/bin:/bin")
    assert result.returncode == 0, result.stderr
    entry = _desktop_entry(data_home / "applications" / DESKTOP.name)["Desktop Entry"]
    assert entry["Exec"] == entry["TryExec"] == "convscope"


@linux_only
def test_install_sh_refuses_bad_arguments(tmp_path: Path) -> None:
    for args in (["--exec", str(tmp_path / "missing")], ["--frobnicate"], ["--exec"]):
        result = _run_install(tmp_path / "share", *args)
        assert result.returncode == 2, args
        assert result.stderr.startswith("install.sh: ") and result.stderr.count("\n") == 1, result.stderr
    odd = _fake_convscope(tmp_path / "cost$5")  # $ would be expanded in Exec
    result = _run_install(tmp_path / "share", "--exec", str(odd))
    assert result.returncode == 2 and "may not hold" in result.stderr
    assert not (tmp_path / "share").exists()


@linux_only
def test_the_installed_tree_passes_appstreamcli_validate_tree(tmp_path: Path) -> None:
    tool = _tool("appstreamcli", "appstream")
    binary = _fake_convscope(tmp_path / "bin")
    assert _run_install(tmp_path / "root" / "usr" / "share", "--exec", str(binary)).returncode == 0
    result = subprocess.run(
        [tool, "validate-tree", "--no-net", str(tmp_path / "root")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert os.path.basename(str(METAINFO)) in result.stdout
