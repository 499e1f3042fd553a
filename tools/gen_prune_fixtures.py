#!/usr/bin/python3
"""Differential fixtures for tests/prune/test_prune_fixtures.cpp from PyTorch 1.13.

Run with the system PyTorch: /usr/bin/python3 tools/gen_prune_fixtures.py
Writes tests/fixtures/prune.json: randomized cases of torch.nn.utils.prune that twig must match
mask for mask:
  - "single": one float32 parameter `weight` pruned by a sequence of steps (l1_unstructured,
    ln_structured, custom_from_mask to set up an earlier mask), with int and float amounts,
    importance scores, every n and (negative) dim; the expected mask after every step.
  - "global": global_unstructured(L1Unstructured) over several parameters, some already pruned,
    with int and float amounts and importance scores; the expected mask of every parameter.
Ties: the data are random floats, and every case whose selection is near a tie (the k-th and
(k+1)-th candidates of torch.topk within a relative 1e-4) is drawn again, so the expected masks
do not depend on how ties are broken or on rounding differences in the norms.
"""
import json
import math
import os
import random

import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

torch.manual_seed(2024)
rng = random.Random(2024)


class Tie(Exception):
    pass


_topk = torch.topk


def checked_topk(input, k, dim=-1, largest=True, sorted=True):
    """torch.topk that refuses near ties at the selection boundary."""
    v = input.detach().reshape(-1).double()
    n = v.numel()
    if 0 < k < n:
        s = torch.sort(v, descending=largest).values
        a, b = s[k - 1].item(), s[k].item()
        if math.isnan(a) or math.isnan(b) or abs(a - b) <= 1e-4 * max(1.0, abs(a), abs(b)):
            raise Tie()
    return _topk(input, k, dim=dim, largest=largest, sorted=sorted)


torch.topk = checked_topk


def enc(t):
    # 9 significant digits round-trip a float32 exactly.
    return [float(f"{x:.9g}") for x in t.detach().to(torch.float32).reshape(-1).tolist()]


def enc_mask(t):
    return [int(round(x)) for x in t.detach().to(torch.float64).reshape(-1).tolist()]


