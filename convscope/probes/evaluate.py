"""Honest evaluation of a classifier on a whole split: confusion matrix, per-class
precision / recall / F1, balanced accuracy, and one class against the rest
(precision and recall at a threshold, the precision–recall curve, TP/TN/FP/FN galleries).

``predict_probs`` runs the model (a jitted forward in fixed-size chunks, so any split
size compiles once); everything else is plain NumPy on ``(probs, y_true)`` and runs
anywhere. Conventions, used by the CLI, the panel and the tests alike:

* The confusion matrix has the **true class in rows** and the predicted class (argmax
  of the probabilities) in columns. ``normalized`` divides each row by its support; a
  row with no examples stays all zeros.
* A ratio whose denominator is zero is **NaN** ("undefined"), never 0: the precision of
  a class that is never predicted, the recall of a class with no examples. F1 is
  ``2·TP / (2·TP + FP + FN)``, which is defined (0 when TP = 0) unless the class is
  neither present nor predicted (then NaN). Balanced accuracy is the mean recall over
  the classes that have examples.
* One-vs-rest for class c scores every example by p(c) and predicts "c" when
  ``p(c) >= threshold``. Galleries are ordered **most confident first**: examples
  predicted "c" (TP, FP) by p(c) descending, examples predicted "not c" (TN, FN) by
  1 − p(c) descending, i.e. p(c) ascending; ties by the lower example index.
* The precision–recall curve has one point per distinct score, thresholds descending
  (recall rising); average precision is ``Σ (R_i − R_{i−1}) · P_i`` with R_0 = 0 (the
  step-wise area, as scikit-learn defines it), NaN when the class has no examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np

from convscope.config import ArchSpec
from convscope.probes.chunked import CHUNK, Cancelled, logits_forward, run_chunks, softmax  # noqa: F401

HostParams = dict[str, dict[str, np.ndarray]]

PREDICT_CHUNK = CHUNK  # images per jitted call (probes.chunked: one size for every probe)


# ------------------------------------------------------------------ the forward pass
def predict_probs(
    arch: ArchSpec,
    params: HostParams,
    state: HostParams,
    norm: np.ndarray,
    images: np.ndarray,
    chunk: int = PREDICT_CHUNK,
    progress: Callable[[int, int], bool | None] | None = None,
) -> np.ndarray:
    """Softmax probabilities (N, K) float32 of ``arch`` for uint8 images (N, H, W, C).

    ``progress(done, total)`` is called after each chunk; returning False stops the
    run with :class:`Cancelled` (a newer request made this one pointless).
    """
    images = np.asarray(images)
    want = tuple(arch.input_shape)
    if images.ndim != 4 or tuple(images.shape[1:]) != want or images.dtype != np.uint8:
        raise ValueError(
            f"predict_probs: expected uint8 images (N, {', '.join(map(str, want))}), "
            f"got {images.dtype} {images.shape}"
        )
    norm = np.asarray(norm, np.float32)
    if norm.shape != (2, want[2]):
        raise ValueError(f"predict_probs: norm must have shape (2, {want[2]}), got {norm.shape}")
    if chunk < 1:
        raise ValueError(f"predict_probs: chunk must be at least 1, got {chunk}")
    if len(images) == 0:
        return np.empty((0, arch.num_classes), np.float32)
    fn = logits_forward(arch)
    params, state = jax.device_put((params, state))  # once, not once per chunk
    parts = run_chunks(lambda batch: fn(params, state, norm, batch), images, chunk=chunk, progress=progress)
    assert parts is not None  # (no should_stop)
    return softmax(np.concatenate(parts))


# ------------------------------------------------------------------ whole-split metrics
def _check_labels(y: np.ndarray, k: int, name: str) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be a 1-D integer array, got {y.dtype} {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"{name} holds class {int(y.min() if y.min() < 0 else y.max())}, outside 0..{k - 1}")
    return y.astype(np.int64)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) int64 counts: row = true class, column = predicted class."""
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    t = _check_labels(y_true, k, "y_true")
    p = _check_labels(y_pred, k, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"y_true has {len(t)} labels but y_pred has {len(p)}")
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, np.float64)
    den = np.asarray(den, np.float64)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


