"""What every test process shares: no test reads or writes the user's own settings or runs.

The app keeps its window layout in ``$XDG_CONFIG_HOME/ConvScope/ConvScope.ini``. Tests
that start the real app in a process of its own (exit time, switch stress) inherit
this process's environment, so pointing ``XDG_CONFIG_HOME`` at a fresh folder here,
before Qt reads it, keeps them off the developer's ``~/.config``. Runs go under
``$XDG_DATA_HOME/ConvScope/runs`` by default: ``XDG_DATA_HOME`` gets a fresh folder too,
and ``CONVSCOPE_RUNS`` is unset.

JAX's persistent compilation cache (convscope/train/compile_cache.py) is off for the
suite (``CONVSCOPE_COMPILE_CACHE=off``, inherited by the app's subprocesses): it would
write into the user's cache folder, and JAX writes an entry unlocked while another
process may read it — a half-written entry is read as a warning, which this suite's
``filterwarnings = error`` makes a failure. tests/test_compile_cache.py turns it on
where it tests it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

_CONFIG_HOME = tempfile.mkdtemp(prefix="convscope-test-config-")
os.environ["XDG_CONFIG_HOME"] = _CONFIG_HOME
atexit.register(shutil.rmtree, _CONFIG_HOME, True)
_DATA_HOME = tempfile.mkdtemp(prefix="convscope-test-data-")
os.environ["XDG_DATA_HOME"] = _DATA_HOME
os.environ.pop("CONVSCOPE_RUNS", None)
atexit.register(shutil.rmtree, _DATA_HOME, True)
os.environ["CONVSCOPE_COMPILE_CACHE"] = "off"
