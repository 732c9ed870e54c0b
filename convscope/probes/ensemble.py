"""Ensembles (issue 16): several models trained on the same data set and classes,
combined by the mean of their softmax probabilities — the fast.ai MNIST lesson's
ensemble — or by majority vote.

Plain NumPy over each member's probabilities (``probes.evaluate.predict_probs``):

* the ensemble's probabilities are the mean of the members' (N, K) softmax outputs, so
  every whole-split metric of ``probes.evaluate`` (confusion matrix, per-class P/R/F1, PR
  curve, galleries) applies to the ensemble unchanged;
* the vote is each member's argmax counted per class; a tie goes to the tied class with
  the highest mean probability (then the lowest index);
* a disagreement is an image whose members do not all predict the same class;
* loss is the mean negative log-likelihood of the true class, as training reports it,
  with probabilities clipped at 1e-12 so a confident miss is finite.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convscope.probes.evaluate import Evaluation, evaluate_probs

EPS = 1e-12


def nll(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Mean negative log-likelihood of the true classes (NaN for no examples)."""
    probs, y = np.asarray(probs, np.float64), np.asarray(y_true, np.int64)
    if len(y) == 0:
        return float("nan")
    return float(-np.log(np.clip(probs[np.arange(len(y)), y], EPS, 1.0)).mean())


def majority_vote(member_probs: np.ndarray) -> np.ndarray:
    """(N,) the class most members predict; ties broken by the mean probability."""
    m = np.asarray(member_probs)
    k = m.shape[2]
    votes = np.zeros(m.shape[1:], np.int64)  # (N, K)
    for member in m.argmax(axis=2):
        votes[np.arange(len(member)), member] += 1
    mean = m.mean(axis=0)
    top = votes == votes.max(axis=1, keepdims=True)
    # Among the tied classes, the highest mean probability; argmax takes the lowest index.
    return np.where(top, mean, -1.0).argmax(axis=1).astype(np.int64) if k else np.zeros(0, np.int64)


@dataclass(frozen=True)
class EnsembleResult:
    member_probs: np.ndarray  # (M, N, K) float32
    members: list[Evaluation]  # one per member
    member_losses: list[float]
    evaluation: Evaluation  # of the mean probabilities: the ensemble as one model
    loss: float
    vote: np.ndarray  # (N,) majority vote
    vote_accuracy: float
    disagreements: np.ndarray  # (D,) indices of images the members do not agree on

    @property
    def size(self) -> int:
        return len(self.members)

    def member_predictions(self, index: int) -> np.ndarray:
        """(M,) each member's predicted class for image ``index``."""
        return self.member_probs[:, index].argmax(axis=1)


def combine(member_probs: np.ndarray, y_true: np.ndarray) -> EnsembleResult:
    """The ensemble of the members' probabilities (M, N, K) on labels (N,)."""
    m = np.asarray(member_probs, np.float32)
    if m.ndim != 3 or m.shape[0] < 1:
        raise ValueError(f"member probabilities must be (M, N, K) with M >= 1, got {m.shape}")
    y = np.asarray(y_true, np.int64)
    mean = m.mean(axis=0)
    vote = majority_vote(m)
    preds = m.argmax(axis=2)  # (M, N)
    disagree = np.flatnonzero((preds != preds[:1]).any(axis=0))
    return EnsembleResult(
        member_probs=m,
        members=[evaluate_probs(p, y) for p in m],
        member_losses=[nll(p, y) for p in m],
        evaluation=evaluate_probs(mean, y),
        loss=nll(mean, y),
        vote=vote,
        vote_accuracy=float((vote == y).mean()) if len(y) else float("nan"),
        disagreements=disagree,
    )
