"""File ▸ Open Recent: the images, checkpoints, data sets and runs opened last, and the
last data set, which the app reopens at launch.

Kept in the window's QSettings (``recent/entries``, ``data/last``); a window without
settings keeps them for its own life only. An entry whose file or folder has gone is
reported and dropped when chosen; one that does not open says why as its kind does
(the image, checkpoint or data set message). The first entries are Ctrl+Shift+1…9.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QTimer
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu

from convscope.data import LoadOptions
from convscope.ui import shortcuts
from convscope.ui.panels.dataset import BUILTINS, loader_for

log = logging.getLogger(__name__)

ENTRIES_KEY = "recent/entries"
LAST_DATA_KEY = "data/last"
MAX_ENTRIES = 12
KINDS = {"image": "Image", "checkpoint": "Checkpoint", "dataset": "Data set", "run": "Run"}
BUILTIN_DIGITS = "builtin:mnist"
BUILTIN_NAMES = {spec: label for label, spec in BUILTINS}


def _label(kind: str, path: str) -> str:
    shown = BUILTIN_NAMES.get(path) or Path(path).name or path
    return f"{KINDS.get(kind, kind)}: {shown}"


def _options_dict(options: LoadOptions) -> dict[str, Any]:
    size = options.image_size
    return {"val_fraction": options.val_fraction, "seed": options.seed,
            "image_size": list(size) if isinstance(size, tuple) else size}


def _options_from(data: dict[str, Any]) -> LoadOptions:
    size = data.get("image_size")
    return LoadOptions(val_fraction=float(data.get("val_fraction", 0.1)), seed=int(data.get("seed", 0)),
                       image_size=tuple(size) if isinstance(size, list) else size)


class RecentFiles(QObject):
    """One window's recent entries and its File ▸ Open Recent submenu."""

    def __init__(self, window: QMainWindow, settings: QSettings | None) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        self.entries: list[tuple[str, str]] = self._read_entries()
        self.last_data: tuple[str, LoadOptions] | None = self._read_last()
        self.menu = QMenu("Open &Recent", window)
        self.menu.setToolTip("Images, checkpoints, data sets and runs opened before")
        self.clear_action = QAction("&Clear Recent", window, shortcut=QKeySequence("Ctrl+Shift+Del"))
        self.clear_action.setToolTip("Forget the recent images, checkpoints, data sets and runs")
        self.clear_action.triggered.connect(self.clear)
        self._reopening = ""
        self._loading = ""
        self._noted_run: Path | None = None
        loader = loader_for(window.session)  # type: ignore[attr-defined]
        loader.loading.connect(self._on_loading)
        loader.loaded.connect(self._on_loaded)
        loader.failed.connect(self._on_failed)
        recorder = getattr(getattr(window, "runs", None), "recorder", None)
        if recorder is not None:  # the window's own runs, once they have a directory
            window.session.bridge.stepped.connect(lambda _m: self._note_run(recorder.current_run))  # type: ignore[attr-defined]
        self._rebuild()

    # ---------------------------------------------------------------- storage
    def _read_entries(self) -> list[tuple[str, str]]:
        raw = None if self.settings is None else self.settings.value(ENTRIES_KEY, "")
        try:
            data = json.loads(raw) if isinstance(raw, str) and raw else []
            return [(str(k), str(p)) for k, p in data if k in KINDS][:MAX_ENTRIES]
        except (ValueError, TypeError):
            log.info("recent entries unreadable; starting afresh")
            return []

    def _read_last(self) -> tuple[str, LoadOptions] | None:
        raw = None if self.settings is None else self.settings.value(LAST_DATA_KEY, "")
        try:
            data = json.loads(raw) if isinstance(raw, str) and raw else None
            return (str(data["spec"]), _options_from(data.get("options", {}))) if data else None
        except (ValueError, TypeError, KeyError):
            return None

    def _save(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue(ENTRIES_KEY, json.dumps(self.entries))
        if self.last_data is None:
            self.settings.remove(LAST_DATA_KEY)
        else:
            spec, options = self.last_data
            self.settings.setValue(LAST_DATA_KEY, json.dumps({"spec": spec, "options": _options_dict(options)}))
        self.settings.sync()

    # ---------------------------------------------------------------- entries
    def add(self, kind: str, path: str | Path) -> None:
        """``path`` of ``kind`` (image, checkpoint, dataset, run) first in the list."""
        text = str(path)
        if not text.startswith("builtin:"):
            text = str(Path(text).expanduser().absolute())
        self.entries = [(kind, text)] + [e for e in self.entries if e != (kind, text)]
        del self.entries[MAX_ENTRIES:]
        self._save()
        self._rebuild()

    def _drop(self, kind: str, path: str) -> None:
        self.entries = [e for e in self.entries if e != (kind, path)]
        self._save()
        self._rebuild()

    def clear(self) -> None:
        self.entries = []
        self._save()
        self._rebuild()

    def _note_run(self, run: Path | None) -> None:
        if run is not None and run != self._noted_run:  # once a run, not at every step
            self._noted_run = run
            self.add("run", run)

    def _rebuild(self) -> None:
        self.menu.clear()
        for i, (kind, path) in enumerate(self.entries):
            action = QAction(_label(kind, path), self.menu)
            action.setToolTip(path)
            action.setStatusTip(path)
            shortcuts.exempt(action)  # a dynamic entry: its key follows its place
            if i < 9:
                action.setShortcut(QKeySequence(f"Ctrl+Shift+{i + 1}"))
            action.triggered.connect(lambda _=False, k=kind, p=path: self.open(k, p))
            self.menu.addAction(action)
        if not self.entries:
            empty = shortcuts.exempt(self.menu.addAction("(nothing yet)"))
            empty.setEnabled(False)
        self.menu.addSeparator()
        self.menu.addAction(self.clear_action)
        self.clear_action.setEnabled(bool(self.entries))

    def open(self, kind: str, path: str) -> bool:
        """Open an entry as its kind opens; a vanished one is reported and dropped."""
        w: Any = self.window
        if not path.startswith("builtin:") and not Path(path).exists():
            self._drop(kind, path)
            w.show_notice("warning", f"{path} is no longer there; removed from Open Recent")
            return False
        if kind == "image":
            return bool(w.open_image(path))
        if kind == "checkpoint":
            w.open_checkpoint(path)
        elif kind == "dataset":
            loader_for(w.session).load(path)
        elif kind == "run":
            return self._open_run(Path(path))
        return True

    def _open_run(self, run: Path) -> bool:
        """Follow a run another process is writing; resume any other."""
        from convscope.runs import read_summary

        runs: Any = self.window.runs  # type: ignore[attr-defined]
        status = read_summary(run).status
        why = runs.follow(str(run)) if status in ("running", "paused") else runs.resume(str(run))
        return not why

    # ---------------------------------------------------------------- data sets
    def _on_loading(self, target: str) -> None:
        self._loading = target

    def _on_loaded(self, _data: object) -> None:
        if self._loading:
            self.note_dataset(self._loading, loader_for(self.window.session).options)  # type: ignore[attr-defined]
        self._reopening = ""

    def note_dataset(self, spec: str, options: LoadOptions) -> None:
        """``spec`` is the data set in use (reopened at the next launch)."""
        if not spec.startswith("builtin:"):
            spec = str(Path(spec).expanduser().absolute())
        self.last_data = (spec, options)
        self.add("dataset", spec)  # saves both

    def _on_failed(self, message: str) -> None:
        if not self._reopening:
            return
        spec, self._reopening = self._reopening, ""
        self.last_data = (BUILTIN_DIGITS, LoadOptions())
        self._save()
        w: Any = self.window
        line = f"The last data set, {spec}, did not open ({message}); training on the built-in digits instead"
        QTimer.singleShot(0, w, lambda: w.show_notice("warning", line))  # after the window's own message

    def reopen_last(self) -> bool:
        """At launch: load the last data set again, if it was not the built-in digits
        (which the window starts on). If it fails, the window says so and stays on them."""
        if self.last_data is None or self.last_data[0] == BUILTIN_DIGITS:
            return False
        spec, options = self.last_data
        self._reopening = spec
        loader = loader_for(self.window.session)  # type: ignore[attr-defined]
        loader.options = options  # the Data panel shows them once loaded
        loader.load(spec, options)
        return True


def install(window: QMainWindow, settings: QSettings | None) -> RecentFiles:
    """File ▸ Open Recent for ``window`` (after the Open items)."""
    recent = RecentFiles(window, settings)
    menu, before = window.file_menu, window.save_action  # type: ignore[attr-defined]
    menu.insertMenu(before, recent.menu)
    menu.insertSeparator(before)
    return recent
