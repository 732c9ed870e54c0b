"""The wheel and the sdist carry the top-level ``assets/`` and one version number.

The package is built as a user's ``python -m build`` builds it (the sdist first, then
the wheel from the unpacked sdist, so an sdist without ``assets/`` gives a wheel without
them), but with ``--no-isolation`` (this venv's setuptools, offline) from a copy of the
source, so that nothing lands in the checkout. The wheel is then installed with
``pip --target`` into a folder of its own and imported from another folder: the copy
of ConvScope found there must be the installed one, and it must open the built-in
digits and the sample photos from inside the package.
"""

from __future__ import annotations

import email.parser
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import convscope

REPO = Path(__file__).resolve().parents[1]
# What the sdist is built from (pyproject.toml, setup.py and MANIFEST.in say the rest).
SOURCE_ITEMS = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "CHANGELOG.md", "convscope", "assets")


def _assets_files() -> list[str]:
    """Every file of the top-level assets/, relative to it ('mnist-5k/PROVENANCE.md', …)."""
    root = REPO / "assets"
    return sorted(
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and not p.name.startswith(".")
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("wheel-build")
    src = work / "src"
    src.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCE_ITEMS:
        item = REPO / name
        if not item.exists():
            continue
        if item.is_dir():
            shutil.copytree(item, src / name, ignore=ignore)
        else:
            shutil.copy2(item, src / name)
    dist = work / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    wheels = list(dist.glob("convscope-*.whl"))
    sdists = list(dist.glob("convscope-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    return {"work": work, "wheel": wheels[0], "sdist": sdists[0]}


def test_wheel_and_sdist_carry_every_asset(built: dict[str, Path]) -> None:
    expected = _assets_files()
    # The files the issue names, so that an emptied assets/ cannot pass.
    for must in ("mnist-5k/PROVENANCE.md", "images/PROVENANCE.md", "mnist-5k/train-images-idx3-ubyte.gz"):
        assert must in expected
    assert sum(name.startswith("mnist-5k/") and name.endswith(".gz") for name in expected) == 4
    assert sum(name.startswith("images/") and name.endswith(".png") for name in expected) >= 3

    with zipfile.ZipFile(built["wheel"]) as whl:
        names = set(whl.namelist())
        for rel in expected:
            assert f"convscope/assets/{rel}" in names, f"the wheel lacks convscope/assets/{rel}"
            data = whl.read(f"convscope/assets/{rel}")
            assert data == (REPO / "assets" / rel).read_bytes(), rel
    assert not any(n.startswith("assets/") for n in names), "assets belong inside the package"

    with tarfile.open(built["sdist"]) as sdist:
        top = sdist.getnames()[0].split("/")[0]
        names = set(sdist.getnames())
    for rel in expected:
        assert f"{top}/assets/{rel}" in names, f"the sdist lacks assets/{rel}"
    # Built outside the checkout: no copy of the assets inside the checkout's package.
    assert not (REPO / "convscope" / "assets").exists()


def test_one_version_number(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as whl:
        meta_name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.parser.Parser().parsestr(whl.read(meta_name).decode())
    assert meta["Version"] == convscope.__version__
    assert built["wheel"].name.startswith(f"convscope-{convscope.__version__}-py3-none-any")
    assert built["sdist"].name == f"convscope-{convscope.__version__}.tar.gz"
    # pyproject.toml takes it from convscope/__init__.py and holds no second copy.
    assert "\nversion =" not in (REPO / "pyproject.toml").read_text().split("[project.optional-dependencies]")[0]


def test_installed_wheel_is_used_from_another_folder(built: dict[str, Path]) -> None:
    target = built["work"] / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--no-compile",
         "--disable-pip-version-check", "--target", str(target), str(built["wheel"])],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    elsewhere = built["work"] / "elsewhere"
    elsewhere.mkdir()
    script = (
        "import json, sys\n"
        "import convscope, convscope.resources as r\n"
        "from convscope.data import load_dataset\n"
        "d = load_dataset('builtin:mnist')\n"
        "print(json.dumps({'file': convscope.__file__, 'assets': str(r.assets_dir()),\n"
        "  'samples': [p.name for p in r.sample_images()], 'shape': list(d.image_shape),\n"
        "  'classes': int(d.num_classes), 'train': int(len(d.y_train)), 'val': int(len(d.y_val))}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target), "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    info = json.loads(proc.stdout.strip().splitlines()[-1])
    assert Path(info["file"]).resolve().is_relative_to(target.resolve()), info["file"]
    assert Path(info["assets"]).resolve() == (target / "convscope" / "assets").resolve()
    assert info["samples"] == sorted(p.name for p in (REPO / "assets" / "images").glob("*.png"))
    assert (info["shape"], info["classes"], info["train"], info["val"]) == ([28, 28, 1], 10, 4000, 1000)

    version = subprocess.run([sys.executable, "-m", "convscope", "--version"], cwd=elsewhere, env=env,
                             capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout.strip()) == (0, f"convscope {convscope.__version__}")
