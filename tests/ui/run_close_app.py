"""The real app (``ui.app.run_gui``), offscreen, recording runs under ROOT: press Train,
and once training has gone ``STEPS`` steps, close the window (``close``) or print
``TRAINING`` and wait to be killed (``kill``); ``open`` closes a second after the first model
is ready. Run by test_run_close.py.

    python tests/ui/run_close_app.py MODE DATA.npz ROOT
"""

from __future__ import annotations

import faulthandler
import os
import sys
import time

faulthandler.enable()
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

STEPS = 40
GIVE_UP_S = 90.0


def drive(app: QApplication, mode: str) -> None:
    from convscope.ui.main_window import MainWindow

    t0 = time.monotonic()
    state = {"pressed": False, "shown": None, "said": False}

    def tick() -> None:
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(20, tick)
            return
        window = windows[0]
        session = window.session
        step = int(window.step_label.text().split()[-1].replace(",", "") or 0) if "–" not in window.step_label.text() else 0
        if time.monotonic() - t0 > GIVE_UP_S:
            print("GAVE UP", flush=True)
            window.close()
            return
        if mode == "open":
            if session.state != "paused":
                QTimer.singleShot(20, tick)
                return
            state["shown"] = state["shown"] or time.monotonic()
            if time.monotonic() - state["shown"] > 1.0:
                window.close()
                return
        elif session.state == "paused" and not state["pressed"]:
            state["pressed"] = True
            session.train()
        elif state["pressed"] and session.state == "training" and step >= STEPS:
            print(f"TRAINING {window.runs.recorder.current_run}", flush=True)
            if mode == "close":
                window.close()
                return
            state["said"] = True  # kill: keep training until killed
        QTimer.singleShot(20, tick)

    QTimer.singleShot(0, tick)


def main(mode: str, data: str, root: str) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from convscope.ui.app import run_gui

    drive(app, mode)
    return run_gui(data, runs=root)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
