"""Whole-split evaluation: a hand-worked 3-class case, an independent loop-based
reference on random labels, the PR curve against brute-force thresholds, gallery
order, the zero-division conventions, and the batched forward against the Inspector."""

from __future__ import annotations

import numpy as np
import pytest

from convscope.probes.evaluate import (
    Cancelled,
    ClassRanking,
    confusion_matrix,
    evaluate_probs,
    one_vs_rest,
    pr_curve,
    predict_probs,
)


def probs_for(pred: list[int] | np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Probabilities whose argmax is ``pred`` (random, normalised rows)."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.0, 0.5, (len(pred), k))
    p[np.arange(len(pred)), pred] += 1.0
    return (p / p.sum(axis=1, keepdims=True)).astype(np.float32)


# ------------------------------------------------------------------ hand-worked
def test_hand_worked_three_class_case():
    y_true = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 2, 1, 1, 0, 2, 2, 1])
    # rows = true: class 0 → 2 right, one taken for 1, one for 2; and so on.
    want = np.array([[2, 1, 1], [1, 2, 0], [0, 1, 2]])
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3), want)
    ev = evaluate_probs(probs_for(y_pred, 3), y_true)
    np.testing.assert_array_equal(ev.confusion, want)
    np.testing.assert_array_equal(ev.y_pred, y_pred)
    np.testing.assert_array_equal(ev.support, [4, 3, 3])
    np.testing.assert_allclose(ev.precision, [2 / 3, 2 / 4, 2 / 3])
    np.testing.assert_allclose(ev.recall, [2 / 4, 2 / 3, 2 / 3])
    np.testing.assert_allclose(ev.f1, [4 / 7, 4 / 7, 2 / 3])  # e.g. 2·(2/3·1/2)/(2/3+1/2)
    assert ev.accuracy == pytest.approx(0.6)
    assert ev.balanced_accuracy == pytest.approx((1 / 2 + 2 / 3 + 2 / 3) / 3)
    np.testing.assert_allclose(ev.normalized, want / np.array([[4], [3], [3]]))
    assert ev.worst_class() == 0  # 4/7 ties with class 1: the lower index


def test_zero_division_conventions():
    # Class 1 is present but never predicted; class 2 is predicted but absent; class 3
    # is neither present nor predicted.
    y_true = np.array([0, 0, 1, 1])
    y_pred = np.array([0, 2, 0, 0])
    ev = evaluate_probs(probs_for(y_pred, 4), y_true)
    assert np.isnan(ev.precision[1]) and ev.recall[1] == 0 and ev.f1[1] == 0
    assert ev.precision[2] == 0 and np.isnan(ev.recall[2]) and ev.f1[2] == 0
    assert np.isnan(ev.precision[3]) and np.isnan(ev.recall[3]) and np.isnan(ev.f1[3])
    assert ev.precision[0] == pytest.approx(1 / 3) and ev.recall[0] == pytest.approx(1 / 2)
    # Balanced accuracy averages the recall of classes 0 and 1 only (those with examples).
    assert ev.balanced_accuracy == pytest.approx((0.5 + 0.0) / 2)
    np.testing.assert_array_equal(ev.normalized[2], [0, 0, 0, 0])  # an empty row stays 0
    assert ev.worst_class() == 1  # F1 0 for classes 1 and 2; NaN (class 3) never counts
    # One-vs-rest: nothing reaches the threshold → precision NaN; no examples → recall NaN.
    probs = probs_for(y_pred, 4)
    r = one_vs_rest(probs, y_true, 0, threshold=1.01)
    assert (r.tp, r.fp, r.fn, r.tn) == (0, 0, 2, 2) and np.isnan(r.precision) and r.recall == 0
    r3 = one_vs_rest(probs, y_true, 3, threshold=0.0)
    assert r3.fp == 4 and r3.precision == 0 and np.isnan(r3.recall)
    assert np.isnan(pr_curve(probs, y_true, 3).average_precision)


