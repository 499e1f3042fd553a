#!/usr/bin/python3
"""Golden masks of the structured pruners SaliencyPruner, LSTMSaliencyPruner and FPGMPruner.

Run with the system PyTorch: /usr/bin/python3 tools/gen_ao_pruner_fixtures.py [--out PATH]
Writes tests/fixtures/ao_pruners.json, read by tests/ao/test_pruners.cpp.

PyTorch 1.13 predates these pruners (torch.ao.pruning._experimental.pruner arrived in 2.x), so this
script does not call them: it re-derives each update_mask from the description in
shared/spec/pytorch_pruning_facts.md section 6 with 1.13's tensor ops (Tensor.norm, torch.cdist,
Tensor.topk, torch.split) and Python's own int() and round(). What it pins down is therefore the
parts twig must reproduce exactly: the rounding of the number of rows (int() truncates for the
saliency pruners, round() is half-to-even for FPGM), which rows topk picks among equal scores (CPU
topk, sorted or not as the pruners call it), the cumulative effect of the current mask on the
scores, and the errors (topk's k out of range, split's size 0).

Every case is one weight (given as float values, with its shape and dtype) with a starting mask
(a string of '0'/'1', one per row) and a list of steps; a step gives sparsity_level and then either
the mask after it, or the Python exception class name (the mask is then left as it was). The scores
are computed on the masked weight, weight * mask (broadcast over all dims but 0), as the
parametrized weight the pruners read. FPGM cases also give `dist` (1 or 2) and, per step that
computes them, the distances (float64 list) of the masked weight.
(The random draws come from a seeded torch.Generator, so the file is reproducible.)

Sections: saliency, lstm_saliency, fpgm. Weights are small integers in the tie cases (exact norms
and distances, so equal scores are really equal in float32) and random normals elsewhere.
"""
import argparse
import json
import os

import torch


def flat(t):
    return [float(v) for v in t.detach().to(torch.float64).flatten().tolist()]


def mask_string(m):
    return "".join("1" if bool(v) else "0" for v in m.tolist())


def parse_mask(s):
    return torch.tensor([c == "1" for c in s], dtype=torch.bool)


def masked(weight, mask):
    return weight * mask.reshape([-1] + [1] * (weight.dim() - 1))


# ---- the three update_mask rules of spec section 6, re-derived ----------------------------------

def saliency_step(weight, mask, level):
    w = masked(weight, mask)
    if w.dim() <= 1:
        raise ValueError("needs a 2+dim weight")
    saliency = -w.norm(dim=tuple(range(1, w.dim())), p=1)
    k = int(len(mask) * level)
    idx = saliency.topk(k).indices
    mask[idx] = False


def lstm_saliency_step(weight, mask, level):
    w = masked(weight, mask)
    if w.dim() <= 1:
        raise ValueError("needs a 2+dim weight")
    saliency = w.norm(dim=tuple(range(1, w.dim())), p=1)
    size = len(mask) // 4
    chunks = torch.split(mask, size)
    sals = torch.split(saliency, size)
    for chunk, sal in zip(chunks, sals):
        k = int(len(chunk) * level)
        idx = sal.topk(k, largest=False, sorted=False).indices
        chunk[idx] = False


def fpgm_distance(w, dist):
    rows = w.reshape(w.shape[0], -1)  # row r flattened
    return torch.cdist(rows, rows, p=dist).abs().sum(1)


def fpgm_step(weight, mask, level, dist, record):
    if level <= 0:
        mask.fill_(True)
        return
    if level >= 1.0:
        mask.fill_(False)
        return
    w = masked(weight, mask)
    d = fpgm_distance(w, dist)
    record["distance"] = flat(d)
    n = w.shape[0]
    k = min(max(round(level * n), 0), n)
    idx = d.topk(k, largest=False).indices
    mask[idx] = False


# ---- cases ----------------------------------------------------------------------------------------

