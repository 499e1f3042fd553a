#!/usr/bin/python3
"""PyTorch 1.13 peer of bench/bench_prune.cpp: the same cases, the same output lines.
Usage: /usr/bin/python3 bench/peer/bench_prune_torch.py [threads] [reps]"""
import sys
import time

import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

threads = int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads()
reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(threads)


class Holder(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.weight = nn.Parameter(w)


def best(reps, make, run):
    b = float("inf")
    for r in range(reps + 1):
        m = make()
        t0 = time.perf_counter()
        run(m)
        t = time.perf_counter() - t0
        if r > 0:
            b = min(b, t)
    return b


g = torch.Generator().manual_seed(0)
for n in (1024, 4096):
    w = torch.randn(n, n, generator=g)
    make = lambda: Holder(w.clone())
    sz = f"{n}x{n}"
    print(f"l1_unstructured_{sz} {best(reps, make, lambda m: prune.l1_unstructured(m, 'weight', amount=0.5)):.6f}")
    print(f"ln_structured_dim0_{sz} {best(reps, make, lambda m: prune.ln_structured(m, 'weight', amount=0.5, n=2, dim=0)):.6f}")
    print(f"ln_structured_dim1_{sz} {best(reps, make, lambda m: prune.ln_structured(m, 'weight', amount=0.5, n=1, dim=-1)):.6f}")


def lenet():
    return [nn.Conv2d(1, 6, 5), nn.Conv2d(6, 16, 5), nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)]


def run_global(ms):
    prune.global_unstructured([(m, "weight") for m in ms], pruning_method=prune.L1Unstructured, amount=0.2)


print(f"global_unstructured_lenet5 {best(reps * 4, lenet, run_global):.6f}")
