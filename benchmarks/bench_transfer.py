"""Transfer learning measured: from scratch vs fine-tuned vs classifier-only (issue 16).

Two transfers, each with the default model and training settings:

* **digits → colours**: a model trained on the built-in digits (28×28 grey) starts a run
  on the built-in colour set (32×32 RGB, other classes): conv1 adapted grey → colour,
  conv2 copied, dense1 rebuilt (its input grows from 3,136 to 4,096 features with the
  bigger images) and the classifier rebuilt;
* **digits 0-4 → digits 5-9**: the built-in digits split by class into two .npz files
  (``--write-halves DIR`` writes them; ``convscope train --data`` reads them), the model
  trained on one half starts a run on the other: every layer copied but the classifier.

Each target is trained three ways for ``--steps`` steps: from scratch, fine-tuned (every
layer trains from the source's weights) and classifier-only (every layer the transfer
copied or adapted is frozen; only the rebuilt ones train). The validation accuracy at a
few steps is printed as a Markdown table (README, "Transfer learning").

    .venv/bin/python benchmarks/bench_transfer.py [--source-steps 300] [--steps 200]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def halves(out: Path) -> tuple[Path, Path]:
    """digits-0to4.npz and digits-5to9.npz from the built-in digits (their own train/val)."""
    from convscope.data import builtin_mnist

    full = builtin_mnist()
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for lo, name in ((0, "digits-0to4.npz"), (5, "digits-5to9.npz")):
        tr = (full.y_train >= lo) & (full.y_train < lo + 5)
        va = (full.y_val >= lo) & (full.y_val < lo + 5)
        path = out / name
        np.savez_compressed(path, x_train=full.x_train[tr], y_train=full.y_train[tr] - lo, x_test=full.x_val[va],
                            y_test=full.y_val[va] - lo, class_names=np.array([str(d) for d in range(lo, lo + 5)]))
        paths.append(path)
    return paths[0], paths[1]


def train(arch, config, dataset, steps: int, evals: list[int], start=None) -> tuple[list[float], float]:
    """Validation accuracy at each of ``evals`` (steps), and the training seconds."""
    from convscope.train.loop import TrainingLoop
    from convscope.train.transfer import start_from

    loop = TrainingLoop(arch, config, dataset)
    if start is None:
        loop.reinitialise()
    else:
        start_from(loop, *start)
    loop.warm_up()
    accs, t0 = [], time.perf_counter()
    for target in evals:
        while loop.step < target:
            loop._dispatch(min(2, target - loop.step))  # noqa: SLF001
        accs.append(loop.evaluate()[1])
    return accs, time.perf_counter() - t0


def experiment(label: str, source_data, target_data, args, evals: list[int]) -> list[str]:
    from convscope.config import ArchSpec, TrainConfig
    from convscope.train.loop import TrainingLoop
    from convscope.train.transfer import fit_arch, plan

    config = TrainConfig(eval_every=10**6, seed=args.seed)
    src_arch = fit_arch(ArchSpec(), source_data.image_shape, source_data.num_classes)
    t0 = time.perf_counter()
    source = TrainingLoop(src_arch, config, source_data)
    source.reinitialise()
    while source.step < args.source_steps:
        source._dispatch(2)  # noqa: SLF001
    src_acc = source.evaluate()[1]
    ckpt = source.checkpoint()
    print(f"{label}: source {source_data.name} {src_acc:.3f} after {source.step} steps "
          f"({time.perf_counter() - t0:.0f} s)", flush=True)
    arch = fit_arch(src_arch, target_data.image_shape, target_data.num_classes)
    params, state, transfer = plan(ckpt, "source", arch, tuple(target_data.class_names), seed=config.seed)
    print("  " + "; ".join(m.line() for m in transfer.moves), flush=True)
    kept = tuple(m.layer for m in transfer.moves if m.action in ("copied", "adapted") and not m.layer.startswith("bn"))
    rows = []
    for how, cfg, start in (("from scratch", config, None), ("fine-tuned", config, (params, state)),
                            (f"classifier-only (frozen: {', '.join(kept)})", config.replace(frozen=kept),
                             (params, state))):
        accs, secs = train(arch, cfg, target_data, args.steps, evals, start)
        rows.append(f"| {label} | {how} | " + " | ".join(f"{a:.1%}" for a in accs) + f" | {secs:.0f} s |")
        print(rows[-1], flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source-steps", type=int, default=300)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--write-halves", metavar="DIR", default="/tmp/convscope-halves",
                    help="where the two digit halves (.npz) are written (default /tmp/convscope-halves)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the models and the batches (default 0)")
    ap.add_argument("--only", choices=("colours", "halves"), help="run one experiment")
    args = ap.parse_args()
    from convscope.data import builtin_mnist
    from convscope.data.dataset import load_dataset
    from convscope.data.synthetic import builtin_colors

    evals = sorted({s for s in (25, 50, 100, args.steps) if s <= args.steps})
    rows = []
    if args.only in (None, "colours"):
        rows += experiment("digits → colours", builtin_mnist(), builtin_colors(), args, evals)
    if args.only in (None, "halves"):
        a, b = halves(Path(args.write_halves))
        rows += experiment("digits 0-4 → 5-9", load_dataset(str(a)), load_dataset(str(b)), args, evals)
    print()
    print("| transfer | target trained | " + " | ".join(f"val acc @ {s}" for s in evals) + " | time |")
    print("| --- | --- | " + " | ".join("---" for _ in evals) + " | --- |")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