def run_case(kind, weight, mask0, levels, dist=None, name=""):
    mask = parse_mask(mask0) if isinstance(mask0, str) else torch.ones(weight.shape[0], dtype=torch.bool)
    case = {"name": name, "shape": list(weight.shape), "dtype": str(weight.dtype).replace("torch.", ""),
            "weight": flat(weight), "mask0": mask_string(mask), "steps": []}
    if dist is not None:
        case["dist"] = dist
    for level in levels:
        step = {"sparsity_level": level}
        before = mask.clone()
        try:
            if kind == "saliency":
                saliency_step(weight, mask, level)
            elif kind == "lstm_saliency":
                lstm_saliency_step(weight, mask, level)
            else:
                fpgm_step(weight, mask, level, dist, step)
            step["mask"] = mask_string(mask)
        except Exception as e:  # noqa: BLE001 - the class name is the golden value
            assert torch.equal(mask, before)
            step.pop("distance", None)
            step["error"] = type(e).__name__
        case["steps"].append(step)
    return case


def ints(gen, shape, lo, hi, dtype=torch.float32):
    return torch.randint(lo, hi + 1, shape, generator=gen).to(dtype)


def rows_of(values, shape_tail):
    """Row i filled with values[i] (shape (len(values),) + shape_tail)."""
    v = torch.tensor(values, dtype=torch.float32)
    return v.reshape([-1] + [1] * len(shape_tail)) * torch.ones([len(values)] + list(shape_tail))


def saliency_cases(gen):
    out = []
    out.append(run_case("saliency", rows_of([1, 2, 3, 4], [4]), None, [0.5, 0.5, 1.0], name="seed rows 1..4"))
    out.append(run_case("saliency", ints(gen, (8, 3), -2, 2), None, [0.25, 0.5, 0.5, 0.75, 1.0], name="int ties"))
    out.append(run_case("saliency", torch.ones(6, 4), None, [0.5, 0.5, 0.0], name="all rows equal"))
    out.append(run_case("saliency", rows_of([2, -2, 1, -1, 2, 0, -1], [2, 2]), "1101111", [0.3, 0.6],
                        name="signs, a zero row and a pre-masked row"))
    out.append(run_case("saliency", torch.randn(6, 2, 3, 3, generator=gen), None, [0.5, 0.0, 0.9],
                        name="conv random"))
    out.append(run_case("saliency", rows_of([5, 1, 4, 2, 3], [3]), None, [0.5, 0.99, 1.0],
                        name="floor: int(2.5)=2, int(4.95)=4"))
    out.append(run_case("saliency", torch.randn(10, 7, generator=gen, dtype=torch.float64), None, [0.3, 0.7],
                        name="float64 random"))
    out.append(run_case("saliency", ints(gen, (5, 4), -1, 1), None, [1.5, -0.3, -0.1, 0.4],
                        name="out of range levels"))
    for _ in range(6):
        n = int(torch.randint(2, 20, (1,), generator=gen))
        w = ints(gen, (n, 3), -2, 2) if n % 2 else torch.randn(n, 5, generator=gen)
        levels = [round(float(torch.rand(1, generator=gen)), 3) for _ in range(3)]
        out.append(run_case("saliency", w, None, sorted(levels), name=f"random n={n}"))
    return out


