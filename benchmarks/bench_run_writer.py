"""What recording a run costs the training it records, and headless memory over a long run.

``writer``: the default model trains headless on the built-in digits for a number of
seconds, alternately with and without a RunWriter observing every event (metrics lines,
run.json, latest.npz every 30 s by default — or ``--checkpoint-every`` — and the
log-spaced history), each in a fresh process; prints examples/s of both, their ratio,
and the writer's own time per event and per checkpoint. Target (issue 12): ≤ 2%.

``memory``: ``run_to_completion`` of a long run (``--epochs``, default 60) with a
RunWriter, printing the process's RSS after every epoch: it must stay flat after
warm-up (issue 17: it grew 128 → 1,224 MB over 60 epochs when every event was kept).

    python benchmarks/bench_run_writer.py writer [--seconds 20] [--repeats 3]
    python benchmarks/bench_run_writer.py memory [--epochs 60]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_writer(seconds: float, record: bool, checkpoint_every: float) -> dict:
    from convscope import events as ev
    from convscope.config import ArchSpec, TrainConfig
    from convscope.data.dataset import load_dataset
    from convscope.runs import RunWriter
    from convscope.train.headless import run_to_completion
    from convscope.train.loop import TrainingLoop

    ds = load_dataset(None)
    arch, config = ArchSpec(), TrainConfig()
    loop = TrainingLoop(arch, config, ds, max_epochs=1e6)
    root = tempfile.mkdtemp(prefix="bench-runs-")
    writer = RunWriter.create(root, arch=arch, config=config, dataset=ds, checkpoint_every_s=checkpoint_every) \
        if record else None
    spent = {"events": 0, "s": 0.0, "ckpt_s": 0.0}
    import threading

    stop = threading.Event()
    t_train0 = None

    def on_event(e):
        nonlocal t_train0
        if isinstance(e, ev.Started):
            t_train0 = time.perf_counter()
        if writer is not None:
            t = time.perf_counter()
            writer.observe(e, loop)
            spent["s"] += time.perf_counter() - t
            spent["events"] += 1
        if t_train0 is not None and time.perf_counter() - t_train0 > seconds:
            stop.set()

    run_to_completion(loop, on_event, stop)
    wall = time.perf_counter() - t_train0
    if writer is not None:
        t = time.perf_counter()
        writer.save_latest(loop)
        spent["ckpt_s"] = time.perf_counter() - t
        writer.finish("stopped")
    return {"examples_per_s": loop.examples_seen / wall, "steps": loop.step, "wall": wall, **spent}


def child_memory(epochs: float) -> dict:
    from convscope import events as ev
    from convscope.config import ArchSpec, TrainConfig
    from convscope.data.dataset import load_dataset
    from convscope.runs import RunWriter
    from convscope.train.headless import run_to_completion
    from convscope.train.loop import TrainingLoop

    ds = load_dataset(None)
    arch, config = ArchSpec(), TrainConfig()
    loop = TrainingLoop(arch, config, ds, max_epochs=epochs)
    writer = RunWriter.create(tempfile.mkdtemp(prefix="bench-runs-"), arch=arch, config=config, dataset=ds)
    curve = []

    def on_event(e):
        writer.observe(e, loop)
        if isinstance(e, ev.StepMetrics) and int(e.epoch) > len(curve) - 1:
            curve.append(round(_rss_mb(), 1))

    run_to_completion(loop, on_event)
    writer.finish("finished", loop)
    return {"rss_mb_per_epoch": curve}


def _child(args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("writer", "memory"))
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--checkpoint-every", type=float, default=30.0)
    ap.add_argument("--epochs", type=float, default=60.0)
    ap.add_argument("--child", action="store_true")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    if args.child:
        result = child_writer(args.seconds, args.record, args.checkpoint_every) if args.mode == "writer" \
            else child_memory(args.epochs)
        print(json.dumps(result))
        return
    if args.mode == "memory":
        r = _child(["memory", "--epochs", str(args.epochs)])
        curve = r["rss_mb_per_epoch"]
        print("RSS (MB) after each epoch:", " ".join(f"{v:.0f}" for v in curve))
        warm = curve[min(2, len(curve) - 1)]
        print(f"after warm-up (epoch 2) {warm:.0f} MB, at the end {curve[-1]:.0f} MB: "
              f"{curve[-1] - warm:+.0f} MB over {len(curve) - 3} epochs")
        return
    base = ["writer", "--seconds", str(args.seconds), "--checkpoint-every", str(args.checkpoint_every)]
    rows = []
    for i in range(args.repeats):
        plain = _child(base)
        rec = _child([*base, "--record"])
        rows.append((plain, rec))
        print(f"[{i + 1}] without {plain['examples_per_s']:,.0f} ex/s   with writer {rec['examples_per_s']:,.0f} ex/s"
              f"   ratio {rec['examples_per_s'] / plain['examples_per_s']:.3f}   writer {rec['s'] * 1e3:.0f} ms over "
              f"{rec['events']} events ({rec['s'] / max(rec['events'], 1) * 1e3:.2f} ms each, "
              f"{rec['s'] / rec['wall'] * 100:.2f}% of the time); one latest.npz {rec['ckpt_s'] * 1e3:.0f} ms")
    ratios = sorted(r['examples_per_s'] / p['examples_per_s'] for p, r in rows)
    shares = sorted(r['s'] / r['wall'] for _, r in rows)
    print(f"median throughput ratio with/without: {ratios[len(ratios) // 2]:.3f}; "
          f"median share of training time in the writer: {shares[len(shares) // 2] * 100:.2f}%")


if __name__ == "__main__":
    main()
