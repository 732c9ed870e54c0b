"""What every test process shares: no test reads or writes the user's own settings or runs.

The app keeps its window layout in ``$XDG_CONFIG_HOME/ConvScope/ConvScope.ini``. Tests
that start the real app in a process of its own (exit time, switch stress) inherit
this process's environment, so pointing ``XDG_CONFIG_HOME`` at a fresh folder here,
before Qt reads it, keeps them off the developer's ``~/.config``. Runs go under
``$XDG_DATA_HOME/ConvScope/runs`` by default: ``XDG_DATA_HOME`` gets a fresh folder too,
and ``CONVSCOPE_RUNS`` is unset.

JAX's persistent compilation cache (convscope/train/compile_cache.py) is the checkout's
``.test-cache/jax``, shared by every test process (the xdist workers and the app processes
tests start inherit ``CONVSCOPE_COMPILE_CACHE`` from the process that chose it) and kept
from one run to the next, never the user's: the many tests that compile the same tiny
models read the compiled programs back instead of compiling them again — within a run,
and in every run after the first (entries are keyed by the program, jaxlib and its
flags, so an entry is never stale; the folder is bounded like the app's and may be
deleted at any time). It is locked, so no process reads a half-written entry.
``CONVSCOPE_TEST_COMPILE_CACHE=fresh`` gives the run a folder of its own, removed at the
end (a first run's compiles, as on a fresh machine); ``=off`` runs without a cache;
a path uses that folder.

Python's bytecode is kept too, whatever ``PYTHONDONTWRITEBYTECODE`` says (this project's
machines set it): without it pytest rewrote the asserts of every test module again in
each of a run's three processes (collection 5.5 s → 2.3 s each once written), and every
process the tests start compiled the modules changed since their last ``.pyc`` again.
The files go to the checkout's ``__pycache__`` folders (gitignored).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = False  # this process's test modules and imports (see above)
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)  # the xdist workers and the processes tests start
_CONFIG_HOME = tempfile.mkdtemp(prefix="convscope-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME
atexit.register(shutil.rmtree, _CONFIG_HOME, True)
_DATA_HOME = tempfile.mkdtemp(prefix="convscope-test-data-")
os.environ["XDG_DATA_HOME"] = _DATA_HOME
os.environ.pop("CONVSCOPE_RUNS", None)
atexit.register(shutil.rmtree, _DATA_HOME, True)

_CACHE = os.environ.get("CONVSCOPE_TEST_COMPILE_CACHE", "")
if _CACHE in ("", "fresh"):  # the first process of the run (xdist's controller, or the only one)
    if _CACHE == "fresh":
        _CACHE = tempfile.mkdtemp(prefix="convscope-test-jax-cache-")
        atexit.register(shutil.rmtree, _CACHE, True)
    else:
        _CACHE = str(Path(__file__).resolve().parent.parent / ".test-cache" / "jax")
        os.makedirs(_CACHE, exist_ok=True)
    os.environ["CONVSCOPE_TEST_COMPILE_CACHE"] = _CACHE  # the workers and app processes take this one
os.environ["CONVSCOPE_COMPILE_CACHE"] = _CACHE
if _CACHE != "off":
    from convscope.train.compile_cache import enable

    enable()  # in this process too: tests build TrainingLoops without run_gui or the CLI


def pytest_collection_modifyitems(items: list) -> None:
    """The tests marked ``slow`` first, each group in its own order: with ``-n 2`` xdist
    hands the first quarter of the list out at the start and the rest to whichever
    process is free, so a 20–40 s test that came last left the other process idle at the
    end (longest first is the classic remedy). The order within a module is kept."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # a stable sort
