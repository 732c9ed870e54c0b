"""Hostile or odd checkpoints are refused with a message naming the file and what is
wrong, before anything is allocated for them; every ``--checkpoint`` command turns the
refusal into one line on stderr and exit status 2."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
from hostile_checkpoints import HOSTILE, TINY, good_arrays, write

from convscope.cli import main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.shapes import param_shapes, training_memory_bytes
from convscope.train.checkpoint import CheckpointError, load_checkpoint


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_checkpoint_is_refused_with_its_reason(tmp_path, name) -> None:
    path = write(tmp_path, name)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert str(path) in message and HOSTILE[name][1] in message
    assert "\n" not in message and len(message) < 600
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB allocated to refuse {name}"


def test_the_good_file_they_are_built_from_loads(tmp_path) -> None:
    np.savez(tmp_path / "good.npz", **good_arrays(step=11))
    ck = load_checkpoint(tmp_path / "good.npz")
    assert ck.arch == TINY and ck.step == 11 and ck.examples is None and ck.class_names is None
    assert ck.params["conv1"]["w"].dtype == np.float32


def test_float64_and_float16_weights_are_accepted_as_float32(tmp_path) -> None:
    arrays = good_arrays()
    arrays["params/conv1/w"] = arrays["params/conv1/w"].astype(np.float64)
    arrays["params/conv1/b"] = arrays["params/conv1/b"].astype(np.float16)
    np.savez(tmp_path / "mixed.npz", **arrays)
    ck = load_checkpoint(tmp_path / "mixed.npz")
    assert ck.params["conv1"]["w"].dtype == np.float32
    np.testing.assert_array_equal(ck.params["conv1"]["w"], arrays["params/conv1/w"].astype(np.float32))


def test_memory_budget_is_checked_against_the_estimate(tmp_path) -> None:
    np.savez(tmp_path / "good.npz", **good_arrays())
    need = training_memory_bytes(TINY, TrainConfig().batch_size)
    assert load_checkpoint(tmp_path / "good.npz", memory_budget=need).arch == TINY
    with pytest.raises(CheckpointError, match="would need about"):
        load_checkpoint(tmp_path / "good.npz", memory_budget=need - 1)


def test_training_memory_estimate_by_hand() -> None:
    # 28×28×1 → conv 3×3×1×4 (same) → act → max pool 2 → 14×14×4 → flatten 784 → logits 10
    arch = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=())
    weights = 3 * 3 * 1 * 4 + 4 + 784 * 10 + 10
    activations = 784 + 784 * 4 + 784 * 4 + 196 * 4 + 784 + 10
    assert training_memory_bytes(arch, 32) == 4 * (8 * weights + 2 * activations * 32)
    # The default model on the built-in digits is far inside the budget.
    from convscope.train.checkpoint import MEMORY_BUDGET_BYTES

    assert training_memory_bytes(ArchSpec(), 128) < MEMORY_BUDGET_BYTES / 20
    # And so is the default model (ui.app.default_arch) on the largest images a set is
    # resized to (--image-size 256): its checkpoints reopen.
    assert training_memory_bytes(ArchSpec(input_shape=(256, 256, 3)), 128) < MEMORY_BUDGET_BYTES


@pytest.mark.parametrize(
    "arch",
    [
        TINY,
        ArchSpec(),
        ArchSpec(input_shape=(32, 32, 3), convs=(ConvLayer(8, 5, 2, "valid", "avg", 1), ConvLayer(6, 4)),
                 dense=(7, 5), batch_norm=True),
        ArchSpec(input_shape=(9, 9, 2), convs=(), dense=(3,), num_classes=4),
    ],
)
def test_param_shapes_are_the_shapes_init_builds(arch) -> None:
    from convscope.model import init

    params, state = init(arch, 0)
    got_p, got_s = param_shapes(arch)
    assert got_p == {k: {n: tuple(a.shape) for n, a in v.items()} for k, v in params.items()}
    assert got_s == {k: {n: tuple(a.shape) for n, a in v.items()} for k, v in state.items()}


@pytest.mark.parametrize("name", ["complex weights", "string step", "tens of GiB architecture", "deeply nested meta"])
@pytest.mark.parametrize("command", ["gui", "inspect", "evaluate", "landscape"])
def test_every_checkpoint_command_refuses_it_in_one_line(tmp_path, capsys, name, command) -> None:
    from PIL import Image

    path = str(write(tmp_path, name))
    out = str(tmp_path / "out")
    image = tmp_path / "seven.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    argv = {
        "gui": ["gui", "--checkpoint", path],
        "inspect": ["inspect", str(image), "--checkpoint", path, "--out", out],
        "evaluate": ["evaluate", "--checkpoint", path, "--out", out],
        "landscape": ["landscape", "--checkpoint", path, "--out", out, "--resolution", "3"],
    }[command]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convscope: ") and path in err
    assert HOSTILE[name][1] in err and "Traceback" not in err


def test_meta_records_step_examples_and_class_names(tmp_path) -> None:
    from convscope.train.checkpoint import Checkpoint, save_checkpoint

    arrays = good_arrays()
    params, state = param_shapes(TINY)
    ck = Checkpoint(TINY, TrainConfig(), {k: {n: arrays[f"params/{k}/{n}"] for n in v} for k, v in params.items()},
                    {k: {n: arrays[f"state/{k}/{n}"] for n in v} for k, v in state.items()}, 9,
                    examples=1234, class_names=tuple("abcdefghij"))
    path = save_checkpoint(tmp_path / "c.npz", ck)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
    assert meta["step"] == 9 and meta["examples"] == 1234 and meta["class_names"] == list("abcdefghij")
    back = load_checkpoint(path)
    assert back.examples == 1234 and back.class_names == tuple("abcdefghij")
