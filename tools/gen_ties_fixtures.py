#!/usr/bin/python3
"""Fixtures for the tie-breaking of twig's selections, from PyTorch 1.13 on CPU.

Run with the system PyTorch: /usr/bin/python3 tools/gen_ties_fixtures.py [--out PATH] [--scale N]
Writes tests/fixtures/ties.json, read by tests/tensor/test_ties.cpp and tests/prune/test_prune_ties.cpp.

When several entries are equal, torch.topk / sort / kthvalue return whichever the CPU algorithm
leaves in front (libstdc++'s partial_sort when k * 64 <= n, else nth_element (+ sort); std::sort or
std::stable_sort; a quickselect for kthvalue), and torch.nn.utils.prune masks what topk returns.
The inputs here are mostly ties: a few small integers, zeros of both signs, infinities and NaNs.

Compact encoding: every tensor of values is a string with one character per element, decoded with
the table "alphabet" (character -> number, or "nan" / "inf" / "-inf" / "-0"); masks are strings of
'0' and '1'. Each case lists the dtypes it holds for: PyTorch's answer is computed for float32 and
float64 and stored once when both agree (they do: the comparisons answer the same in both).

Sections:
  topk      shape, dim, values, k, largest, sorted -> indices (flat), out (values string)
  sort      shape, dim, values, descending, stable -> indices (flat)
  kthvalue  shape, dim, values, k, keepdim -> indices (flat), out
  prune     one parameter `weight` pruned by steps (l1 / ln / remove) -> the mask after each step
  global    global_unstructured(L1Unstructured) over several parameters, with earlier and later
            per-parameter steps -> every parameter's mask after each step
--scale N multiplies the number of random cases (for a local stress run; the committed file is
--scale 1).
"""
import argparse
import json
import math
import os
import random

import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

ALPHABET = {str(d): d for d in range(10)}
ALPHABET.update({"a": -1, "b": -2, "c": -3, "d": -4, "e": 0.5, "f": -0.5, "z": "-0",
                 "n": "nan", "p": "inf", "m": "-inf"})


def number(v):
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0": -0.0}.get(v, v) if isinstance(v, str) else v


def decode(s, dtype):
    return torch.tensor([number(ALPHABET[c]) for c in s], dtype=dtype)


def encode(t):
    """The string of t's values; every value must be in the alphabet."""
    out = []
    for x in t.reshape(-1).tolist():
        for ch, v in ALPHABET.items():
            y = number(v)
            if (math.isnan(x) and math.isnan(y)) or (x == y and math.copysign(1, x) == math.copysign(1, y)):
                out.append(ch)
                break
        else:
            raise ValueError(f"value {x} is not in the alphabet")
    return "".join(out)


def mask_string(t):
    vals = t.detach().reshape(-1).tolist()
    assert all(v in (0.0, 1.0) for v in vals)
    return "".join("1" if v else "0" for v in vals)


# Value pools: which characters a random line draws from, and with which weights.
POOLS = [
    "0",                 # all equal
    "11111111a",         # equal magnitudes, both signs
    "0z0z1",             # zeros of both signs and a one
    "0123",              # a few levels
    "0011223abe",
    "000000001",         # mostly zeros
    "0123456789abcd",    # more levels, still many ties on longer lines
    "0011pmnz",          # infinities and NaNs
    "1n",                # NaNs among equal values
]


def line(rng, n, pool):
    return "".join(rng.choice(pool) for _ in range(n))


def both_dtypes(fn):
    """Runs fn(dtype) for float32 and float64; one record if they agree, else one per dtype."""
    r32, r64 = fn(torch.float32), fn(torch.float64)
    if r32 == r64:
        r32["dtypes"] = ["float32", "float64"]
        return [r32]
    r32["dtypes"], r64["dtypes"] = ["float32"], ["float64"]
    return [r32, r64]


