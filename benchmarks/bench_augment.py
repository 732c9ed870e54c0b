"""What augmentation costs: per batch on its own, and as a share of a training step.

For each model (the default model on the built-in digits; the CIFAR-tutorial net on
random 32×32×3 images) and each augmentation on its own, then all together:

* ``aug ms``: the jitted augmentation + normalization of one batch alone (median),
  and that as a share of a training step with augmentation off (``aug/step``);
* ``step ms``: one training step (the real ``train_chunk``, STEPS_PER_CALL steps
  per call, divided) with that augmentation, and its extra time over augmentation
  off, as a share of the step (noisy on a loaded machine: settings run round robin).

Every setting runs through the *same* compiled step (the strengths are traced), so
the compile count printed at the end must be 1 per model. Usage::

    PYTHONPATH=. python benchmarks/bench_augment.py [--batch 128] [--windows 5] [--calls 10]
"""

from __future__ import annotations

import argparse
import time

SETTINGS = {
    "off": {"augment": False},
    "shift 2": {"augment_shift": 2},
    "flip 0.5": {"augment_shift": 0, "augment_flip": 0.5},
    "rotate 15°": {"augment_shift": 0, "augment_rotate": 15.0},
    "zoom 0.2": {"augment_shift": 0, "augment_zoom": 0.2},
    "brightness 0.2": {"augment_shift": 0, "augment_brightness": 0.2},
    "contrast 0.2": {"augment_shift": 0, "augment_contrast": 0.2},
    "saturation 0.3": {"augment_shift": 0, "augment_saturation": 0.3},
    "all": {"augment_shift": 2, "augment_flip": 0.5, "augment_rotate": 15.0, "augment_zoom": 0.2,
            "augment_brightness": 0.2, "augment_contrast": 0.2, "augment_saturation": 0.3},
}


def model_and_data(name: str):
    import numpy as np

    from convscope.config import ArchSpec, ConvLayer

    if name == "default":
        from convscope.data import builtin_mnist

        return ArchSpec(), builtin_mnist().x_train
    spec = ArchSpec(  # the Keras CIFAR-10 tutorial net (benchmarks/bench_training.py)
        input_shape=(32, 32, 3),
        convs=(
            ConvLayer(32, 3, padding="same", pool="none"),
            ConvLayer(32, 3, padding="valid"),
            ConvLayer(32, 3, padding="same", pool="none"),
            ConvLayer(32, 3, padding="valid"),
        ),
        dense=(256,),
    )
    return spec, np.random.default_rng(0).integers(0, 256, (4096, 32, 32, 3), dtype=np.uint8)


def median_ms(fn, windows: int, reps: int) -> float:
    import numpy as np

    times = []
    for _ in range(windows):
        t = time.perf_counter()
        for _ in range(reps):
            fn()
        times.append((time.perf_counter() - t) / reps * 1e3)
    return float(np.median(times))


def run(name: str, batch: int, windows: int, calls: int) -> None:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from convscope.config import TrainConfig
    from convscope.model import init
    from convscope.train.augment import augment_and_normalize
    from convscope.train.step import STEPS_PER_CALL, build_steps, init_opt_states, live_hparams

    spec, x_host = model_and_data(name)
    rng = np.random.default_rng(0)
    x = jnp.asarray(x_host)
    y = jnp.asarray(rng.integers(0, spec.num_classes, len(x_host)).astype(np.int32))
    c = spec.input_shape[2]
    norm = jnp.asarray(np.array([[0.5] * c, [0.25] * c], np.float32))
    fns = build_steps(spec)
    params, state = init(spec, 0)
    opt = init_opt_states(fns.optimizers, params)
    k = STEPS_PER_CALL
    keys = jax.random.split(jax.random.key(0), k)
    active = np.ones(k, bool)
    idx = [np.stack([rng.permutation(len(x_host))[:batch] for _ in range(k)]).astype(np.int32)
           for _ in range(calls)]
    aug = jax.jit(augment_and_normalize)
    xb = x[idx[0][0]]
    hps = {label: live_hparams(TrainConfig(batch_size=batch, **changes)) for label, changes in SETTINGS.items()}
    carry = [params, state, opt]

    def steps(hp) -> None:
        for i in range(calls):
            carry[0], carry[1], carry[2], loss, *_ = fns.train_chunk(*carry, x, y, idx[i], active, norm, hp, keys)
        jax.block_until_ready(loss)

    aug_ms, step_ms = {}, {label: [] for label in SETTINGS}
    for label, hp in hps.items():
        jax.block_until_ready(aug(xb, keys[0], hp, norm))
        aug_ms[label] = median_ms(lambda hp=hp: jax.block_until_ready(aug(xb, keys[0], hp, norm)), windows, 20)
    steps(hps["off"])  # compiles, once: every setting runs through this one step
    # Round robin, so that load drifting on a shared machine hits every setting alike.
    for _ in range(windows):
        for label, hp in hps.items():
            t = time.perf_counter()
            steps(hp)
            step_ms[label].append((time.perf_counter() - t) / (calls * k) * 1e3)
    base = float(np.median(step_ms["off"]))
    print(f"\n{name}: {spec.input_shape}, batch {batch}, {jax.devices()[0].platform}")
    print(f"{'augmentation':<16} {'aug ms':>7} {'aug/step':>9} {'step ms':>8} {'extra':>7}")
    for label in SETTINGS:
        ms = float(np.median(step_ms[label]))
        print(f"{label:<16} {aug_ms[label]:7.2f} {aug_ms[label] / base * 100:8.1f}% {ms:8.2f} "
              f"{(ms - base) / ms * 100:6.1f}%")
    print(f"compiled train steps: {fns.traces['train']} (must be 1)")


def preview_cost(windows: int) -> None:
    """The live preview: compile once, then one 4×8 grid per control move (worker thread),
    and what the GUI thread does with it (mosaic + QImage; painting is Qt's)."""
    import numpy as np

    from convscope.config import TrainConfig
    from convscope.train.augment import augment_preview
    from convscope.ui.panels.augment_preview import preview_mosaic

    cfg = TrainConfig(**SETTINGS["all"])
    print("\npreview (32 examples)   compile ms   grid ms   mosaic ms")
    for shape in ((28, 28, 1), (32, 32, 3)):
        x = np.random.default_rng(0).integers(0, 256, (32, *shape), dtype=np.uint8)
        t = time.perf_counter()
        augment_preview(cfg, x, 0)
        compile_ms = (time.perf_counter() - t) * 1e3
        grid_ms = median_ms(lambda x=x: augment_preview(cfg, x, 1), windows, 20)
        out = augment_preview(cfg, x, 1)
        mosaic_ms = median_ms(lambda out=out: preview_mosaic(out, 4, 8), windows, 20)
        print(f"{str(shape):<24} {compile_ms:10.0f} {grid_ms:9.2f} {mosaic_ms:11.3f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["default", "cifar_tutorial"], choices=["default", "cifar_tutorial"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--calls", type=int, default=10)
    args = ap.parse_args()
    import convscope  # noqa: F401  (sets XLA_FLAGS before jax is imported)

    preview_cost(args.windows)
    for name in args.models:
        run(name, args.batch, args.windows, args.calls)


if __name__ == "__main__":
    main()
