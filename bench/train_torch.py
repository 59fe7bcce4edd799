"""PyTorch side of `npm run bench:train`: the seed CNN trained with Adam on the digits the TS bench
wrote, for each thread count and batch size; prints one JSON object per measurement on stdout.

usage: train_torch.py DIR LR REPEATS THREADS[,THREADS..] BATCH[,BATCH..]
(bench/train.ts runs one interpreter per thread count: torch sizes its thread pools at first use.)
DIR holds x.f32 (n*28*28 float32, NHWC = NCHW for one channel) and y.i32 (n int32 labels).
"""
import json
import sys
import time

import numpy as np
import torch
from torch import nn


def seed_cnn() -> nn.Module:
    # Same layers as shared/model/seed-cnn.ts; flatten order differs (NCHW) but not the cost.
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 64), nn.ReLU(), nn.Linear(64, 10),
    )


def one_epoch(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(x.shape[0])
    t0 = time.perf_counter()
    for start in range(0, x.shape[0], batch):
        idx = order[start:start + batch]
        opt.zero_grad()
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        loss.item()  # the TS loop reads every step's loss too
    return time.perf_counter() - t0


def main() -> None:
    folder, lr, repeats, threads, batches = sys.argv[1:6]
    x = torch.from_numpy(np.fromfile(f"{folder}/x.f32", dtype=np.float32)).reshape(-1, 1, 28, 28)
    y = torch.from_numpy(np.fromfile(f"{folder}/y.i32", dtype=np.int32).astype(np.int64))
    torch.manual_seed(1)
    for t in [int(v) for v in threads.split(",")]:
        torch.set_num_threads(t)
        for batch in [int(v) for v in batches.split(",")]:
            model = seed_cnn()
            opt = torch.optim.Adam(model.parameters(), lr=float(lr))
            one_epoch(model, opt, x[: 2 * batch], y[: 2 * batch], batch)  # warm-up
            seconds = min(one_epoch(model, opt, x, y, batch) for _ in range(int(repeats)))
            print(json.dumps({"threads": t, "batch": batch, "samples": int(x.shape[0]), "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main()
