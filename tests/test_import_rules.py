"""The module boundaries of shared/DESIGN.md, checked on the source: Qt only in ui/,
JAX only in model/, train/ and probes/, and NumPy-only cores everywhere else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "convscope"
QT = {"PySide6", "pyqtgraph", "superqt", "shiboken6"}
JAX = {"jax", "jaxlib", "optax"}
# Third-party packages a module may import, by where it lives (stdlib is always allowed).
ALLOWED = {
    "ui": QT | JAX | {"numpy", "PIL"},  # ui may call probes, which bring jax
    "model": JAX | {"numpy"},
    "train": JAX | {"numpy"},
    "probes": JAX | {"numpy"},
    "data": {"numpy", "PIL"},
    "viz": {"numpy"},
    "": {"numpy"},  # config.py, shapes.py, events.py, __init__.py, __main__.py
    "cli": {"numpy", "PIL"},
    "runs": {"numpy", "tensorboardX"},  # no JAX at import: listing runs must be fast
}
THIRD_PARTY = QT | JAX | {"numpy", "PIL", "scipy", "matplotlib", "torch", "tensorboardX", "tensorboard"}


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def top_level_imports(path: Path) -> set[str]:
    """Third-party packages imported at module level (function-local imports are lazy
    and allowed: cli.py starts the GUI that way)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Import):
                    names |= {a.name.split(".")[0] for a in sub.names}
                elif isinstance(sub, ast.ImportFrom) and sub.module and sub.level == 0:
                    names.add(sub.module.split(".")[0])
    return names & THIRD_PARTY


def area(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    if rel.name == "cli.py":
        return "cli"
    return rel.parts[0] if len(rel.parts) > 1 else ""


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_module_imports_only_what_its_layer_may(path):
    bad = top_level_imports(path) - ALLOWED[area(path)]
    assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}, not allowed in '{area(path) or 'top'}'"


def test_the_rule_checker_catches_a_violation(tmp_path):
    fake = tmp_path / "viz_mod.py"
    fake.write_text("import numpy as np\nfrom PySide6.QtCore import QObject\nimport jax.numpy as jnp\n")
    assert top_level_imports(fake) == {"numpy", "PySide6", "jax"}


def convscope_imports(path: Path) -> set[str]:
    """``convscope.*`` modules imported anywhere in ``path`` (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names if a.name.startswith("convscope.")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("convscope"):
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


@pytest.mark.parametrize("path", sorted((PACKAGE / "probes").rglob("*.py")), ids=lambda p: p.name)
def test_probes_never_reach_into_the_gui(path):
    """The probe jobs run without Qt (tests, the command line): nothing in probes/
    imports convscope.ui, even lazily (ui's modules bring PySide6)."""
    bad = sorted(n for n in convscope_imports(path) if n.startswith("convscope.ui."))
    assert not bad, f"probes/{path.name} imports {bad}"


def test_the_probe_jobs_load_without_qt():
    """Importing every job module (and its numeric core) loads no Qt module."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import convscope.probes.deepvis_job, convscope.probes.landscape_job, convscope.probes.evaluate_job\n"
        "import convscope.probes.saliency_job, convscope.probes.jobs\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'PySide6', 'pyqtgraph', 'shiboken6'}"
        " or m.startswith('convscope.ui'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_command_lines_help_and_runs_listing_load_no_jax(tmp_path):
    """``convscope --help`` and ``convscope runs`` answer in ~0.1 s: building the parser of
    every subcommand and listing runs import no JAX (0.35 s; the invariance parser's list
    of transformations had pulled it in)."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from convscope import cli\n"
        "cli._parser()\n"
        f"assert cli.main(['runs', {str(tmp_path)!r}]) == 0\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in {'jax', 'jaxlib', 'PySide6'})\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
