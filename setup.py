"""Puts the top-level ``assets/`` into the built package as ``convscope/assets``.

``assets/`` (the built-in digits, the sample photos, the icons) is the one source of
ConvScope's own files; a checkout finds it beside the package (convscope/resources.py).
A wheel has no "beside", so building the package copies the whole folder, whatever it
holds, into the build tree, never into the checkout. MANIFEST.in puts ``assets/`` into
the sdist, so that a wheel built from the sdist carries it too. Everything else is in
pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:  # an editable install reads the checkout's assets/ in place
            return
        if not ASSETS.is_dir():
            raise SystemExit(f"setup.py: {ASSETS} is missing; the package needs its assets")
        target = Path(self.build_lib) / "convscope" / "assets"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(ASSETS, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".*"))


setup(cmdclass={"build_py": BuildPyWithAssets})