@dataclass(frozen=True)
class Evaluation:
    """Metrics of one split. Per-class arrays have length K; NaN means undefined."""

    probs: np.ndarray  # (N, K) float32
    y_true: np.ndarray  # (N,) int64
    y_pred: np.ndarray  # (N,) int64, argmax of probs
    confusion: np.ndarray  # (K, K) int64, rows true, columns predicted
    precision: np.ndarray  # (K,) NaN for a class never predicted
    recall: np.ndarray  # (K,) NaN for a class without examples
    f1: np.ndarray  # (K,) 2TP / (2TP + FP + FN); NaN only if neither present nor predicted
    support: np.ndarray  # (K,) int64 examples per true class
    accuracy: float  # NaN for an empty split
    balanced_accuracy: float  # mean recall over classes with support

    @property
    def num_classes(self) -> int:
        return int(self.confusion.shape[0])

    @property
    def normalized(self) -> np.ndarray:
        """Each row divided by its support (fractions that sum to 1; empty rows 0)."""
        support = self.confusion.sum(axis=1, keepdims=True)
        return np.where(support > 0, self.confusion / np.maximum(support, 1), 0.0)

    def worst_class(self) -> int:
        """The class with the lowest F1 (defined ones only; ties: lowest index), 0 if none."""
        f1 = np.where(np.isnan(self.f1), np.inf, self.f1)
        return int(np.argmin(f1)) if np.isfinite(f1).any() else 0

    def most_confident(self, true_class: int, pred_class: int) -> int | None:
        """The example in confusion cell (true, pred) with the highest p(pred), or None."""
        hits = np.flatnonzero((self.y_true == true_class) & (self.y_pred == pred_class))
        if not len(hits):
            return None
        # Highest p(pred); lexsort is stable, so ties keep the lower index.
        return int(hits[np.lexsort((hits, -self.probs[hits, pred_class]))[0]])


def evaluate_probs(probs: np.ndarray, y_true: np.ndarray) -> Evaluation:
    """All whole-split metrics from probabilities (N, K) and true labels (N,)."""
    probs = np.asarray(probs)
    if probs.ndim != 2 or probs.shape[1] < 2:
        raise ValueError(f"probs must have shape (N, K) with K >= 2, got {probs.shape}")
    k = probs.shape[1]
    y = _check_labels(y_true, k, "y_true")
    if len(y) != len(probs):
        raise ValueError(f"{len(probs)} rows of probabilities but {len(y)} labels")
    y_pred = probs.argmax(axis=1).astype(np.int64)
    cm = confusion_matrix(y, y_pred, k)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    recall = _ratio(tp, support)
    present = support > 0
    return Evaluation(
        probs=probs,
        y_true=y,
        y_pred=y_pred,
        confusion=cm,
        precision=_ratio(tp, predicted),
        recall=recall,
        f1=_ratio(2 * tp, support + predicted),  # 2TP + FP + FN = support + predicted
        support=support,
        accuracy=float(_ratio(tp.sum(), len(y))),
        balanced_accuracy=float(recall[present].mean()) if present.any() else float("nan"),
    )


# ------------------------------------------------------------------ one class vs the rest
@dataclass(frozen=True)
class PRCurve:
    """Precision and recall of "p(c) >= t" for every distinct score t, t descending."""

    thresholds: np.ndarray  # (M,) descending
    precision: np.ndarray  # (M,)
    recall: np.ndarray  # (M,) non-decreasing; NaN when the class has no examples
    average_precision: float


