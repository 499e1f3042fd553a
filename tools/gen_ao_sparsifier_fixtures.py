#!/usr/bin/python3
"""Golden masks of torch.ao.sparsity's WeightNormSparsifier and NearlyDiagonalSparsifier (PyTorch 1.13).

Run with the system PyTorch: /usr/bin/python3 tools/gen_ao_sparsifier_fixtures.py [--out PATH]
Writes tests/fixtures/ao_weight_norm.json, read by tests/ao/test_sparsifier_wn.cpp.

Every case is a one-layer model `Sequential(Linear(w, h, bias=False))` whose weight (h, w) is given
(float32 values, exactly representable in JSON as doubles), prepared with the config
[{"tensor_fqn": "0.weight"}] and stepped several times. Before a step the group's hyper-parameters
may be changed (as a scheduler does: groups[0]["sparsity_level"] = ...) and the original weight may
be replaced (as training does), so later masks depend on the masked weight of the earlier steps.

Sections:
  weight_norm      ctor {sparsity_level, sparse_block_shape, zeros_per_block (null: default),
                   norm: null | 1 | 2 | "x4" ((x*x)*(x*x))}, weight, steps: [{set: {group key: value},
                   original (optional new weight), then either mask (a string of '0'/'1', row-major) + dtype, or
                   error (the Python exception class name)}]. After an error the mask is unchanged.
  nearly_diagonal  ctor {nearliness}, weight, steps as above.
  ctor_errors      WeightNormSparsifier(norm=p) for p that raise: {norm, error}.

The random draws use Python's `random` with a fixed seed and torch.manual_seed, so the file is
reproducible. Ties: some weights are small integers, so equal scores are common and the masks
record which blocks PyTorch's topk picks among equals.
"""
import argparse
import json
import os
import random
import warnings

import torch
import torch.nn as nn

warnings.filterwarnings("ignore")
from torch.ao.sparsity import NearlyDiagonalSparsifier, WeightNormSparsifier  # noqa: E402


def x4(t):
    sq = t * t
    return sq * sq


NORMS = {None: None, 1: 1, 2: 2, "x4": x4}


def dtype_name(t):
    return {torch.float32: "float32", torch.float64: "float64", torch.bool: "bool"}[t.dtype]


def flat(t):
    return [float(v) for v in t.detach().to(torch.float64).flatten().tolist()]


def mask_string(t):
    """A 0/1 mask as one character per element, row-major."""
    vals = t.detach().to(torch.float64).flatten().tolist()
    assert all(v in (0.0, 1.0) for v in vals)
    return "".join("1" if v else "0" for v in vals)


def make_weight(rng, h, w, kind):
    if kind == "int":
        vals = [float(rng.randint(-3, 3)) for _ in range(h * w)]
        return torch.tensor(vals, dtype=torch.float32).reshape(h, w)
    gen = torch.Generator().manual_seed(rng.randint(0, 2**31 - 1))
    return torch.randn(h, w, generator=gen, dtype=torch.float32)