def lstm_cases(gen):
    m = torch.tensor([[1, 1], [2, 2], [2, 2], [1, 1], [-1, -1], [-2, -2], [-2, -2], [-1, -1]], dtype=torch.float32)
    out = [run_case("lstm_saliency", m, None, [0.5], name="seed M")]
    out.append(run_case("lstm_saliency", torch.randn(16, 5, generator=gen), None, [0.5, 0.75], name="random H=4"))
    out.append(run_case("lstm_saliency", ints(gen, (16, 3), -1, 1), None, [0.25, 0.5, 0.75], name="int ties H=4"))
    out.append(run_case("lstm_saliency", torch.ones(32, 2), None, [0.5, 0.5], name="all equal H=8"))
    out.append(run_case("lstm_saliency", ints(gen, (10, 2), -2, 2), None, [0.5], name="len 10: five chunks of 2"))
    out.append(run_case("lstm_saliency", ints(gen, (9, 2), -2, 2), None, [0.5, 1.0], name="len 9: 2,2,2,2,1"))
    out.append(run_case("lstm_saliency", torch.randn(3, 2, generator=gen), None, [0.5], name="len 3: split size 0"))
    out.append(run_case("lstm_saliency", torch.randn(8, 3, generator=gen), None, [0.0, 1.0, 0.5],
                        name="levels 0 and 1"))
    out.append(run_case("lstm_saliency", torch.randn(8, 3, generator=gen), None, [1.5, -0.6, -0.3],
                        name="out of range levels"))
    out.append(run_case("lstm_saliency", ints(gen, (24, 2, 2), -1, 1), "1" * 5 + "0" + "1" * 18, [0.5],
                        name="3-D weight, pre-masked row"))
    return out


def fpgm_cases(gen):
    out = []
    out.append(run_case("fpgm", rows_of([3.0, 2.0, 0.1], [1, 3, 3]), None, [0.3], dist=2, name="seed conv2d1"))
    out.append(run_case("fpgm", rows_of([6.0, 7.0, 0.4, 0.5], [3, 3, 3]), None, [0.5], dist=2,
                        name="seed conv2d2"))
    out.append(run_case("fpgm", rows_of([0, 1, 2], [1, 3, 3]), None, [0.67], dist=2, name="tie 0/2 (p=2, exact)"))
    out.append(run_case("fpgm", rows_of([0, 1, 2, 3, 4], [4]), None, [0.4, 0.5], dist=1, name="ties (p=1)"))
    out.append(run_case("fpgm", torch.ones(4, 2), None, [0.625, 0.875], dist=2,
                        name="half-even: 2.5 -> 2, then 3.5 -> 4"))
    out.append(run_case("fpgm", torch.randn(2, 3, generator=gen), None, [0.25, 0.75], dist=2,
                        name="half-even: 0.5 -> 0, 1.5 -> 2"))
    out.append(run_case("fpgm", torch.randn(6, 3, generator=gen), None, [0.25, 0.0, 0.25, 1.0, -1.0, 1.5],
                        dist=2, name="1.5 -> 2, resets at 0 and 1"))
    out.append(run_case("fpgm", torch.randn(8, 3, 2, 2, generator=gen), "11011111", [0.25, 0.5], dist=1,
                        name="conv p=1, pre-masked row"))
    out.append(run_case("fpgm", torch.randn(10, 6, generator=gen), None, [0.3, 0.6], dist=2, name="linear p=2"))
    out.append(run_case("fpgm", torch.randn(7, 4, generator=gen, dtype=torch.float64), None, [0.5], dist=2,
                        name="float64"))
    out.append(run_case("fpgm", torch.randn(12, generator=gen), None, [0.5], dist=2, name="1-D weight"))
    # Over 25 rows 1.13's cdist (p=2) switches to the |a|^2 + |b|^2 - 2ab form; twig's computes the
    # differences. The distances then differ in the last bits only; the masks must not.
    out.append(run_case("fpgm", torch.randn(40, 8, generator=gen), None, [0.3, 0.6], dist=2,
                        name="40 rows (cdist's matrix-product route)"))
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "ao_pruners.json"))
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(15)
    data = {"torch_version": torch.__version__, "saliency": saliency_cases(gen), "lstm_saliency": lstm_cases(gen),
            "fpgm": fpgm_cases(gen)}
    with open(args.out, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out}: {len(data['saliency'])} saliency, {len(data['lstm_saliency'])} lstm_saliency, "
          f"{len(data['fpgm'])} fpgm cases")


if __name__ == "__main__":
    main()
