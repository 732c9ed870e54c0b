"""The PyTorch twin of bench_training.py's three models, for a side-by-side comparison
on the same machine. Run by ``bench_training.py --torch PYTHON`` with a Python that
has torch (never a dependency of ConvScope: ``pip install torch==2.13.0`` into a venv of
its own; check with ``--dry-run`` that no ``nvidia-*`` package comes with it). Imports
nothing of ConvScope.

    /path/to/torch-venv/bin/python benchmarks/bench_torch.py MODEL BATCH WINDOWS STEPS

Same architectures, Adam (lr 1e-3), dropout 0.25 after the hidden dense layer, a batch
of uint8 images gathered and standardised on the fly, as ConvScope's step does; the
best of NCHW and channels_last. Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
from torch import nn


def model(name: str) -> tuple[nn.Module, tuple[int, int, int]]:
    relu, pool = nn.ReLU, lambda: nn.MaxPool2d(2)
    if name == "default":  # conv 3×3×32 same, pool, conv 3×3×64 same, pool, dense 128
        layers = [nn.Conv2d(1, 32, 3, padding=1), relu(), pool(), nn.Conv2d(32, 64, 3, padding=1), relu(), pool(),
                  nn.Flatten(), nn.Linear(7 * 7 * 64, 128), relu(), nn.Dropout(0.25), nn.Linear(128, 10)]  # fmt: skip
        return nn.Sequential(*layers), (28, 28, 1)
    if name == "mnist_tutorial":  # conv 5×5×25 valid, pool, conv 5×5×25, pool, conv 4×4×25, dense 50
        layers = [nn.Conv2d(1, 25, 5), relu(), pool(), nn.Conv2d(25, 25, 5), relu(), pool(), nn.Conv2d(25, 25, 4),
                  relu(), nn.Flatten(), nn.Linear(25, 50), relu(), nn.Dropout(0.25), nn.Linear(50, 10)]  # fmt: skip
        return nn.Sequential(*layers), (28, 28, 1)
    if name == "cifar_tutorial":  # conv 3×3×32 same, valid+pool, same, valid+pool, dense 256
        layers = [nn.Conv2d(3, 32, 3, padding=1), relu(), nn.Conv2d(32, 32, 3), relu(), pool(),
                  nn.Conv2d(32, 32, 3, padding=1), relu(), nn.Conv2d(32, 32, 3), relu(), pool(), nn.Flatten(),
                  nn.Linear(6 * 6 * 32, 256), relu(), nn.Dropout(0.25), nn.Linear(256, 10)]  # fmt: skip
        return nn.Sequential(*layers), (32, 32, 3)
    raise ValueError(name)


def rate(name: str, batch: int, windows: int, steps: int, channels_last: bool) -> float:
    torch.manual_seed(0)
    net, (h, w, c) = model(name)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = net.to(memory_format=fmt)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    x_all = torch.from_numpy(rng.integers(0, 256, (4096, h, w, c), dtype=np.uint8))
    y_all = torch.from_numpy(rng.integers(0, 10, 4096).astype(np.int64))
    mean, std = 0.5, 0.25
    idx = [torch.from_numpy(rng.permutation(4096)[:batch]) for _ in range(steps)]
    loss_fn = nn.CrossEntropyLoss()

    def step(i: torch.Tensor) -> torch.Tensor:
        xb = (x_all[i].float() / 255.0 - mean) / std  # NHWC uint8 → standardised float
        xb = xb.permute(0, 3, 1, 2).contiguous(memory_format=fmt)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xb), y_all[i])
        loss.backward()
        opt.step()
        return loss

    for i in idx[:3]:
        step(i)  # warm up
    rates = []
    for _ in range(windows):
        t = time.perf_counter()
        for i in idx:
            loss = step(i)
        float(loss)
        rates.append(steps * batch / (time.perf_counter() - t))
    return float(np.median(rates))


if __name__ == "__main__":
    name, batch, windows, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    nchw = rate(name, batch, windows, steps, False)
    cl = rate(name, batch, windows, steps, True)
    print(json.dumps({"model": name, "nchw": nchw, "channels_last": cl, "best": max(nchw, cl),
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))  # fmt: skip
