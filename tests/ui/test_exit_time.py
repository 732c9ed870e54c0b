"""Issue 11, item 4: quitting while training left the process alive ~13 s after the window
closed ("convscope-inspect-image is still busy at exit"). The real app, offscreen, in a
process of its own: close the window while the first model compiles (XLA cannot be
interrupted), and while training, the loss landscape and deep visualization all compute.

The design: closeEvent waits at most 0.3 s for the loop and 0.7 s for its run's end, the
app then at most EXIT_WAIT_S (0.5 s) for the workers, and leaves with os._exit — never
through Python's teardown, which with JAX loaded takes 1–2 s more and aborts while a
thread is inside XLA. That is what this test holds: the process never reaches Python's
teardown (an atexit handler in the app would print), exits 0 without a traceback, and is
gone well before the failures it guards against (13 s compiling, 18.7 s after Apply,
32 s with a large model, ever for SIGINT). How fast it is — the 2 s target — is measured
by ``benchmarks/bench_exit_time.py``, not here: a 2 s limit in a test failed once at
2.01 s on CI's loaded 2 cores."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from exit_time_app import MODES, run_mode  # noqa: E402

HANG_S = 8.0  # far under every failure above, far over the ~1 s the design allows


@pytest.mark.gui
@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_the_process_ends_promptly_once_the_window_closes(tmp_path, mode) -> None:
    """``applied`` and ``large`` (issue 17.6: 18.7 s right after Apply, over 32 s with a
    large model); ``sigint``: Ctrl+C in the terminal closes the window as Ctrl+Q does (it
    was ignored: still training 10 minutes later)."""
    ended = run_mode(mode, tmp_path)
    out, err = ended.out, ended.err
    assert ended.elapsed is not None, err[-3000:]
    assert ended.what != "gave up waiting", err[-3000:]
    assert ended.returncode == 0, err[-3000:]
    assert ended.elapsed < HANG_S, f"{mode}: the process ended {ended.elapsed:.2f} s after the close\n{err[-2000:]}"
    assert "PYTHON-TEARDOWN" not in out, f"{mode}: the process went through Python's teardown"
    assert "Traceback" not in err and "terminate called" not in err, err[-3000:]
    assert "QUITTING" in out  # the window closed and the app quit, as for Ctrl+Q