def test_bad_input_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="y_pred holds class 3, outside 0..2"):
        confusion_matrix(np.array([0]), np.array([3]), 3)
    with pytest.raises(ValueError, match="2 labels but y_pred has 1"):
        confusion_matrix(np.array([0, 1]), np.array([1]), 3)
    with pytest.raises(ValueError, match="3 rows of probabilities but 2 labels"):
        evaluate_probs(np.full((3, 2), 0.5), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"class must be in 0..1, got 2"):
        one_vs_rest(np.full((2, 2), 0.5), np.array([0, 1]), 2, 0.5)
    with pytest.raises(ValueError, match="threshold must be a finite number"):
        one_vs_rest(np.full((2, 2), 0.5), np.array([0, 1]), 0, float("nan"))


# ------------------------------------------------------------------ reference on random labels
def reference_metrics(y_true: list[int], y_pred: list[int], k: int) -> dict[str, list[float]]:
    """Plain loops over examples and classes, with the documented conventions."""
    cm = [[0] * k for _ in range(k)]
    for t, p in zip(y_true, y_pred, strict=True):
        cm[t][p] += 1
    out: dict[str, list] = {"cm": cm, "precision": [], "recall": [], "f1": []}
    for c in range(k):
        tp = cm[c][c]
        fp = sum(cm[r][c] for r in range(k) if r != c)
        fn = sum(cm[c][j] for j in range(k) if j != c)
        prec = tp / (tp + fp) if tp + fp else float("nan")
        rec = tp / (tp + fn) if tp + fn else float("nan")
        if tp + fp + fn == 0:
            f1 = float("nan")
        elif tp == 0:
            f1 = 0.0
        else:
            f1 = 2 * prec * rec / (prec + rec)  # the harmonic mean, a different formula
        out["precision"].append(prec)
        out["recall"].append(rec)
        out["f1"].append(f1)
    recalls = [r for r, c in zip(out["recall"], range(k), strict=True) if sum(cm[c])]
    out["balanced"] = sum(recalls) / len(recalls)
    out["accuracy"] = sum(cm[c][c] for c in range(k)) / len(y_true)
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_a_loop_reference_on_random_labels(seed):
    rng = np.random.default_rng(seed)
    k, n = 7, 300
    y_true = rng.integers(0, k - 1, n)  # class k-1 never occurs: exercises the NaN paths
    probs = rng.dirichlet(np.full(k, 0.7), n).astype(np.float32)
    ev = evaluate_probs(probs, y_true)
    y_pred = [max(range(k), key=lambda c, row=row: row[c]) for row in probs.tolist()]
    ref = reference_metrics(y_true.tolist(), y_pred, k)
    np.testing.assert_array_equal(ev.confusion, ref["cm"])
    for key in ("precision", "recall", "f1"):
        np.testing.assert_allclose(getattr(ev, key), ref[key], equal_nan=True, err_msg=key)
    assert ev.accuracy == pytest.approx(ref["accuracy"])
    assert ev.balanced_accuracy == pytest.approx(ref["balanced"])
    assert ev.confusion.sum() == n


# ------------------------------------------------------------------ PR curve and galleries
def test_average_precision_of_a_hand_worked_ranking():
    probs = np.array([[0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.4, 0.6]])
    y = np.array([1, 0, 1, 0])
    curve = pr_curve(probs, y, 1)
    np.testing.assert_allclose(curve.thresholds, [0.9, 0.8, 0.7, 0.6])
    np.testing.assert_allclose(curve.precision, [1, 1 / 2, 2 / 3, 1 / 2])
    np.testing.assert_allclose(curve.recall, [1 / 2, 1 / 2, 1, 1])
    assert curve.average_precision == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)  # 0.8333, as sklearn


