"""The window's runs menu items: Runs Folder…, Resume Run…, Follow Run…, Stop Following.

Where new runs go is the window's :class:`~convscope.runs.recording.RunRecorder`'s
root: ``--runs DIR``, else the Runs Folder preference (QSettings ``runs/root``), else
:func:`convscope.runs.default_root` (Qt's AppDataLocation + ``/runs``). Resume and Follow
show a refusal as a message naming the reason, never a traceback.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from types import SimpleNamespace

from PySide6.QtCore import QObject, QSettings, QStandardPaths
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QLabel, QMainWindow

from convscope import events as ev
from convscope.runs import read_curves, read_summary
from convscope.runs.recording import RunRecorder
from convscope.runs.resume import ResumeError, newest_checkpoint
from convscope.ui.follow import RunFollowing, curves_to_events, fits, run_model

log = logging.getLogger(__name__)

ROOT_KEY = "runs/root"
CHECKPOINT_NAMES = ("latest.npz", "final.npz")


def qt_default_root() -> Path:
    """``runs`` in Qt's application-data folder (what :func:`convscope.runs.default_root`
    computes without Qt; a test checks that they agree)."""
    return Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation)) / "runs"


def runs_root(cli_root: str | None, settings: QSettings | None) -> Path:
    """``--runs``, else the preference, else the default."""
    if cli_root:
        return Path(cli_root).expanduser()
    if settings is not None:
        saved = settings.value(ROOT_KEY, "")
        if isinstance(saved, str) and saved:
            return Path(saved)
    from convscope.runs import default_root

    return default_root()


def mark_interrupted_runs(root: Path) -> threading.Thread:
    """In the background: runs under ``root`` whose writer on this host died while they
    said running are marked "interrupted" (a crash or ``kill -9`` of an earlier session)."""
    from convscope.runs import list_runs
    from convscope.runs.reader import mark_interrupted

    def work() -> None:
        try:
            for s in list_runs(root):
                if s.status == "interrupted" and not s.damaged:
                    mark_interrupted(s.dir)
        except OSError as e:
            log.info("could not mark interrupted runs under %s: %s", root, e)

    thread = threading.Thread(target=work, name="convscope-mark-interrupted", daemon=True)
    thread.start()
    return thread


def _checkpoint_file(run_dir: Path, step: int) -> Path | None:
    """The file of the run's newest resumable checkpoint (``newest_checkpoint`` says
    which step; this finds the file that holds it)."""
    from convscope.runs.layout import history_name
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    for name in (*CHECKPOINT_NAMES, history_name(step)):
        path = run_dir / "checkpoints" / name
        if not path.is_file():
            continue
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError:
            continue
        if ckpt.step == step and ckpt.resume is not None:
            return path
    return None


class RunActions(QObject):
    """File ▸ Runs Folder… / Resume Run… / Follow Run… / Stop Following, for one window."""

    def __init__(self, window: QMainWindow, recorder: RunRecorder | None, settings: QSettings | None = None) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session  # type: ignore[attr-defined]
        self.recorder = recorder
        self.settings = settings
        self.following = RunFollowing(self.session)
        self._history: tuple[Path, int] | None = None  # a resumed run's curves, drawn at its Started

        self.runs_folder_action = QAction("Runs &Folder…", window)
        self.runs_folder_action.setToolTip("Where every training is recorded as a run directory")
        self.runs_folder_action.triggered.connect(lambda: self.choose_root())
        self.runs_folder_action.setEnabled(recorder is not None)
        self.resume_action = QAction("&Resume Run…", window)
        self.resume_action.setToolTip("Continue a run exactly where it stopped (same curves, optimizer, data order)")
        self.resume_action.triggered.connect(lambda: self.resume())
        self.follow_action = QAction("Fo&llow Run…", window)
        self.follow_action.setToolTip("Watch a run another process writes (a convscope train, another machine)")
        self.follow_action.triggered.connect(lambda: self.follow())
        self.stop_follow_action = QAction("Stop Follo&wing", window)
        self.stop_follow_action.setToolTip("Back to training here (a new run)")
        self.stop_follow_action.triggered.connect(self.stop_following)
        self.stop_follow_action.setEnabled(False)

        self.follow_label = QLabel()
        self.follow_label.setObjectName("followLine")
        self.follow_label.setContentsMargins(10, 0, 10, 0)
        self.follow_label.hide()
        window.statusBar().insertPermanentWidget(0, self.follow_label, 1)
        self.following.line_changed.connect(self._on_follow_line)
        self.following.ended.connect(lambda line: window.show_notice("info", line, source="follow"))  # type: ignore[attr-defined]
        self.session.bridge.started.connect(self._on_started)
        self.session.state_changed.connect(self._on_state)

    def _on_state(self, state: str) -> None:
        following = state == "following"
        for title in ("Hyperparameters", "Architecture editor"):  # a followed run's are its writer's
            dock = getattr(self.window, "docks", {}).get(title)
            if dock is not None:
                dock.widget().setEnabled(not following)
        self.stop_follow_action.setEnabled(following)

    def follow_line(self) -> str:
        """The status bar's "Following <run>: …" line ("" when not following)."""
        return self.follow_label.text() if self.follow_label.isVisible() else ""

    @property
    def actions(self) -> list[QAction]:
        return [self.resume_action, self.follow_action, self.stop_follow_action, self.runs_folder_action]

    @property
    def root(self) -> Path:
        return self.recorder.root if self.recorder is not None else runs_root(None, self.settings)

    # ------------------------------------------------------------- runs folder
    def choose_root(self, path: str | None = None) -> None:
        if self.recorder is None:
            return
        if path is None:
            path = QFileDialog.getExistingDirectory(self.window, "Runs folder", str(self.recorder.root))
        if not path:
            return
        self.recorder.root = Path(path)
        runs_panel = getattr(self.window, "panels", {}).get("Runs")
        if runs_panel is not None:
            runs_panel.set_root(path)
        if self.settings is not None:
            self.settings.setValue(ROOT_KEY, str(path))
            self.settings.sync()
        self.window.show_notice("info", f"New runs are recorded in {path} (the current one stays where it is)")  # type: ignore[attr-defined]

    # ------------------------------------------------------------------ resume
    def resume(self, run_dir: str | None = None) -> str:
        """Continue ``run_dir`` exactly; returns the refusal shown ("" if it resumes)."""
        if run_dir is None:
            run_dir = QFileDialog.getExistingDirectory(self.window, "Resume run", str(self.root))
        if not run_dir:
            return ""
        why, path, step = self._resumable(Path(run_dir))
        if why:
            self.window.show_error("Cannot resume the run", f"Cannot resume {Path(run_dir).name}: {why}")  # type: ignore[attr-defined]
            return why
        assert path is not None
        run = Path(run_dir)
        if self.session.following is not None:
            self.following.stop(resume_training=True)
        if self.recorder is not None:
            self.recorder.expect_resume(str(path), run, step)
        self._history = (run, step)
        self.session.load(str(path))
        self.window.statusBar().showMessage(f"Resuming {run.name} at step {step:,}…", 6000)
        self._note_recent(run)
        return ""

    def resumes(self, checkpoint: str) -> bool:
        """File ▸ Open Checkpoint of a run's newest checkpoint (``RUN/checkpoints/latest.npz``
        or ``final.npz``) resumes that run instead of starting a new one, when it can; True
        if it did (else the checkpoint opens as any other, starting a new run)."""
        path = Path(checkpoint)
        run = path.parent.parent
        if path.parent.name != "checkpoints" or not (run / "run.json").is_file() or path.name not in CHECKPOINT_NAMES:
            return False
        why, _newest, step = self._resumable(run)
        if why:
            return False
        from convscope.train.checkpoint import CheckpointError, load_checkpoint

        try:
            ckpt = load_checkpoint(path)
        except CheckpointError:
            return False  # the loop says why when it tries to open it
        return ckpt.step == step and ckpt.resume is not None and self.resume(str(run)) == ""

    def _resumable(self, run: Path) -> tuple[str, Path | None, int]:
        from convscope.train.restore import resume_refusal

        try:
            arch, _config, _cfg = run_model(run)
        except ResumeError as e:
            return str(e), None, 0
        summary = read_summary(run)
        if self.recorder is not None and self.recorder.current_run is not None \
                and self.recorder.current_run.resolve() == run.resolve():
            return "it is the run being trained in this window", None, 0
        if summary.status in ("running", "paused"):
            where = "on this computer" if summary.host == socket.gethostname() else f"on {summary.host or 'another host'}"
            return (f"another process {where} is writing it (it is {summary.status}); follow it instead, "
                    "or stop that process first"), None, 0
        why = fits(arch, self.session.dataset)
        if why:
            return why, None, 0
        try:
            ckpt = newest_checkpoint(run)
        except ResumeError as e:
            return str(e), None, 0
        why = resume_refusal(SimpleNamespace(arch=ckpt.arch, dataset=self.session.dataset), ckpt)  # type: ignore[arg-type]
        if why:
            return why, None, 0
        path = _checkpoint_file(run, ckpt.step)
        if path is None:
            return "its newest checkpoint changed while it was read; try again", None, 0
        return "", path, ckpt.step

    def _on_started(self, event: ev.Started) -> None:
        history, self._history = self._history, None
        if history is None or event.step != history[1] or self.session.following is not None:
            return
        run, step = history
        # The earlier curves, drawn as the loop's events; the new points follow them.
        for e in curves_to_events(read_curves(run), event.config, upto=step):
            self.session.bridge.deliver(e)

    # ------------------------------------------------------------------ follow
    def follow(self, run_dir: str | None = None) -> str:
        """Follow ``run_dir``; returns the refusal shown ("" if it is followed)."""
        if run_dir is None:
            run_dir = QFileDialog.getExistingDirectory(self.window, "Follow run", str(self.root))
        if not run_dir:
            return ""
        self.window.clear_notice("follow")  # type: ignore[attr-defined]
        if self.recorder is not None and self.recorder.current_run is not None \
                and self.recorder.current_run.resolve() == Path(run_dir).resolve():
            why = "it is the run being trained in this window"
        else:
            why = self.following.start(run_dir)  # its first poll may say that it has ended
        if why:
            self.window.show_error("Cannot follow the run", f"Cannot follow {Path(run_dir).name}: {why}")  # type: ignore[attr-defined]
            return why
        self.stop_follow_action.setEnabled(True)
        self._note_recent(Path(run_dir))
        return ""

    def _note_recent(self, run: Path) -> None:
        recent = getattr(self.window, "recent", None)  # File ▸ Open Recent
        if recent is not None:
            recent.add("run", run)

    def stop_following(self) -> None:
        self.following.stop(resume_training=True)
        self.stop_follow_action.setEnabled(False)
        self.window.clear_notice("follow")  # type: ignore[attr-defined]

    def _on_follow_line(self, line: str) -> None:
        self.follow_label.setText(line)
        self.follow_label.setToolTip(line)
        self.follow_label.setVisible(bool(line))

    def shutdown(self) -> None:
        self.following.stop(resume_training=False)
