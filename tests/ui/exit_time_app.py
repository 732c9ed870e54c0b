"""The real app (``ui.app.run_gui``), offscreen, on a small .npz: wait until the work of
``MODE`` runs, close the window, and let the process end as it does for a user. Run by
test_exit_time.py, which times the process from the close to its end. Prints
``CLOSING <time.time()>`` just before the window is closed.

    python tests/ui/exit_time_app.py MODE DATA.npz

MODE: ``compiling`` (the first model is still compiling: XLA cannot be interrupted),
``busy`` (training, the loss landscape and deep visualization all computing),
``applied`` (just after Apply of a larger architecture, which compiles),
``large`` (that larger model training, its inspection threads busy or waiting),
``sigint`` (as ``busy``, but the window is not closed here: ``READY <time>`` is printed
and the test sends SIGINT to the process, which must close the window as Ctrl+Q does).
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

GIVE_UP_S = 90.0  # the work never started: close anyway (the test then fails on the output)


def drive(app: QApplication, mode: str) -> None:
    from convscope.config import ArchSpec, ConvLayer
    from convscope.probes.deepvis import ActMaxSettings
    from convscope.ui.inspection import InspectionController
    from convscope.ui.main_window import MainWindow

    t0 = time.monotonic()
    state = {"pressed": False, "applied": False}
    app.aboutToQuit.connect(lambda: print("QUITTING", flush=True))

    def close(window: MainWindow, what: str) -> None:
        print(f"CLOSING {time.time():.3f} {what}", flush=True)
        window.close()

    def tick() -> None:
        windows = [w for w in app.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if not windows:
            QTimer.singleShot(20, tick)
            return
        window = windows[0]
        session = window.session
        if time.monotonic() - t0 > GIVE_UP_S:
            close(window, "gave up waiting")
            return
        if mode == "compiling":
            if session.state == "compiling":
                close(window, "compiling")
                return
        elif mode in ("applied", "large"):
            if session.state == "paused" and not state["pressed"]:
                state["pressed"] = True
                session.train()
            elif session.state == "training" and not state["applied"]:
                state["applied"] = True  # the architecture editor's Apply: a larger model
                session.reset(ArchSpec(input_shape=session.arch.input_shape, num_classes=session.arch.num_classes,
                                       convs=(ConvLayer(filters=128), ConvLayer(filters=256)), dense=(512,)))
                if mode == "applied":
                    close(window, "right after Apply")
                    return
            elif state["applied"] and session.state == "training" and session.arch.dense == (512,):
                inspection = window.session.findChild(InspectionController)
                if inspection is not None and len(inspection._workers) == 2:  # noqa: SLF001
                    close(window, "the larger model training, inspection running")
                    return
        elif session.state == "paused" and not state["pressed"]:
            state["pressed"] = True
            session.train()
            for title in ("Loss landscape", "Deep visualization"):  # both on screen at once
                window.docks[title].setFloating(True)
                window.docks[title].show()
            # Long jobs, so that both still run when the window closes, even on a slow machine.
            window.panels["Deep visualization"].controls.set_settings(ActMaxSettings(steps=5000, progress_every=8))
            window.panels["Loss landscape"].controls.resolution.setValue(51)
            window.panels["Loss landscape"].compute()
        elif state["pressed"]:
            landscape, deepvis = window.panels["Loss landscape"], window.panels["Deep visualization"]
            if session.state == "training" and landscape.runner.busy and deepvis.runner.busy:
                if mode == "sigint":  # the test sends it; nothing more to do here
                    print(f"READY {time.time():.3f}", flush=True)
                    return
                close(window, "training, landscape and deep visualization running")
                return
        QTimer.singleShot(20, tick)

    QTimer.singleShot(0, tick)


def main(mode: str, data: str) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from convscope.ui.app import run_gui

    drive(app, mode)
    return run_gui(data)  # ends the process once the window has closed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
