"""Issue 11, item 4: quitting while training left the process alive ~13 s after the window
closed ("convscope-inspect-image is still busy at exit"). The real app, offscreen, in a
process of its own: close the window while the first model compiles (XLA cannot be
interrupted), and while training, the loss landscape and deep visualization all compute;
the process must be gone within 2 s of the close.

The budget: closeEvent waits at most 0.3 s for the loop, the app then at most
EXIT_WAIT_S (0.5 s) for the workers and leaves with os._exit: ~0.8 s at worst plus the
process's end. Measured from the shell on a shared 2-core machine (load ~3.5): 0.17 s
busy, 0.86 s compiling (before: 2.7 s and 13.2 s). The rest of the 2 s is margin for a
loaded machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("exit_time_app.py")
LIMIT_S = 2.0


def small_npz(path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (90, 12, 12, 1), dtype=np.uint8)
    y = np.arange(90) % 3
    np.savez(path, x_train=x[:60], y_train=y[:60], x_test=x[60:], y_test=y[60:])
    return path


@pytest.mark.gui
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["compiling", "busy", "applied", "large", "sigint"])
def test_the_process_ends_within_two_seconds_of_the_window_closing(tmp_path, mode) -> None:
    """``applied`` and ``large`` (issue 17.6: 18.7 s right after Apply, over 32 s with a
    large model); ``sigint``: Ctrl+C in the terminal closes the window as Ctrl+Q does (it
    was ignored: still training 10 minutes later)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    args = [sys.executable, str(SCRIPT), mode, str(small_npz(tmp_path / "small.npz"))]
    closed_at, what = None, ""
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                          cwd=ROOT) as proc:  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        for line in proc.stdout:  # up to the close
            if line.startswith("CLOSING "):
                closed_at, what = float(line.split()[1]), line.split(maxsplit=2)[2].strip()
                break
            if line.startswith("READY "):
                closed_at, what = time.time(), "SIGINT"
                proc.send_signal(signal.SIGINT)
                break
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        ended_at = time.time()
        out, err = proc.stdout.read(), proc.stderr.read()
    assert closed_at is not None, err[-3000:]
    assert what != "gave up waiting", err[-3000:]
    assert proc.returncode == 0, err[-3000:]
    elapsed = ended_at - closed_at
    assert elapsed < LIMIT_S, f"{mode}: the process ended {elapsed:.2f} s after the window closed\n{err[-2000:]}"
    assert "Traceback" not in err and "terminate called" not in err, err[-3000:]
    assert "QUITTING" in out  # the window closed and the app quit, as for Ctrl+Q