def run_case(sparsifier, weight, steps):
    """Prepares the one-layer model, runs the steps, and returns the recorded steps."""
    h, w = weight.shape
    model = nn.Sequential(nn.Linear(w, h, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(weight)
    sparsifier.prepare(model, [{"tensor_fqn": "0.weight"}])
    mask = sparsifier.state["0.weight"]["mask"]
    out = []
    for st in steps:
        rec = {"set": st.get("set", {})}
        for k, v in rec["set"].items():
            sparsifier.groups[0][k] = tuple(v) if isinstance(v, list) else v
        if "original" in st:
            with torch.no_grad():
                model[0].parametrizations.weight.original.copy_(st["original"])
            rec["original"] = flat(st["original"])
        before = mask.clone()
        try:
            sparsifier.step()
            assert mask is model[0].parametrizations.weight[0].mask
            assert sparsifier.state["0.weight"]["mask"] is mask
            rec["mask"] = mask_string(mask)
            rec["dtype"] = dtype_name(mask)
        except Exception as e:  # the exception class is the golden value
            assert torch.equal(before, mask), "an error changed the mask"
            rec["error"] = type(e).__name__
            rec["message"] = str(e)
        out.append(rec)
    return out


def weight_norm_cases(rng, scale=1):
    cases = []

    def add(h, w, block, zpb, norm, levels, kind="randn", retrain=False):
        weight = make_weight(rng, h, w, kind)
        ctor = {"sparsity_level": levels[0], "sparse_block_shape": list(block), "zeros_per_block": zpb,
                "norm": norm}
        steps = []
        for i, lv in enumerate(levels):
            st = {"set": {"sparsity_level": lv}} if i > 0 else {}
            if retrain and i > 0:
                st["original"] = make_weight(rng, h, w, kind)
            steps.append(st)
        sp = WeightNormSparsifier(sparsity_level=levels[0], sparse_block_shape=tuple(block),
                                  zeros_per_block=zpb, norm=NORMS[norm])
        cases.append({"ctor": ctor, "weight": flat(weight), "shape": [h, w], "steps": run_case(sp, weight, steps)})

    # Rounding of k = round(level * num_blocks), half to even: 4x8 in 1x4 blocks has 8 blocks.
    for lv in [0.0625, 0.1875, 0.3125, 0.4375, 0.5, 0.5625, 0.9375]:
        add(4, 8, (1, 4), None, None, [lv])
    # 2x2 blocks of a 6x6: 9 blocks; 1/18 * 9 = 0.5 and 3/18 * 9 = 1.5, 5/18 * 9 = 2.5.
    for lv in [1 / 18, 3 / 18, 5 / 18, 0.5]:
        add(6, 6, (2, 2), None, 2, [lv])
    # Levels at and beyond the ends, every zeros_per_block, each norm.
    for block in [(1, 4), (2, 2), (4, 1), (1, 1), (2, 4), (3, 3)]:
        vpb = block[0] * block[1]
        for lv in [-0.5, 0.0, 0.3, 0.5, 1.0, 1.5]:
            zpb = rng.choice([None] + list(range(0, vpb + 1)))
            norm = rng.choice([None, 1, 2, "x4"])
            h, w = block[0] * rng.randint(1, 4), block[1] * rng.randint(1, 4)
            add(h, w, block, zpb, norm, [lv], kind=rng.choice(["randn", "int"]))
    # Random shapes (multiples of the block and not), blocks, zeros_per_block and norms.
    for _ in range(40 * scale):
        block = rng.choice([(1, 4), (2, 2), (4, 1), (1, 2), (2, 1), (1, 1), (2, 3), (4, 4)])
        vpb = block[0] * block[1]
        if rng.random() < 0.7:
            h, w = block[0] * rng.randint(1, 5), block[1] * rng.randint(1, 5)
        else:
            h, w = rng.randint(1, 9), rng.randint(1, 9)
        zpb = rng.choice([None, None] + list(range(0, vpb + 1)))
        norm = rng.choice([None, 1, 2, "x4"])
        levels = [rng.choice([0.0, 1.0, round(rng.random(), 3), 0.5])]
        add(h, w, block, zpb, norm, levels, kind=rng.choice(["randn", "int", "int"]))
    # Many blocks and a small k: torch.topk's partial_sort regime (k * 64 <= n), under ties.
    add(64, 64, (1, 1), None, 1, [0.01, 0.012], kind="int")
    add(32, 128, (1, 4), None, None, [0.01], kind="int")
    add(32, 128, (2, 2), 3, 2, [0.005, 0.01], kind="int")
    # Sequences: later masks score the masked weight of the earlier steps (zero blocks tie).
    add(8, 8, (1, 4), None, None, [0.25, 0.5, 0.5, 0.75, 0.5])
    add(8, 8, (2, 2), 2, 1, [0.3, 0.6, 0.6, 1.0, 0.0, 0.4])
    add(6, 12, (1, 4), 2, "x4", [0.5, 0.5, 1.0, 0.5])
    add(8, 8, (1, 4), None, 2, [0.25, 0.5, 0.75], kind="int")
    add(8, 12, (4, 4), 3, None, [0.5, 0.7, 0.2], retrain=True)
    add(12, 8, (1, 1), None, 1, [0.2, 0.4, 0.6, 0.8], retrain=True)
    add(4, 8, (1, 4), 2, None, [0.5, 0.0, 0.5], kind="int")
    # Bad values: zeros_per_block out of range, block larger than the tensor, not a multiple.
    add(4, 8, (1, 4), 5, None, [0.5])
    add(4, 8, (1, 4), -1, None, [0.5])
    add(2, 2, (4, 4), None, None, [0.5])
    add(2, 2, (4, 4), 3, None, [1.0])
    add(2, 2, (4, 4), None, None, [1.0])
    add(4, 10, (1, 4), None, None, [0.5])
    add(4, 10, (1, 4), 2, None, [1.0])
    add(4, 10, (1, 4), None, None, [1.0, 0.0, 0.5])
    # zeros_per_block changed through the group after a good step: the error keeps the mask.
    weight = make_weight(rng, 4, 8, "randn")
    sp = WeightNormSparsifier(sparsity_level=0.5)
    steps = [{}, {"set": {"zeros_per_block": 7}}, {"set": {"zeros_per_block": 2}}]
    cases.append({"ctor": {"sparsity_level": 0.5, "sparse_block_shape": [1, 4], "zeros_per_block": None,
                           "norm": None},
                  "weight": flat(weight), "shape": [4, 8], "steps": run_case(sp, weight, steps)})
    return cases


def nearly_diagonal_cases(rng):
    cases = []
    for h, w in [(4, 4), (4, 8), (8, 4), (5, 7), (1, 6), (6, 1), (10, 10)]:
        for n in [-1, 0, 1, 2, 3, 5, 7, 9, 13]:
            weight = make_weight(rng, h, w, "randn")
            sp = NearlyDiagonalSparsifier(nearliness=n)
            model_steps = [{}]
            cases.append({"ctor": {"nearliness": n}, "weight": flat(weight), "shape": [h, w],
                          "steps": None, "_sp": sp, "_w": weight, "_st": model_steps})
    for c in cases:
        sp, weight, steps = c.pop("_sp"), c.pop("_w"), c.pop("_st")
        h, w = weight.shape
        model = nn.Sequential(nn.Linear(w, h, bias=False))
        with torch.no_grad():
            model[0].weight.copy_(weight)
        sp.prepare(model, [{"tensor_fqn": "0.weight"}])
        mask = sp.state["0.weight"]["mask"]
        try:
            sp.step()
            c["steps"] = [{"set": {}, "mask": mask_string(mask), "dtype": dtype_name(mask)}]
        except ValueError as e:
            # 1.13 zeroes the mask before it checks nearliness; twig checks first (the mask is kept).
            c["steps"] = [{"set": {}, "error": type(e).__name__, "message": str(e)}]
    return cases


def ctor_errors():
    out = []
    for p in [3, 0, -1, 2.5]:
        try:
            WeightNormSparsifier(norm=p)
            out.append({"norm": p, "error": None})
        except Exception as e:
            out.append({"norm": p, "error": type(e).__name__, "message": str(e)})
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "ao_weight_norm.json"))
    ap.add_argument("--scale", type=int, default=1,
                    help="multiplies the random weight_norm cases (a local stress run; the committed file is 1)")
    args = ap.parse_args()
    rng = random.Random(1413)
    torch.manual_seed(1413)
    data = {
        "torch_version": torch.__version__,
        "weight_norm": weight_norm_cases(rng, args.scale),
        "nearly_diagonal": nearly_diagonal_cases(rng),
        "ctor_errors": ctor_errors(),
    }
    with open(args.out, "w") as f:
        json.dump(data, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out}: {len(data['weight_norm'])} weight_norm, {len(data['nearly_diagonal'])} "
          f"nearly_diagonal cases")


if __name__ == "__main__":
    main()
