"""The Ensemble panel's job (issue 16), Qt-free: load each member (a run directory's
newest checkpoint, or a checkpoint file), check that it answers the question of the data
set shown — the same images, classes and validation split —, predict its softmax on the
validation images and combine them (``probes/ensemble.py``).

A member trained with another validation split is refused: some of the images scored
here would be its training images, and the ensemble would look better than it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convscope.probes.ensemble import EnsembleResult, combine


class MemberError(ValueError):
    """A member cannot join the ensemble (said in words, naming it)."""


@dataclass(frozen=True)
class EnsembleRequest:
    sources: tuple[str, ...]  # run directories or checkpoint files
    images: np.ndarray  # (N, H, W, C) uint8 validation images
    labels: np.ndarray  # (N,)
    input_shape: tuple[int, ...]
    num_classes: int
    val_split: tuple[float, int] | None  # the data set's: (fraction, seed), None for its own test split
    generation: int = 0  # of the model shown when asked (the panel drops older answers)


@dataclass(frozen=True)
class Member:
    source: str
    name: str
    step: int


@dataclass(frozen=True)
class EnsembleOutcome:
    request: EnsembleRequest
    members: list[Member]
    result: EnsembleResult
    seconds: float


def _run_name(run_dir: Path) -> str:
    """A run's own name (run.json), else its folder's."""
    from convscope.runs.reader import read_summary

    try:
        return read_summary(run_dir).name or run_dir.name
    except (OSError, ValueError):
        return run_dir.name


def load_member(source: str) -> tuple[Any, str]:
    """(checkpoint, name) of a run directory (its newest checkpoint) or a checkpoint file."""
    from convscope.runs.resume import ResumeError, newest_checkpoint
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    path = Path(source)
    name = _run_name(path) if path.is_dir() else f"{_run_name(path.parent.parent)}/{path.name}"
    try:
        ckpt = newest_checkpoint(path) if path.is_dir() else load_checkpoint(path)
    except (ResumeError, CheckpointError, OSError) as e:
        raise MemberError(f"{name}: {e}") from e
    if ckpt is None:
        raise MemberError(f"{name} has no checkpoint yet (it was stopped before its first one)")
    return ckpt, name


def check_member(ckpt: Any, name: str, req: EnsembleRequest) -> None:
    shape = "×".join(map(str, ckpt.arch.input_shape))
    if tuple(ckpt.arch.input_shape) != tuple(req.input_shape) or ckpt.arch.num_classes != req.num_classes:
        raise MemberError(f"{name} takes {shape} images of {ckpt.arch.num_classes} classes; the data set shown has "
                          f"{'×'.join(map(str, req.input_shape))} images of {req.num_classes}")  # fmt: skip
    if ckpt.data is not None and ckpt.data.val_split is not None and req.val_split is not None:
        theirs, ours = tuple(ckpt.data.val_split), tuple(req.val_split)
        if (round(theirs[0], 9), int(theirs[1])) != (round(ours[0], 9), int(ours[1])):
            raise MemberError(f"{name} was trained with validation split {theirs[0]:g} (seed {theirs[1]}), the data "
                              f"set shown is split {ours[0]:g} (seed {ours[1]}): some of these validation images "
                              "were its training images")  # fmt: skip


def ensemble_job(req: EnsembleRequest) -> Callable[[Any], EnsembleOutcome | None]:
    """The job: ``ctx.report((done, total))`` after each member; None when stopped."""

    def job(ctx: Any) -> EnsembleOutcome | None:
        import time

        from convscope.probes.evaluate import predict_probs
        from convscope.probes.inspect import default_norm

        if len(req.sources) < 2:
            raise MemberError("an ensemble needs at least two members")
        t0 = time.perf_counter()
        members, probs = [], []
        for i, source in enumerate(req.sources):
            ckpt, name = load_member(source)
            check_member(ckpt, name, req)
            norm = ckpt.norm if ckpt.norm is not None else default_norm(ckpt.arch.input_shape[2])
            probs.append(predict_probs(ckpt.arch, ckpt.params, ckpt.state, norm, req.images))
            members.append(Member(source, name, int(ckpt.step)))
            ctx.report((i + 1, len(req.sources)))
            if ctx.should_stop():
                return None
        return EnsembleOutcome(req, members, combine(np.stack(probs), req.labels), time.perf_counter() - t0)

    return job


MAP_CHANNELS = 8  # channels of the first block's activation shown per member


@dataclass(frozen=True)
class MemberMaps:
    """What each member makes of one image: its probabilities and the first conv block's
    activation maps (the first :data:`MAP_CHANNELS` channels), member by member."""

    index: int  # the validation image
    layer: str
    probs: list[np.ndarray]  # (K,) per member
    maps: list[np.ndarray]  # (H, W, C ≤ MAP_CHANNELS) per member


def member_maps_job(sources: tuple[str, ...], image: np.ndarray, index: int) -> Callable[[Any], MemberMaps | None]:
    """The job behind a click on a disagreement: every member on that image."""

    def job(ctx: Any) -> MemberMaps | None:
        from convscope.probes.inspect import Inspector

        probs, maps, layer = [], [], ""
        for source in sources:
            ckpt, _name = load_member(source)
            out = Inspector(ckpt.arch).run(ckpt.params, ckpt.state, ckpt.norm, image)
            layer = "act1" if "act1" in out.taps else next(iter(out.taps))
            probs.append(np.asarray(out.probs))
            maps.append(np.asarray(out.taps[layer])[..., :MAP_CHANNELS])
            if ctx.should_stop():
                return None
        return MemberMaps(index, layer, probs, maps)

    return job