def ks_for(n):
    """k values in both regimes: k * 64 <= n (partial_sort) and above (nth_element)."""
    ks = {0, 1, 2, 3, n // 64, n // 64 + 1, n // 8, n // 3, n // 2, n - 1, n}
    return sorted(k for k in ks if 0 <= k <= n)


def gen_topk(rng, scale):
    out = []
    sizes = [1, 2, 3, 5, 8, 16, 17, 31, 64, 65, 100, 128, 129, 192, 257, 640, 1000]
    for rep in range(2 * scale):
        for n in sizes:
            for k in ks_for(n):
                # Big lines with a big k make long index lists; keep a few of those.
                if n >= 600 and k > 20 and rng.random() < 0.7:
                    continue
                pool = rng.choice(POOLS)
                values = line(rng, n, pool)
                largest, is_sorted = rng.random() < 0.5, rng.random() < 0.5
                shape, dim = [n], 0
                if n <= 65 and rng.random() < 0.3:
                    # A 2-D tensor, selecting along either dim.
                    rows = rng.randint(2, 3)
                    values += "".join(line(rng, n, pool) for _ in range(rows - 1))
                    shape = [rows, n]
                    dim = 1
                    if rng.random() < 0.5:
                        shape, dim = [n, rows], 0
                        values = encode(decode(values, torch.float64).reshape(rows, n).t().contiguous())

                def run(dtype, values=values, shape=shape, dim=dim, k=k, largest=largest, is_sorted=is_sorted):
                    x = decode(values, dtype).reshape(shape)
                    v, i = torch.topk(x, k, dim=dim, largest=largest, sorted=is_sorted)
                    return {"shape": shape, "dim": dim, "values": values, "k": k, "largest": largest,
                            "sorted": is_sorted, "indices": i.reshape(-1).tolist(), "out": encode(v)}

                out += both_dtypes(run)
    return out


def gen_sort(rng, scale):
    out = []
    sizes = [1, 2, 5, 16, 17, 20, 33, 64, 100, 200, 500]
    for rep in range(2 * scale):
        for n in sizes:
            pool = rng.choice(POOLS)
            values = line(rng, n, pool)
            descending, stable = rng.random() < 0.5, rng.random() < 0.3

            def run(dtype, values=values, n=n, descending=descending, stable=stable):
                x = decode(values, dtype)
                v, i = torch.sort(x, dim=0, descending=descending, stable=stable)
                return {"shape": [n], "dim": 0, "values": values, "descending": descending, "stable": stable,
                        "indices": i.tolist()}

            out += both_dtypes(run)
    return out


def gen_kthvalue(rng, scale):
    out = []
    sizes = [1, 2, 3, 4, 7, 10, 25, 64, 150]
    for rep in range(3 * scale):
        for n in sizes:
            rows = rng.randint(1, 8)
            pool = rng.choice(POOLS)
            values = "".join(line(rng, n, pool) for _ in range(rows))
            k = rng.randint(1, n)
            keepdim = rng.random() < 0.3
            shape, dim = [rows, n], 1
            if rng.random() < 0.4:
                shape, dim = [n, rows], 0
                values = encode(decode(values, torch.float64).reshape(rows, n).t().contiguous())

            def run(dtype, values=values, shape=shape, dim=dim, k=k, keepdim=keepdim):
                x = decode(values, dtype).reshape(shape)
                v, i = torch.kthvalue(x, k, dim=dim, keepdim=keepdim)
                return {"shape": shape, "dim": dim, "values": values, "k": k, "keepdim": keepdim,
                        "out_shape": list(v.shape), "indices": i.reshape(-1).tolist(), "out": encode(v)}

            out += both_dtypes(run)
    return out


class Holder(nn.Module):
    def __init__(self, w):
        super().__init__()
        self.weight = nn.Parameter(w.clone())


def norm_arg(n):
    return {"inf": math.inf, "-inf": -math.inf}.get(n, n)


def apply_step(m, st):
    if st["fn"] == "l1":
        prune.l1_unstructured(m, "weight", amount=st["amount"])
    elif st["fn"] == "ln":
        prune.ln_structured(m, "weight", amount=st["amount"], n=norm_arg(st["n"]), dim=st["dim"])
    elif st["fn"] == "remove":
        prune.remove(m, "weight")
    else:
        raise ValueError(st["fn"])


def current_mask(m):
    return mask_string(m.weight_mask) if hasattr(m, "weight_mask") else None


def run_prune(shape, values, steps):
    def run(dtype):
        m = Holder(decode(values, dtype).reshape(shape))
        masks = []
        for st in steps:
            apply_step(m, st)
            masks.append(current_mask(m))
        return {"shape": shape, "values": values, "steps": steps, "masks": masks}
    return both_dtypes(run)


def skip_refused(make):
    """make()'s cases, or none where PyTorch refuses a step (more units asked than remain): the
    refusals are another fixture's subject (prune.json)."""
    try:
        return make()
    except (ValueError, IndexError):
        return []


def amount_for(rng, size):
    if rng.random() < 0.5:
        return rng.randint(1, max(1, size - 1))
    return rng.choice([0.1, 0.25, 0.3, 0.5, 0.6, 0.75, 0.9])


def random_shape(rng, nd, small=False):
    top = 6 if small else 9
    return [rng.randint(2, top) for _ in range(nd)]


def gen_prune(rng, scale):
    out = []
    tie_pools = ["1111a", "11aa22bb", "0z1", "000001", "0123", "1", "0011abe"]
    # One l1_unstructured step: equal magnitudes of many sizes and amounts, both regimes.
    for rep in range(scale):
        for size in [2, 5, 16, 63, 64, 65, 128, 300, 640, 1500]:
            for amount in sorted({1, 2, size // 64, size // 10, size // 2, size - 1, 0.3, 0.7} - {0}):
                if isinstance(amount, int) and amount >= size:
                    continue
                values = line(rng, size, rng.choice(tie_pools))
                out += run_prune([size], values, [{"fn": "l1", "amount": amount}])
    # Every n over channels with equal norms, all-zero channels, either dim; then repeated pruning.
    ns = [1, 2, "inf", "-inf", 0, "fro"]
    for rep in range(4 * scale):
        for n in ns:
            nd = 2 if n == "fro" else rng.randint(2, 3)
            shape = random_shape(rng, nd, small=nd == 3)
            dim = rng.randint(-nd, nd - 1)
            values = line(rng, math.prod(shape), rng.choice(tie_pools))
            steps = [{"fn": "ln", "amount": amount_for(rng, shape[dim]), "n": n, "dim": dim}]
            if rep % 2 == 1:
                # ln on top of l1: -inf then scores every touched channel 0.
                steps.insert(0, {"fn": "l1", "amount": amount_for(rng, math.prod(shape))})
            out += skip_refused(lambda: run_prune(shape, values, steps))
    # Repeated pruning with n=-inf, l1 after ln, and pruning again after remove().
    for rep in range(30 * scale):
        nd = rng.randint(2, 3)
        shape = random_shape(rng, nd, small=nd == 3)
        size = math.prod(shape)
        values = line(rng, size, rng.choice(tie_pools + ["0123456789abcd"]))
        steps = []
        for s in range(rng.randint(2, 4)):
            r = rng.random()
            if r < 0.4:
                dim = rng.randint(-nd, nd - 1)
                steps.append({"fn": "ln", "amount": rng.choice([1, 0.2, 0.3]), "n": rng.choice(["-inf", "-inf", 1, 2]),
                              "dim": dim})
            elif r < 0.85:
                steps.append({"fn": "l1", "amount": rng.choice([1, 2, 0.1, 0.2, 0.3])})
            elif steps and steps[-1]["fn"] != "remove":
                steps.append({"fn": "remove"})
        out += skip_refused(lambda: run_prune(shape, values, steps))
    return out


def gen_global(rng, scale):
    out = []
    for rep in range(24 * scale):
        nparams = rng.randint(2, 4)
        shapes = [random_shape(rng, rng.randint(1, 3), small=True) for _ in range(nparams)]
        pool = rng.choice(["1111a", "11aa22", "0z1", "0123", "001"])
        values = [line(rng, math.prod(s), pool) for s in shapes]
        total = sum(math.prod(s) for s in shapes)
        steps = []
        if rep % 3 == 1:
            steps.append({"fn": "l1", "param": rng.randrange(nparams), "amount": 0.3})
        steps.append({"fn": "global", "amount": rng.choice([1, 3, total // 3, 0.25, 0.5])})
        if rep % 2 == 0:
            steps.append({"fn": "global", "amount": rng.choice([1, 2, 0.2, 0.3])})
        if rep % 4 == 3:
            steps.append({"fn": "l1", "param": rng.randrange(nparams), "amount": 1})

        def run(dtype, shapes=shapes, values=values, steps=steps):
            mods = [Holder(decode(v, dtype).reshape(s)) for v, s in zip(values, shapes)]
            masks = []
            for st in steps:
                if st["fn"] == "global":
                    prune.global_unstructured([(m, "weight") for m in mods], pruning_method=prune.L1Unstructured,
                                              amount=st["amount"])
                else:
                    apply_step(mods[st["param"]], st)
                masks.append([current_mask(m) for m in mods])
            return {"shapes": shapes, "values": values, "steps": steps, "masks": masks}

        out += skip_refused(lambda: both_dtypes(run))
    return out


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "ties.json"))
    ap.add_argument("--scale", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(1313)
    doc = {
        "generator": "tools/gen_ties_fixtures.py",
        "torch": torch.__version__,
        "alphabet": ALPHABET,
        "topk": gen_topk(rng, args.scale),
        "sort": gen_sort(rng, args.scale),
        "kthvalue": gen_kthvalue(rng, args.scale),
        "prune": gen_prune(rng, args.scale),
        "global": gen_global(rng, args.scale),
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    counts = {k: len(v) for k, v in doc.items() if isinstance(v, list)}
    print(f"wrote {args.out}: {counts}, {os.path.getsize(args.out)} bytes")


if __name__ == "__main__":
    main()
