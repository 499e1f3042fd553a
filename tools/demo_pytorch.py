#!/usr/bin/env python3
"""`twig demo`'s recipe in PyTorch 1.13, for comparing accuracies seed against seed.

LeNet-5 on Fashion-MNIST, Adam(1e-3), batch 64, N epochs; then global L1 unstructured pruning of
every conv/linear weight to 50, 80 and 90% (each in one shot from the dense model), and ln_structured
(n=2, dim=0) at 50% on every conv/linear except the last; each row, the dense one too, then trains one
more epoch (masks fixed), as twig demo does. Prints one JSON
object per seed with the same `runs` rows as `twig demo --json` (method, sparsity, accuracy).

Usage: tools/demo_pytorch.py [--seeds 0 1 2] [--epochs 3] [--data /usr/share/datasets/fashion-mnist]
Development-time only (needs python3-torch); tools/compare_demo.sh runs it beside twig.
"""
import argparse
import copy
import gzip
import json

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.nn.utils.prune as prune


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(root, split):
    x = torch.from_numpy(read_idx(f"{root}/{split}-images-idx3-ubyte.gz").copy()).float().div(255).unsqueeze(1)
    y = torch.from_numpy(read_idx(f"{root}/{split}-labels-idx1-ubyte.gz").copy()).long()
    return x, y


class LeNet5(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(400, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


def layers(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def train_epoch(model, opt, x, y, gen):
    model.train()
    perm = torch.randperm(len(x), generator=gen)
    for b in range(0, len(x), 64):
        idx = perm[b:b + 64]
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    correct = sum((model(x[b:b + 1000]).argmax(1) == y[b:b + 1000]).sum().item() for b in range(0, len(x), 1000))
    return correct / len(x)


def sparsity(model):
    weights = [m.weight for m in layers(model)]
    total = sum(w.numel() for w in weights)
    zeros = sum((w == 0).sum().item() for w in weights)
    return total, zeros


def run(seed, epochs, train, test):
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = LeNet5()
    # One optimizer across the dense epochs and a fresh one per fine-tune, as in twig demo.
    adam = lambda m: torch.optim.Adam(m.parameters(), lr=1e-3)
    opt = adam(model)
    for _ in range(epochs):
        train_epoch(model, opt, *train, gen)
    # Every row starts from the dense model and trains one more epoch with a fresh Adam and the same
    # batch order (seed + 1), the pruned rows with their masks fixed, as in twig demo.
    rows = []

    def row(method, prune_fn):
        m = copy.deepcopy(model)
        if prune_fn:
            prune_fn(m)
        train_epoch(m, adam(m), *train, torch.Generator().manual_seed(seed + 1))
        total, zeros = sparsity(m)
        rows.append({"method": method, "sparsity": zeros / total, "accuracy": accuracy(m, *test)})

    row("dense", None)
    for target in (0.5, 0.8, 0.9):  # one shot from the dense model, a fraction of all weights together
        row("global L1 unstructured",
            lambda m, t=target: prune.global_unstructured([(l, "weight") for l in layers(m)], prune.L1Unstructured, amount=t))

    def structured(m):
        for l in layers(m)[:-1]:
            prune.ln_structured(l, "weight", amount=0.5, n=2, dim=0)

    row("L2 structured (dim 0)", structured)
    return {"seed": seed, "epochs": epochs, "runs": rows}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    train, test = load(args.data, "train"), load(args.data, "t10k")
    for seed in args.seeds:
        print(json.dumps(run(seed, args.epochs, train, test)), flush=True)


if __name__ == "__main__":
    main()