@pytest.mark.parametrize("seed", [3, 4])
def test_pr_curve_matches_brute_force_thresholds(seed):
    rng = np.random.default_rng(seed)
    k, n = 4, 200
    y = rng.integers(0, k, n)
    # Rounded scores make many ties: a threshold must take a whole run of equal scores.
    probs = np.round(rng.dirichlet(np.ones(k), n), 2)
    for cls in range(k):
        curve = pr_curve(probs, y, cls)
        s = probs[:, cls]
        ts = sorted(set(s.tolist()), reverse=True)
        np.testing.assert_allclose(curve.thresholds, ts)
        ap, prev_r = 0.0, 0.0
        for i, t in enumerate(ts):
            tp = sum(1 for j in range(n) if s[j] >= t and y[j] == cls)
            fp = sum(1 for j in range(n) if s[j] >= t and y[j] != cls)
            pos = sum(1 for j in range(n) if y[j] == cls)
            assert curve.precision[i] == pytest.approx(tp / (tp + fp))
            assert curve.recall[i] == pytest.approx(tp / pos)
            ap += (tp / pos - prev_r) * tp / (tp + fp)
            prev_r = tp / pos
        assert curve.average_precision == pytest.approx(ap)
        # The counts at a threshold agree with the curve's point for that threshold.
        ranking = ClassRanking(probs, y, cls)
        for i in (0, len(ts) // 2, len(ts) - 1):
            r = ranking.at(ts[i])
            assert r.precision == pytest.approx(curve.precision[i])
            assert r.tp + r.fp + r.fn + r.tn == n


def test_galleries_are_ordered_most_confident_first():
    # p(class 1) per example; labels: 1 = positive.
    p1 = np.array([0.6, 0.9, 0.2, 0.6, 0.05, 0.4, 0.95, 0.3, 0.2])
    y = np.array([1, 0, 1, 1, 0, 0, 1, 1, 0])
    probs = np.stack([1 - p1, p1], axis=1)
    r = one_vs_rest(probs, y, 1, threshold=0.5)
    # Predicted positive (p >= 0.5): by p descending, ties (0.6) by lower index.
    np.testing.assert_array_equal(r.galleries["TP"], [6, 0, 3])
    np.testing.assert_array_equal(r.galleries["FP"], [1])
    # Predicted negative: by 1 - p descending (p ascending), ties (0.2) by lower index.
    np.testing.assert_array_equal(r.galleries["TN"], [4, 8, 5])
    np.testing.assert_array_equal(r.galleries["FN"], [2, 7])
    assert (r.tp, r.fp, r.tn, r.fn) == (3, 1, 3, 2)
    assert r.precision == pytest.approx(3 / 4) and r.recall == pytest.approx(3 / 5)
    # A threshold equal to a score includes it ("p >= t").
    assert 1 in one_vs_rest(probs, y, 1, threshold=0.9).galleries["FP"]
    assert one_vs_rest(probs, y, 1, threshold=0.0).galleries["TN"].size == 0


def test_most_confident_example_of_a_confusion_cell():
    y_true = np.array([3, 3, 3, 0])
    probs = np.full((4, 4), 0.1, np.float32)
    probs[0, 1], probs[1, 1], probs[2, 1] = 0.5, 0.7, 0.7  # all three predicted 1
    probs[3, 0] = 0.7
    ev = evaluate_probs(probs, y_true)
    assert ev.most_confident(3, 1) == 1  # 0.7 ties with example 2: the lower index
    assert ev.most_confident(0, 0) == 3
    assert ev.most_confident(1, 1) is None


# ------------------------------------------------------------------ the forward pass
def test_predict_probs_matches_the_inspector_in_any_chunking():
    from convscope.config import ArchSpec, ConvLayer
    from convscope.model import init
    from convscope.probes.inspect import Inspector
    from convscope.train.step import to_host

    arch = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(8,), batch_norm=True)
    params, state = to_host(init(arch, 5)[0]), to_host(init(arch, 5)[1])
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (70, 28, 28, 1), dtype=np.uint8)
    norm = np.array([[0.13], [0.31]], np.float32)
    _, want = Inspector(arch).run_batch(params, state, norm, images, layers=())
    seen: list[tuple[int, int]] = []
    got = predict_probs(arch, params, state, norm, images, chunk=32, progress=lambda d, t: seen.append((d, t)))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert seen == [(32, 70), (64, 70), (70, 70)]
    np.testing.assert_allclose(predict_probs(arch, params, state, norm, images[:5]), want[:5], rtol=1e-5, atol=1e-6)
    with pytest.raises(Cancelled):
        predict_probs(arch, params, state, norm, images, chunk=32, progress=lambda d, t: d < 64)
    with pytest.raises(ValueError, match=r"expected uint8 images \(N, 28, 28, 1\), got uint8 \(2, 32, 32, 3\)"):
        predict_probs(arch, params, state, norm, np.zeros((2, 32, 32, 3), np.uint8))
    assert predict_probs(arch, params, state, norm, images[:0]).shape == (0, 10)
