"""The PyTorch side of bench/run_serialize.sh: torch.save / torch.load of the same state dict
(64 float32 tensors of 4 MB for 256 MB), best of REPS. Prints: save_s load_s.
    python3 bench_serialize_torch.py FOLDER [MB] [REPS]"""
import os
import sys
import time

import torch

folder = sys.argv[1]
mb = int(sys.argv[2]) if len(sys.argv) > 2 else 256
reps = int(sys.argv[3]) if len(sys.argv) > 3 else 5
path = os.path.join(folder, "bench_torch.pt")
sd = {f"layer{i}.weight": torch.rand(1024, 1024) for i in range(mb // 4)}
best_save = best_load = float("inf")
for _ in range(reps):
    t0 = time.perf_counter()
    torch.save(sd, path)
    best_save = min(best_save, time.perf_counter() - t0)
    t0 = time.perf_counter()
    back = torch.load(path)
    best_load = min(best_load, time.perf_counter() - t0)
    del back
os.remove(path)
print(f"{best_save:.4f} {best_load:.4f}")