@dataclass(frozen=True)
class OneVsRest:
    """Class ``cls`` against the rest at ``threshold``, with the four galleries."""

    cls: int
    threshold: float
    tp: int
    fp: int
    fn: int
    tn: int
    precision: float  # NaN when nothing reaches the threshold
    recall: float  # NaN when the class has no examples
    galleries: dict[str, np.ndarray]  # "TP", "TN", "FP", "FN": example indices, most confident first


class ClassRanking:
    """Scores of one class, sorted once, so any threshold costs O(N), not a sort.

    ``at(t)`` gives the counts and galleries for ``p(c) >= t``; ``curve`` the PR curve.
    """

    def __init__(self, probs: np.ndarray, y_true: np.ndarray, cls: int) -> None:
        probs = np.asarray(probs)
        if probs.ndim != 2:
            raise ValueError(f"probs must have shape (N, K), got {probs.shape}")
        k = probs.shape[1]
        if not 0 <= cls < k:
            raise ValueError(f"class must be in 0..{k - 1}, got {cls}")
        y = _check_labels(y_true, k, "y_true")
        if len(y) != len(probs):
            raise ValueError(f"{len(probs)} rows of probabilities but {len(y)} labels")
        self.cls = cls
        self.scores = probs[:, cls].astype(np.float64)
        self.positive = y == cls
        idx = np.arange(len(y))
        self._desc = np.lexsort((idx, -self.scores))  # p descending, index ascending
        self._asc = np.lexsort((idx, self.scores))  # p ascending, index ascending
        self._sorted_desc = self.scores[self._desc]
        self.curve = self._curve()

    def _curve(self) -> PRCurve:
        s = self._sorted_desc
        pos = self.positive[self._desc]
        tp = np.cumsum(pos)
        fp = np.cumsum(~pos)
        # The last position of each run of equal scores: "p >= t" takes the whole run.
        last = np.flatnonzero(np.r_[s[1:] != s[:-1], True]) if len(s) else np.zeros(0, int)
        tp, fp = tp[last], fp[last]
        n_pos = int(self.positive.sum())
        precision = tp / (tp + fp)  # every threshold admits at least one example
        recall = _ratio(tp, np.full(tp.shape, n_pos))
        ap = float(np.sum(np.diff(np.r_[0.0, recall]) * precision)) if n_pos else float("nan")
        return PRCurve(s[last], precision, recall, ap)

    def at(self, threshold: float) -> OneVsRest:
        """Counts, precision, recall and galleries for predicting the class at ``p >= threshold``."""
        if not np.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number, got {threshold}")
        n = len(self.scores)
        # _sorted_desc is descending: count the scores >= threshold.
        m = n - int(np.searchsorted(self._sorted_desc[::-1], threshold, side="left"))
        above = self._desc[:m]  # predicted "c", most confident first
        below = self._asc[: n - m]  # predicted "not c", most confident (lowest p) first
        galleries = {
            "TP": above[self.positive[above]],
            "FP": above[~self.positive[above]],
            "TN": below[~self.positive[below]],
            "FN": below[self.positive[below]],
        }
        tp, fp = len(galleries["TP"]), len(galleries["FP"])
        fn, tn = len(galleries["FN"]), len(galleries["TN"])
        return OneVsRest(
            cls=self.cls,
            threshold=float(threshold),
            tp=tp,
            fp=fp,
            fn=fn,
            tn=tn,
            precision=float(_ratio(tp, tp + fp)),
            recall=float(_ratio(tp, tp + fn)),
            galleries=galleries,
        )


def one_vs_rest(probs: np.ndarray, y_true: np.ndarray, cls: int, threshold: float) -> OneVsRest:
    """Class ``cls`` against the rest at ``threshold`` (see :class:`ClassRanking`)."""
    return ClassRanking(probs, y_true, cls).at(threshold)


def pr_curve(probs: np.ndarray, y_true: np.ndarray, cls: int) -> PRCurve:
    """The precision–recall curve of class ``cls`` scored by p(cls)."""
    return ClassRanking(probs, y_true, cls).curve
