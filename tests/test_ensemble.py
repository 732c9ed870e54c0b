"""Issue 16: an ensemble's numbers against a hand computation on a small case."""

from __future__ import annotations

import numpy as np
import pytest

from convscope.probes.ensemble import combine, majority_vote, nll


def _case() -> tuple[np.ndarray, np.ndarray]:
    # 3 members, 4 images, 3 classes; true classes 0, 1, 2, 1.
    a = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4], [0.5, 0.4, 0.1]]
    b = [[0.6, 0.3, 0.1], [0.2, 0.3, 0.5], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]]
    c = [[0.2, 0.7, 0.1], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6], [0.4, 0.3, 0.3]]
    return np.array([a, b, c], np.float32), np.array([0, 1, 2, 1])


def test_the_ensemble_is_the_mean_of_the_members_probabilities() -> None:
    probs, y = _case()
    r = combine(probs, y)
    # By hand: mean rows [0.5, 0.4, 0.1], [0.133, 0.567, 0.3], [0.2, 0.2, 0.6], [0.4, 0.433, 0.167].
    np.testing.assert_allclose(r.evaluation.probs[1], [0.4 / 3, 1.7 / 3, 0.9 / 3], rtol=1e-6)
    assert r.evaluation.y_pred.tolist() == [0, 1, 2, 1]
    assert r.evaluation.accuracy == 1.0
    # Members: a predicts 0, 1, 2, 0 (3/4); b 0, 2, 2, 1 (3/4); c 1, 1, 2, 0 (2/4).
    assert [m.accuracy for m in r.members] == [0.75, 0.75, 0.5]
    want_loss = -np.mean(np.log([0.5, 1.7 / 3, 0.6, 1.3 / 3]))
    assert r.loss == pytest.approx(want_loss, rel=1e-6)
    assert r.member_losses[0] == pytest.approx(-np.mean(np.log([0.7, 0.8, 0.4, 0.4])), rel=1e-6)
    assert r.disagreements.tolist() == [0, 1, 3]  # image 2: all three say class 2
    assert r.member_predictions(3).tolist() == [0, 1, 0]


def test_the_vote_counts_argmaxes_and_breaks_ties_by_mean_probability() -> None:
    probs, y = _case()
    r = combine(probs, y)
    # Image 0: votes 0, 0, 1 → 0. Image 1: 1, 2, 1 → 1. Image 3: 0, 1, 0 → 0 (wrong).
    assert r.vote.tolist() == [0, 1, 2, 0] and r.vote_accuracy == 0.75
    # Two members, one vote each: the class with the higher mean probability wins.
    tie = np.array([[[0.6, 0.4]], [[0.45, 0.55]]], np.float32)  # means 0.525 / 0.475
    assert majority_vote(tie).tolist() == [0]
    assert majority_vote(tie[::-1]).tolist() == [0]


def test_one_member_is_that_model_and_bad_shapes_are_refused() -> None:
    probs, y = _case()
    r = combine(probs[:1], y)
    assert r.evaluation.accuracy == r.members[0].accuracy and r.disagreements.size == 0
    np.testing.assert_array_equal(r.vote, probs[0].argmax(axis=1))
    with pytest.raises(ValueError, match=r"\(M, N, K\)"):
        combine(probs[0], y)
    assert np.isnan(nll(np.zeros((0, 3)), np.zeros(0)))
    assert np.isfinite(nll(np.array([[1.0, 0.0]]), np.array([1])))  # a confident miss stays finite


def test_training_members_stops_between_steps_and_keeps_the_finished_ones(tmp_path) -> None:
    import json
    import threading

    from convscope.config import ArchSpec, TrainConfig
    from convscope.data.dataset import load_dataset
    from convscope.train.members import train_members

    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=rng.integers(0, 256, (96, 8, 8, 1), dtype=np.uint8), y_train=np.arange(96) % 3)
    ds = load_dataset(str(path), val_fraction=0.25, seed=0)
    arch = ArchSpec.uniform(blocks=1, filters=2, dense=(), input_shape=ds.image_shape, num_classes=3)
    stop = threading.Event()
    seen = []

    def progress(p) -> None:
        seen.append(p.member)
        if p.member == 1:
            stop.set()  # the second member: stop it

    done = train_members(arch, TrainConfig(batch_size=8, log_every=1), ds, 3, 2.0, tmp_path / "runs", stop=stop,
                         progress=progress)  # fmt: skip
    assert len(done) == 1 and 1 in seen and 2 not in seen
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 2  # the third never started
    statuses = sorted(json.loads((r / "run.json").read_text())["status"] for r in runs)
    assert statuses == ["finished", "interrupted"]
    with pytest.raises(ValueError, match="2 to 20 members"):
        train_members(arch, TrainConfig(), ds, 1, 1.0, tmp_path / "r2")