class Holder(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.weight = nn.Parameter(w.clone())


def enc_n(n):
    if n == "fro":
        return "fro"
    if n == float("inf"):
        return "inf"
    if n == float("-inf"):
        return "-inf"
    return n


def random_amount(size):
    """An int count or a float fraction (halves included, so rounding to even is exercised)."""
    r = rng.random()
    if r < 0.45:
        return rng.randint(0, size)
    choices = [0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 1.0, round(rng.random(), 3)]
    return rng.choice(choices)


def random_shape(min_dims, max_dims, max_size=6):
    nd = rng.randint(min_dims, max_dims)
    return [rng.randint(1 if nd > 2 else 2, max_size) for _ in range(nd)]


def run_single(shape, steps):
    """steps: list of dicts with fn/amount/n/dim/importance/mask; returns the case or raises Tie."""
    w = torch.randn(shape)
    m = Holder(w)
    out_steps = []
    for st in steps:
        imp = torch.randn(shape) if st.get("importance") else None
        rec = {"fn": st["fn"]}
        try:
            apply_step(m, st, imp, rec, shape)
        except (ValueError, IndexError) as e:
            # PyTorch refuses the step (more units than remain, say): twig must raise the same.
            rec["importance"] = enc(imp) if imp is not None else None
            rec["error"] = type(e).__name__
            out_steps.append(rec)
            break
        rec["importance"] = enc(imp) if imp is not None else None
        rec["expected"] = enc_mask(m.weight_mask)
        out_steps.append(rec)
    return {"kind": "single", "shape": list(shape), "weight": enc(w), "steps": out_steps}


def apply_step(m, st, imp, rec, shape):
        if st["fn"] == "l1":
            rec["amount"] = st["amount"]
            prune.l1_unstructured(m, "weight", amount=st["amount"], importance_scores=imp)
        elif st["fn"] == "ln":
            rec.update(amount=st["amount"], n=enc_n(st["n"]), dim=st["dim"])
            prune.ln_structured(m, "weight", amount=st["amount"], n=st["n"], dim=st["dim"], importance_scores=imp)
        elif st["fn"] == "custom":
            mask = (torch.rand(shape) > st["p"]).to(torch.float32)
            prune.custom_from_mask(m, "weight", mask=mask)
            rec["mask"] = enc_mask(mask)


def retry(make, tries=200):
    for _ in range(tries):
        try:
            return make()
        except Tie:
            continue
    raise RuntimeError("could not draw a tie-free case")


cases = []


def add(name, make):
    case = retry(make)
    case["name"] = name
    cases.append(case)


# ---- l1_unstructured, one step (int and float amounts, with and without importance scores) ----
for i in range(60):
    def make(i=i):
        shape = random_shape(1, 4)
        size = math.prod(shape)
        return run_single(shape, [{"fn": "l1", "amount": random_amount(size), "importance": i % 3 == 0}])
    add(f"l1_{i}", make)

# ---- ln_structured over n and dim (negative dims too), int and float amounts ----
NS = [1, 2, 3, 0.5, -1, float("inf"), float("-inf"), "fro"]
i = 0
for n in NS:
    for rep in range(11):
        def make(n=n, rep=rep):
            nd_max = 3 if n == "fro" else 4  # PyTorch 1.13's 'fro' reduces at most 2 dims
            shape = random_shape(2, nd_max)
            nd = len(shape)
            dim = rng.randint(-nd, nd - 1)
            size = shape[dim]
            return run_single(shape, [{"fn": "ln", "amount": random_amount(size), "n": n, "dim": dim,
                                       "importance": rep % 4 == 1}])
        add(f"ln_{i}", make)
        i += 1

# ---- repeated pruning (containers): l1 after l1, ln after l1, l1 after ln, on top of custom masks ----
for i in range(50):
    def make(i=i):
        shape = random_shape(2, 4)
        nd = len(shape)
        size = math.prod(shape)
        steps = []
        if i % 5 == 0:
            steps.append({"fn": "custom", "p": 0.3})
        for _ in range(rng.randint(2, 3)):
            if rng.random() < 0.5:
                steps.append({"fn": "l1", "amount": rng.choice([rng.randint(0, max(0, size // 4)), 0.2, 0.3, 0.5]),
                              "importance": rng.random() < 0.25})
            else:
                dim = rng.randint(-nd, nd - 1)
                n = rng.choice([1, 2, 3, float("inf")])
                steps.append({"fn": "ln", "amount": rng.choice([1, 0.25, 0.3, 0.5]), "n": n, "dim": dim,
                              "importance": rng.random() < 0.25})
        return run_single(shape, steps)
    add(f"repeated_{i}", make)


# ---- global_unstructured ----
def run_global(nparams):
    shapes = [random_shape(1, 4, 5) for _ in range(nparams)]
    ws = [torch.randn(s) for s in shapes]
    mods = [Holder(w) for w in ws]
    pre = []
    for m, s in zip(mods, shapes):
        if rng.random() < 0.3:
            mask = (torch.rand(s) > 0.3).to(torch.float32)
            prune.custom_from_mask(m, "weight", mask=mask)
            pre.append(enc_mask(mask))
        else:
            pre.append(None)
    use_imp = rng.random() < 0.4
    imps = [torch.randn(s) if (use_imp and rng.random() < 0.7) else None for s in shapes]
    total = sum(math.prod(s) for s in shapes)
    remaining = total - sum(len(p) - sum(p) for p in pre if p is not None)
    amount = rng.randint(0, remaining) if rng.random() < 0.5 else rng.choice([0.1, 0.25, 0.5, 0.75, round(rng.random(), 3)])
    scores = {(m, "weight"): imp for m, imp in zip(mods, imps) if imp is not None}
    prune.global_unstructured([(m, "weight") for m in mods], pruning_method=prune.L1Unstructured,
                              importance_scores=scores, amount=amount)
    return {"kind": "global",
            "tensors": [{"shape": s, "weight": enc(w), "pre_mask": p, "importance": enc(imp) if imp is not None else None,
                         "expected": enc_mask(m.weight_mask)}
                        for s, w, p, imp, m in zip(shapes, ws, pre, imps, mods)],
            "amount": amount}


for i in range(45):
    add(f"global_{i}", lambda i=i: run_global(rng.randint(1, 4)))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "prune.json")
with open(out, "w") as f:
    json.dump({"generator": "tools/gen_prune_fixtures.py", "torch": torch.__version__, "cases": cases}, f,
              separators=(",", ":"))
print(f"wrote {len(cases)} cases to {os.path.normpath(out)} ({os.path.getsize(out)} bytes)")
