"""Run by tests/ui/test_devices_preference.py in a process of its own, with
XLA_FLAGS=--xla_force_host_platform_device_count=4: the real window and TrainingLoop on
a tiny data set, offscreen. Preferences ▸ Training devices is set to "At most LIMIT"
through the dialog, the model reset, one training step taken; prints one JSON line:
the status bar's device text before and after (the loop's own description of its
placement, from its Started event) and the saved preference.

    python tests/ui/devices_app.py DATA.npz SETTINGS.ini LIMIT
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QSettings, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def main(data: str, settings_path: str, limit: int) -> int:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from convscope.train.compile_cache import enable

    enable()  # as the app does: CONVSCOPE_COMPILE_CACHE, the test run's cache
    from convscope.config import ArchSpec, TrainConfig
    from convscope.data.dataset import load_dataset
    from convscope.ui.main_window import MainWindow

    ds = load_dataset(data, val_fraction=0.25, seed=0)
    arch = ArchSpec.uniform(blocks=1, filters=4, dense=(), input_shape=ds.image_shape, num_classes=ds.num_classes)
    settings = QSettings(settings_path, QSettings.Format.IniFormat)
    window = MainWindow(ds, arch, TrainConfig(batch_size=16), settings=settings)
    window.resize(1280, 720)
    window.show()
    t0, state = time.monotonic(), {"phase": "start", "seen": ""}
    result: dict[str, object] = {}

    def tick() -> None:
        session = window.session
        if time.monotonic() - t0 > 120:
            result["error"] = f"timed out in phase {state['phase']}"
            app.quit()
            return
        if state["phase"] == "start" and session.state == "paused":
            result["before"] = window.device_label.text()
            dialog = window.preferences.open_dialog()
            dialog.devices.setCurrentIndex(dialog.devices.findData(limit))
            dialog.accept()
            state["phase"] = "reset"
            session.reset(arch)
        elif state["phase"] == "reset" and session.state == "paused" and window.device_label.text() != result["before"]:
            result["after"] = window.device_label.text()  # the Started event's: the loop's placement
            result["saved"] = settings.value("training/devices")
            app.quit()
            return
        QTimer.singleShot(50, tick)

    QTimer.singleShot(0, tick)
    app.exec()
    print(json.dumps(result), flush=True)
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
