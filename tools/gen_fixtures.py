#!/usr/bin/python3
"""Golden op values from PyTorch 1.13 for tests/tensor/test_torch_fixtures.cpp.

Run with Debian's interpreter (the one torch is installed in):

    /usr/bin/python3 tools/gen_fixtures.py            # writes tests/fixtures/ops.json

The output is deterministic (torch.manual_seed, single thread, fixed case order), so a rerun
gives a byte-identical file unless a case is added or changed.

File format (all shapes are lists, values are flat row-major lists):

    {"generator": ..., "torch": "1.13...", "cases": [case, ...]}
    case = {
      "id": "binary/add/broadcast_f32",   # unique; the C++ test prints it on failure
      "family": "binary",                 # one gtest per family
      "op": "add",                        # key of the C++ op table
      "params": {...},                    # op arguments; a float literal (2.0) is a floating
                                          # Scalar, an integer literal (2) an integral one
      "inputs": [input, ...],
      "outputs": [output, ...],
      "grads": [grad or null, ...]        # only when some input requires grad: one per input
    }
    input  = {"dtype", "shape", "values", "requires_grad",
              "permute": [dims]?          # use values.view(shape).permute(dims)
              "slice": [dim, start, stop, step]?}   # use values.view(shape).slice(...)
    output = {"dtype", "shape", "values", "grad_weight": [values]?}
    grad   = {"dtype", "shape", "values"}: d/d(leaf) of sum_i (outputs[i] * grad_weight[i]).sum(),
             where the leaf is the stored tensor *before* permute/slice.

Floats are written as Python's repr of the float64 value (shortest round-trip form, so every
float32/float64 value is exact); inf / -inf / nan are the strings "inf", "-inf", "nan".
"""

import json
import math
import os
import sys

import torch

torch.manual_seed(0)
torch.set_num_threads(1)

f32, f64, i64, i32, u8, bl = torch.float32, torch.float64, torch.int64, torch.int32, torch.uint8, torch.bool
DTYPE_NAMES = {f32: "float32", f64: "float64", i64: "int64", i32: "int32", u8: "uint8", bl: "bool"}

CASES = []
IDS = set()


# ---- data helpers (all draw from the one seeded global generator) ------------------------------
def randn(*shape, dtype=f32, scale=1.0):
    return (torch.randn(shape, dtype=f64) * scale).to(dtype)


def uniform(lo, hi, *shape, dtype=f32):
    return (torch.rand(shape, dtype=f64) * (hi - lo) + lo).to(dtype)


def pos(*shape, dtype=f32):
    """Strictly positive, away from 0 (log, sqrt, pow bases, divisors)."""
    return uniform(0.5, 2.0, *shape, dtype=dtype)


def away(*shape, dtype=f32):
    """|x| in [0.5, 2] with random sign: away from 0 (abs, relu, sign, divisors)."""
    sign = torch.randint(0, 2, shape).to(f64) * 2 - 1
    return (uniform(0.5, 2.0, *shape, dtype=f64) * sign).to(dtype)


def distinct(*shape, dtype=f32):
    """Distinct values with gaps >= 0.25 (no ties for sort/topk/max, robust to rounding)."""
    n = math.prod(shape)
    v = torch.randperm(n).to(f64) * 0.5 - n * 0.25 + torch.rand(n, dtype=f64) * 0.25
    return v.reshape(shape).to(dtype)


def randint(lo, hi, *shape, dtype=i64):
    return torch.randint(lo, hi, shape).to(dtype)


def bools(*shape, p=0.5):
    return torch.rand(shape) < p


# ---- encoding ----------------------------------------------------------------------------------
def enc_float(x):
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def enc_param(v):
    return enc_float(v) if isinstance(v, float) else v


def enc_values(t):
    t = t.detach().reshape(-1)
    if t.dtype in (f32, f64):
        return [enc_float(float(v)) for v in t.to(f64).tolist()]
    if t.dtype == bl:
        return [bool(v) for v in t.tolist()]
    return [int(v) for v in t.tolist()]


def enc_tensor(t):
    return {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "values": enc_values(t)}


class Inp:
    """One op input: a stored tensor, optionally made non-contiguous before use (permute, then
    slice, then expand), or a large tensor both sides generate from a formula (see generated())."""

    def __init__(self, t, permute=None, slice=None, expand=None, grad=True, formula=None):
        self.t = t
        self.permute = permute
        self.slice = slice
        self.expand = expand
        self.formula = formula
        self.grad = grad and t.dtype in (f32, f64)

    def view(self, leaf):
        v = leaf
        if self.permute is not None:
            v = v.permute(*self.permute)
        if self.slice is not None:
            d, start, stop, step = self.slice
            idx = [builtin_slice(None)] * v.dim()
            idx[d] = builtin_slice(start, stop, step)
            v = v[tuple(idx)]
        if self.expand is not None:
            v = v.expand(*self.expand)
        return v


def generated(*shape, a=7919, m=1000, c=1.0, dtype=f32):
    """x[i] = ((i * a) % m) / (m / 2) - c in float64 (bit-identical in Python and C++: the same two
    correctly rounded operations), then cast to dtype; i is the row-major index. Keeps large inputs
    out of the JSON so that kernels' parallel paths can be checked."""
    assert m % 2 == 0
    n = math.prod(shape)
    x = (torch.arange(n, dtype=i64) * a % m).to(f64) / (m // 2) - c
    return Inp(x.reshape(shape).to(dtype), grad=False, formula={"a": a, "m": m, "c": c})


builtin_slice = slice


def as_inp(x):
    return x if isinstance(x, Inp) else Inp(x)


def add(family, op, name, fn, inputs, params=None, grad=True, keep_requires_grad=False):
    """Runs fn(*inputs, **params) in torch and records the case.

    Float inputs require grad when grad is True. If no output is differentiable (comparisons,
    argmax, ...) they are stored as not requiring grad, unless keep_requires_grad: then the case
    checks that the op accepts inputs that require grad (and returns outputs without history)."""
    params = params or {}
    cid = f"{family}/{op}/{name}"
    assert cid not in IDS, cid
    IDS.add(cid)
    inputs = [as_inp(x) for x in inputs]
    leaves = []
    for inp in inputs:
        leaf = inp.t.detach().clone()
        if grad and inp.grad:
            leaf.requires_grad_(True)
        leaves.append(leaf)
    views = [inp.view(leaf) for inp, leaf in zip(inputs, leaves)]
    out = fn(*views, **params)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]

    differentiable = any(o.requires_grad for o in outs)  # False for comparisons, argmax, ...

    case = {"id": cid, "family": family, "op": op, "params": {k: enc_param(v) for k, v in params.items()}}
    case["inputs"] = []
    for inp, leaf in zip(inputs, leaves):
        e = enc_tensor(inp.t)
        e["requires_grad"] = leaf.requires_grad and (differentiable or keep_requires_grad)
        if inp.formula is not None:
            del e["values"]
            e["formula"] = inp.formula
        if inp.permute is not None:
            e["permute"] = list(inp.permute)
        if inp.slice is not None:
            e["slice"] = list(inp.slice)
        if inp.expand is not None:
            e["expand"] = list(inp.expand)
        case["inputs"].append(e)

    case["outputs"] = []
    loss = None
    for o in outs:
        e = enc_tensor(o)
        if o.requires_grad:
            w = torch.randn(o.shape, dtype=f64).to(o.dtype)
            e["grad_weight"] = enc_values(w)
            term = (o * w).sum()
            loss = term if loss is None else loss + term
        case["outputs"].append(e)

    grad_leaves = [leaf for leaf in leaves if leaf.requires_grad]
    if grad_leaves and differentiable:
        grads = iter(torch.autograd.grad(loss, grad_leaves, allow_unused=True))
        case["grads"] = []
        for leaf in leaves:
            if not leaf.requires_grad:
                case["grads"].append(None)
                continue
            g = next(grads)
            case["grads"].append(None if g is None else enc_tensor(g))
    CASES.append(case)


# ======================================================================================================
# unary: elementwise math
# ======================================================================================================
UNARY = {
    # op: (input maker, also test int64 input?)
    "neg": (randn, True),
    "abs": (away, True),
    "sign": (away, True),
    "exp": (randn, True),
    "log": (pos, False),
    "log1p": (pos, False),
    "expm1": (randn, False),
    "sqrt": (pos, True),
    "rsqrt": (pos, False),
    "reciprocal": (away, False),
    "square": (randn, True),
    "sin": (randn, True),
    "cos": (randn, False),
    "tanh": (randn, False),
    "sigmoid": (randn, True),
    "relu": (away, True),
    "floor": (randn, True),
    "ceil": (randn, False),
    "round": (randn, False),
    "trunc": (randn, False),
    "erf": (randn, False),
}


def unary_cases():
    for op, (maker, with_int) in UNARY.items():
        fn = lambda x, op=op: getattr(x, op)()
        add("unary", op, "f32_3x4", fn, [maker(3, 4)])
        add("unary", op, "f64_2x3", fn, [maker(2, 3, dtype=f64)])
        add("unary", op, "f32_transposed", fn, [Inp(maker(4, 3), permute=[1, 0])])
        if with_int:
            add("unary", op, "i64_5", fn, [randint(1, 6, 5) if op in ("sqrt",) else randint(-5, 6, 5)])
    fn_round = lambda x: x.round()
    add("unary", "round", "halves_to_even", fn_round,
        [torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999997], dtype=f32)])
    add("unary", "exp", "f32_0d", lambda x: x.exp(), [torch.tensor(0.75)])
    add("unary", "sigmoid", "f32_large", lambda x: x.sigmoid(),
        [torch.tensor([-30.0, -10.0, 10.0, 30.0], dtype=f32)])
    add("unary", "tanh", "f32_slice_step2", lambda x: x.tanh(), [Inp(randn(3, 8), slice=[1, 1, 8, 2])])


# ======================================================================================================
# binary: arithmetic, broadcasting, type promotion
# ======================================================================================================
def binary_cases():
    tt = {
        "add": lambda a, b, alpha=1: torch.add(a, b, alpha=alpha),
        "sub": lambda a, b, alpha=1: torch.sub(a, b, alpha=alpha),
        "mul": lambda a, b: a * b,
        "div": lambda a, b: a / b,
        "maximum": lambda a, b: torch.maximum(a, b),
        "minimum": lambda a, b: torch.minimum(a, b),
    }
    for op, fn in tt.items():
        rhs = away if op == "div" else randn
        add("binary", op, "same_f32", fn, [randn(3, 4), rhs(3, 4)])
        add("binary", op, "bcast_f32", fn, [randn(2, 1, 4), rhs(3, 1)])
        add("binary", op, "f64", fn, [randn(2, 3, dtype=f64), rhs(2, 3, dtype=f64)])
        add("binary", op, "noncontig", fn, [Inp(randn(4, 3), permute=[1, 0]), rhs(3, 4)])
        add("binary", op, "f32_0d_tensor", fn, [randn(2, 3), rhs(dtype=f32)])
    add("binary", "add", "alpha_f32", tt["add"], [randn(3), randn(3)], {"alpha": 2.5})
    add("binary", "sub", "alpha_int", tt["sub"], [randn(3), randn(3)], {"alpha": 3})
    add("binary", "add", "i64_plus_f32", tt["add"], [randint(-5, 5, 2, 3), randn(2, 3)])
    add("binary", "mul", "bool_times_f32", tt["mul"], [bools(2, 3), randn(2, 3)])
    add("binary", "add", "i32_plus_i64", tt["add"], [randint(-5, 5, 4, dtype=i32), randint(-5, 5, 4)])
    add("binary", "add", "u8_plus_i32", tt["add"], [randint(0, 200, 4, dtype=u8), randint(-5, 5, 4, dtype=i32)])
    add("binary", "add", "u8_overflow", tt["add"],
        [torch.tensor([250, 100, 3], dtype=u8), torch.tensor([10, 200, 4], dtype=u8)])
    add("binary", "mul", "bool_times_bool", tt["mul"], [bools(5), bools(5)])
    add("binary", "add", "bool_plus_i64", tt["add"], [bools(5), randint(-5, 5, 5)])
    add("binary", "add", "f32_plus_0d_f64", tt["add"], [randn(2, 3), randn(dtype=f64)])
    add("binary", "mul", "i32_times_0d_i64", tt["mul"], [randint(-5, 5, 4, dtype=i32), torch.tensor(3)])
    add("binary", "mul", "i32_times_0d_f64", tt["mul"], [randint(-5, 5, 4, dtype=i32), torch.tensor(1.5, dtype=f64)])
    add("binary", "mul", "f32_times_i64_0d", tt["mul"], [randn(4), torch.tensor(3)])
    add("binary", "add", "f32_plus_f64", tt["add"], [randn(3), randn(3, dtype=f64)])
    add("binary", "div", "i64_true_div", tt["div"], [randint(-9, 10, 6), torch.tensor([2, -3, 4, 5, -7, 3])])
    add("binary", "maximum", "i64", tt["maximum"], [randint(-9, 10, 6), randint(-9, 10, 6)])
    add("binary", "maximum", "i32_f32", tt["maximum"], [randint(-9, 10, 6, dtype=i32), randn(6) * 5])
    add("binary", "add", "bcast_both_f64", tt["add"], [randn(4, 1, dtype=f64), randn(1, 3, dtype=f64)])
    add("binary", "mul", "bcast_0d_0d", tt["mul"], [randn(), randn()])

    # pow
    add("binary", "pow", "f32_tt", lambda a, b: torch.pow(a, b), [pos(3, 4), randn(3, 4)])
    add("binary", "pow", "f64_bcast", lambda a, b: torch.pow(a, b), [pos(2, 3, dtype=f64), randn(3, dtype=f64)])
    add("binary", "pow", "i64_tt", lambda a, b: torch.pow(a, b), [randint(-4, 5, 5), randint(0, 4, 5)])
    ps = lambda a, exponent: torch.pow(a, exponent)
    add("binary", "pow_scalar", "f32_sq", ps, [randn(3, 4)], {"exponent": 2})
    add("binary", "pow_scalar", "f32_cube_float", ps, [randn(3, 4)], {"exponent": 3.0})
    add("binary", "pow_scalar", "f32_half", ps, [pos(5)], {"exponent": 0.5})
    add("binary", "pow_scalar", "f32_neg_frac", ps, [pos(5)], {"exponent": -1.5})
    add("binary", "pow_scalar", "f64_neg_int", ps, [away(5, dtype=f64)], {"exponent": -2})
    add("binary", "pow_scalar", "i64_int", ps, [randint(-4, 5, 5)], {"exponent": 3})
    add("binary", "pow_scalar", "i64_float", ps, [randint(1, 5, 5)], {"exponent": 0.5})
    add("binary", "pow_scalar", "f32_zero_exp", ps, [randn(4)], {"exponent": 0})
    rp = lambda b, base: torch.pow(base, b)
    add("binary", "rpow_scalar", "f32", rp, [randn(5)], {"base": 2.0})
    add("binary", "rpow_scalar", "f32_int_base", rp, [randn(5)], {"base": 3})
    add("binary", "rpow_scalar", "i64_int_base", rp, [randint(0, 5, 5)], {"base": 2})

    # tensor op scalar
    sc = {
        "add_scalar": lambda a, other, alpha=1: torch.add(a, other, alpha=alpha),
        "sub_scalar": lambda a, other, alpha=1: torch.sub(a, other, alpha=alpha),
        "mul_scalar": lambda a, other: a * other,
        "div_scalar": lambda a, other: a / other,
        "rsub_scalar": lambda a, other: other - a,
        "rdiv_scalar": lambda a, other: other / a,
    }
    for op, fn in sc.items():
        x = away if op == "rdiv_scalar" else randn
        add("binary", op, "f32_float", fn, [x(3, 4)], {"other": 1.75})
        add("binary", op, "f32_int", fn, [x(3, 4)], {"other": 3})
        add("binary", op, "i64_int", fn, [randint(1, 9, 5)], {"other": 3})
        add("binary", op, "i64_float", fn, [randint(1, 9, 5)], {"other": 0.5})
    add("binary", "add_scalar", "f32_alpha", sc["add_scalar"], [randn(4)], {"other": 2.0, "alpha": -0.5})
    add("binary", "add_scalar", "bool_int", sc["add_scalar"], [bools(4)], {"other": 2})
    add("binary", "add_scalar", "u8_int", sc["add_scalar"], [randint(0, 100, 4, dtype=u8)], {"other": 7})
    add("binary", "mul_scalar", "f64_bool", sc["mul_scalar"], [randn(4, dtype=f64)], {"other": True})
    add("binary", "mul_scalar", "i32_float", sc["mul_scalar"], [randint(-5, 5, 4, dtype=i32)], {"other": 2.5})
    rem = lambda a, other: torch.remainder(a, other)
    add("binary", "remainder_scalar", "f32_pos", rem, [randn(8) * 4], {"other": 1.5})
    add("binary", "remainder_scalar", "f32_neg_divisor", rem, [randn(8) * 4], {"other": -1.25})
    add("binary", "remainder_scalar", "i64_neg", rem, [randint(-20, 20, 8)], {"other": -3})
    add("binary", "remainder_scalar", "i64_pos", rem, [randint(-20, 20, 8)], {"other": 7})
    add("binary", "remainder_scalar", "f64_int", rem, [randn(6, dtype=f64) * 5], {"other": 2})


# ======================================================================================================
# inplace: the in-place arithmetic optimizers use (applied to a clone of the first input)
# ======================================================================================================
def inplace_cases():
    add("inplace", "add_", "f32_bcast", lambda a, b, alpha=1: a.clone().add_(b, alpha=alpha),
        [randn(3, 4), randn(4)], {"alpha": 0.5})
    add("inplace", "sub_", "f32", lambda a, b, alpha=1: a.clone().sub_(b, alpha=alpha), [randn(3, 4), randn(3, 4)])
    add("inplace", "mul_", "f32_noncontig", lambda a, b: a.clone().mul_(b),
        [randn(3, 4), Inp(randn(4, 3), permute=[1, 0])])
    add("inplace", "div_", "f64", lambda a, b: a.clone().div_(b), [randn(3, 4, dtype=f64), away(3, 4, dtype=f64)])
    add("inplace", "add_", "i64_plus_i32", lambda a, b, alpha=1: a.clone().add_(b, alpha=alpha),
        [randint(-5, 5, 4), randint(-5, 5, 4, dtype=i32)], {"alpha": 2})
    add("inplace", "add_", "f32_plus_i64", lambda a, b, alpha=1: a.clone().add_(b, alpha=alpha),
        [randn(4), randint(-5, 5, 4)])
    add("inplace", "add_scalar_", "f32", lambda a, other, alpha=1: a.clone().add_(other, alpha=alpha),
        [randn(5)], {"other": 0.25, "alpha": 4})
    add("inplace", "mul_scalar_", "f32", lambda a, other: a.clone().mul_(other), [randn(5)], {"other": -3})
    add("inplace", "mul_scalar_", "i64", lambda a, other: a.clone().mul_(other), [randint(-5, 5, 5)], {"other": 3})
    add("inplace", "div_scalar_", "f32", lambda a, other: a.clone().div_(other), [randn(5)], {"other": 4})
    add("inplace", "pow_scalar_", "f32", lambda a, exponent: a.clone().pow_(exponent), [pos(5)], {"exponent": 1.5})
    add("inplace", "clamp_", "f32", lambda a, min=None, max=None: a.clone().clamp_(min, max),
        [randn(3, 4)], {"min": -0.5, "max": 0.5})
    add("inplace", "addcmul_", "f32", lambda a, b, c, value=1: a.clone().addcmul_(b, c, value=value),
        [randn(3, 4), randn(3, 4), randn(4)], {"value": 0.5})
    add("inplace", "addcdiv_", "f32", lambda a, b, c, value=1: a.clone().addcdiv_(b, c, value=value),
        [randn(3, 4), randn(3, 4), away(3, 4)], {"value": -2.0})
    add("inplace", "lerp_", "f32", lambda a, b, weight: a.clone().lerp_(b, weight),
        [randn(3, 4), randn(3, 4)], {"weight": 0.3})
    add("inplace", "relu_", "f32", lambda a: a.clone().relu_(), [away(6)])
    add("inplace", "neg_", "f64", lambda a: a.clone().neg_(), [randn(6, dtype=f64)])
    add("inplace", "abs_", "f32", lambda a: a.clone().abs_(), [away(6)])
    add("inplace", "sqrt_", "f32", lambda a: a.clone().sqrt_(), [pos(6)])
    add("inplace", "exp_", "f32", lambda a: a.clone().exp_(), [randn(6)])
    add("inplace", "fill_", "f32", lambda a, value: a.clone().fill_(value), [randn(2, 3)], {"value": 1.5})
    add("inplace", "zero_", "i64", lambda a: a.clone().zero_(), [randint(-5, 5, 4)])
    add("inplace", "copy_", "f32_from_f64_bcast", lambda a, b: a.clone().copy_(b), [randn(2, 3), randn(3, dtype=f64)])


# ======================================================================================================
# compare: comparisons, logical ops, float classification
# ======================================================================================================
def compare_cases():
    cmp = {"eq": torch.eq, "ne": torch.ne, "lt": torch.lt, "le": torch.le, "gt": torch.gt, "ge": torch.ge}
    for op, fn in cmp.items():
        a = randint(-2, 3, 3, 4).to(f32)
        b = randint(-2, 3, 4).to(f32)
        add("compare", op, "f32_bcast", fn, [a, b])
        add("compare", op, "i64_vs_f32", fn, [randint(-2, 3, 6), randint(-2, 3, 6).to(f32) + 0.5 * bools(6)])
        add("compare", op + "_scalar", "f32_float", lambda x, other, fn=fn: fn(x, other),
            [randint(-2, 3, 6).to(f32) * 0.5], {"other": 0.5})
        add("compare", op + "_scalar", "i64_float", lambda x, other, fn=fn: fn(x, other),
            [randint(-2, 3, 6)], {"other": 0.5})
        add("compare", op + "_scalar", "i64_int", lambda x, other, fn=fn: fn(x, other),
            [randint(-2, 3, 6)], {"other": 1})
    add("compare", "eq", "bool", torch.eq, [bools(6), bools(6)])
    add("compare", "gt", "requires_grad", torch.gt, [randn(5), randn(5)], keep_requires_grad=True)
    add("compare", "isnan", "requires_grad", torch.isnan, [randn(3)], keep_requires_grad=True)
    add("compare", "lt", "noncontig", torch.lt, [Inp(randn(4, 3), permute=[1, 0]), randn(3, 4)])
    for op in ("logical_and", "logical_or", "logical_xor"):
        fn = getattr(torch, op)
        add("compare", op, "bool", fn, [bools(2, 3), bools(2, 3)])
        add("compare", op, "f32_i64_bcast", fn,
            [randint(-1, 2, 2, 3).to(f32), randint(-1, 2, 3)])
    add("compare", "logical_not", "bool", torch.logical_not, [bools(5)])
    add("compare", "logical_not", "f32", torch.logical_not, [randint(-1, 2, 5).to(f32)])
    add("compare", "logical_not", "i64", torch.logical_not, [randint(-1, 2, 5)])
    add("compare", "bitwise_not", "bool", torch.bitwise_not, [bools(5)])
    add("compare", "bitwise_not", "i64", torch.bitwise_not, [randint(-5, 5, 5)])
    add("compare", "bitwise_not", "u8", torch.bitwise_not, [randint(0, 255, 5, dtype=u8)])
    for op, fn in (("bitwise_and", torch.bitwise_and), ("bitwise_or", torch.bitwise_or),
                   ("bitwise_xor", torch.bitwise_xor)):
        add("compare", op, "bool", fn, [bools(2, 3), bools(3)])
        add("compare", op, "i64", fn, [randint(-20, 20, 6), randint(-20, 20, 6)])
        add("compare", op, "u8_i32", fn, [randint(0, 255, 4, dtype=u8), randint(-9, 9, 4, dtype=i32)])
    special = lambda dt: torch.tensor([1.0, float("inf"), -float("inf"), float("nan"), -0.0, 3.5], dtype=dt)
    for op in ("isnan", "isinf", "isfinite"):
        fn = getattr(torch, op)
        add("compare", op, "f32", fn, [special(f32)])
        add("compare", op, "f64", fn, [special(f64)])
        add("compare", op, "i64", fn, [randint(-5, 5, 4)])
    add("compare", "eq", "nan", torch.eq, [special(f32), special(f32)])
    add("compare", "ne", "nan", torch.ne, [special(f32), special(f32)])


# ======================================================================================================
# where_clamp: where, clamp
# ======================================================================================================
def where_clamp_cases():
    w = lambda c, a, b: torch.where(c, a, b)
    add("where_clamp", "where", "f32", w, [bools(3, 4), randn(3, 4), randn(3, 4)])
    add("where_clamp", "where", "bcast", w, [bools(3, 1), randn(1, 4), randn(3, 4)])
    add("where_clamp", "where", "f64_noncontig", w,
        [bools(3, 4), Inp(randn(4, 3, dtype=f64), permute=[1, 0]), randn(4, dtype=f64)])
    add("where_clamp", "where", "promote_i64_f32", w, [bools(5), randint(-5, 5, 5), randn(5)])
    add("where_clamp", "where", "i64", w, [bools(5), randint(-5, 5, 5), randint(-5, 5, 5)])
    add("where_clamp", "where", "cond_0d", w, [torch.tensor(True), randn(3), randn(3)])
    add("where_clamp", "where_scalar_b", "f32", lambda c, a, b: torch.where(c, a, b), [bools(2, 3), randn(2, 3)],
        {"b": 0.0})
    add("where_clamp", "where_scalar_a", "f32", lambda c, b, a: torch.where(c, a, b), [bools(2, 3), randn(2, 3)],
        {"a": -1.5})
    cl = lambda x, min=None, max=None: torch.clamp(x, min, max)
    add("where_clamp", "clamp", "f32_both", cl, [randn(3, 4)], {"min": -0.5, "max": 0.7})
    add("where_clamp", "clamp", "f32_min", cl, [randn(3, 4)], {"min": 0.1})
    add("where_clamp", "clamp", "f32_max", cl, [randn(3, 4)], {"max": -0.1})
    add("where_clamp", "clamp", "f64_noncontig", cl, [Inp(randn(4, 3, dtype=f64), permute=[1, 0])],
        {"min": -0.3, "max": 0.3})
    add("where_clamp", "clamp", "i64_int", cl, [randint(-10, 10, 8)], {"min": -3, "max": 4})
    add("where_clamp", "clamp", "f32_int_bounds", cl, [randn(6) * 4], {"min": -2, "max": 2})
    add("where_clamp", "clamp", "min_gt_max", cl, [randn(6)], {"min": 0.5, "max": -0.5})
    add("where_clamp", "clamp", "i64_float", cl, [randint(-10, 10, 8)], {"min": -2.5, "max": 3.5})


# ======================================================================================================
# views: metadata-only ops (grads check the view backward)
# ======================================================================================================
def view_cases():
    V = "views"
    add(V, "transpose", "3d", lambda x, d0, d1: x.transpose(d0, d1), [randn(2, 3, 4)], {"d0": 0, "d1": 2})
    add(V, "transpose", "neg_dims", lambda x, d0, d1: x.transpose(d0, d1), [randn(2, 3, 4)], {"d0": -1, "d1": -2})
    add(V, "t", "2d", lambda x: x.t(), [randn(3, 4)])
    add(V, "t", "1d", lambda x: x.t(), [randn(3)])
    add(V, "permute", "3d", lambda x, dims: x.permute(*dims), [randn(2, 3, 4)], {"dims": [2, 0, 1]})
    add(V, "permute", "of_transposed", lambda x, dims: x.permute(*dims),
        [Inp(randn(4, 3, 2), permute=[2, 1, 0])], {"dims": [1, 2, 0]})
    add(V, "movedim", "3d", lambda x, src, dst: x.movedim(src, dst), [randn(2, 3, 4)], {"src": 0, "dst": -1})
    add(V, "expand", "2d", lambda x, shape: x.expand(*shape), [randn(3, 1)], {"shape": [3, 4]})
    add(V, "expand", "new_dims", lambda x, shape: x.expand(*shape), [randn(1, 3)], {"shape": [2, -1, 3]})
    add(V, "expand", "0d", lambda x, shape: x.expand(*shape), [randn()], {"shape": [2, 2]})
    add(V, "squeeze", "all", lambda x: x.squeeze(), [randn(1, 3, 1, 2)])
    add(V, "squeeze", "dim", lambda x, dim: x.squeeze(dim), [randn(1, 3, 1, 2)], {"dim": 2})
    add(V, "squeeze", "dim_not_one", lambda x, dim: x.squeeze(dim), [randn(1, 3, 1, 2)], {"dim": 1})
    add(V, "unsqueeze", "mid", lambda x, dim: x.unsqueeze(dim), [randn(2, 3)], {"dim": 1})
    add(V, "unsqueeze", "neg", lambda x, dim: x.unsqueeze(dim), [randn(2, 3)], {"dim": -1})
    add(V, "flatten", "all", lambda x, start, end: x.flatten(start, end), [randn(2, 3, 2)], {"start": 0, "end": -1})
    add(V, "flatten", "mid_noncontig", lambda x, start, end: x.flatten(start, end),
        [Inp(randn(2, 3, 4), permute=[2, 0, 1])], {"start": 1, "end": 2})
    add(V, "unflatten", "2d", lambda x, dim, sizes: x.unflatten(dim, sizes), [randn(2, 6)], {"dim": 1, "sizes": [2, 3]})
    add(V, "narrow", "2d", lambda x, dim, start, length: x.narrow(dim, start, length), [randn(4, 5)],
        {"dim": 1, "start": 1, "length": 3})
    add(V, "select", "2d", lambda x, dim, index: x.select(dim, index), [randn(3, 4)], {"dim": 1, "index": 2})
    add(V, "select", "neg_index", lambda x, dim, index: x.select(dim, index), [randn(3, 4)], {"dim": 0, "index": -1})
    sl = lambda x, dim, start, stop, step: x[(builtin_slice(None),) * (dim % x.dim()) + (builtin_slice(start, stop, step),)]
    add(V, "slice", "step2", sl, [randn(3, 7)], {"dim": 1, "start": 1, "stop": 6, "step": 2})
    add(V, "slice", "open_ends", sl, [randn(5, 2)], {"dim": 0, "start": None, "stop": None, "step": 3})
    add(V, "slice", "neg_bounds", sl, [randn(6)], {"dim": 0, "start": -4, "stop": -1, "step": 1})
    add(V, "slice", "clamped_stop", sl, [randn(2, 4)], {"dim": -1, "start": 2, "stop": 100, "step": 1})
    add(V, "reshape", "contig", lambda x, shape: x.reshape(*shape), [randn(2, 6)], {"shape": [3, -1]})
    add(V, "reshape", "noncontig", lambda x, shape: x.reshape(*shape), [Inp(randn(3, 4), permute=[1, 0])],
        {"shape": [2, 6]})
    add(V, "view", "3d", lambda x, shape: x.view(*shape), [randn(2, 6)], {"shape": [2, 2, 3]})
    add(V, "unfold", "1d", lambda x, dim, size, step: x.unfold(dim, size, step), [randn(7)],
        {"dim": 0, "size": 3, "step": 2})
    add(V, "unfold", "2d", lambda x, dim, size, step: x.unfold(dim, size, step), [randn(2, 6)],
        {"dim": 1, "size": 2, "step": 2})
    add(V, "as_strided", "overlap", lambda x, size, stride, offset: x.as_strided(size, stride, offset), [randn(8)],
        {"size": [3, 3], "stride": [2, 1], "offset": 1})
    add(V, "transpose", "i64", lambda x, d0, d1: x.transpose(d0, d1), [randint(-5, 5, 2, 3)], {"d0": 0, "d1": 1})


# ======================================================================================================
# copy: contiguous, clone, dtype conversion
# ======================================================================================================
def copy_cases():
    C = "copy"
    add(C, "contiguous", "transposed", lambda x: x.contiguous(), [Inp(randn(3, 4), permute=[1, 0])])
    add(C, "clone", "slice", lambda x: x.clone(), [Inp(randn(3, 6), slice=[1, 0, 6, 2])])
    to = lambda x, dtype: x.to(getattr(torch, dtype))
    add(C, "to", "f32_to_f64", to, [randn(5)], {"dtype": "float64"})
    add(C, "to", "f64_to_f32", to, [randn(5, dtype=f64)], {"dtype": "float32"})
    add(C, "to", "f32_to_i64_trunc", to, [randn(8) * 5], {"dtype": "int64"})
    add(C, "to", "f32_to_bool", to, [torch.tensor([0.0, -0.0, 1e-30, -2.0, float("nan")])], {"dtype": "bool"})
    add(C, "to", "i64_to_f32", to, [randint(-100, 100, 5)], {"dtype": "float32"})
    add(C, "to", "i64_to_u8_wrap", to, [torch.tensor([-1, 256, 300, 7])], {"dtype": "uint8"})
    add(C, "to", "bool_to_f32", to, [bools(5)], {"dtype": "float32"})
    add(C, "to", "i64_to_i32", to, [randint(-100, 100, 5)], {"dtype": "int32"})
    add(C, "to", "f32_requires_grad_to_i64", to, [randn(4) * 3], {"dtype": "int64"}, keep_requires_grad=True)
    add(C, "to", "f32_requires_grad_to_bool", to, [randn(4)], {"dtype": "bool"}, keep_requires_grad=True)


# ======================================================================================================
# reduce_basic: sum, mean, amax, amin
# ======================================================================================================
def reduce_basic_cases():
    R = "reduce_basic"

    def red(name):
        def fn(x, dims=None, keepdim=False, dtype=None):
            kw = {} if dtype is None else {"dtype": getattr(torch, dtype)}
            f = getattr(torch, name)
            return f(x, **kw) if dims is None else f(x, dims, keepdim, **kw)
        return fn

    for op in ("sum", "mean"):
        add(R, op, "all_f32", red(op), [randn(3, 4)])
        add(R, op, "dim0", red(op), [randn(3, 4)], {"dims": [0]})
        add(R, op, "dim_neg_keep", red(op), [randn(2, 3, 4)], {"dims": [-1], "keepdim": True})
        add(R, op, "two_dims", red(op), [randn(2, 3, 4)], {"dims": [0, 2]})
        add(R, op, "two_dims_keep_f64", red(op), [randn(2, 3, 4, dtype=f64)], {"dims": [2, 0], "keepdim": True})
        add(R, op, "noncontig", red(op), [Inp(randn(4, 3, 2), permute=[2, 0, 1])], {"dims": [1]})
        add(R, op, "0d", red(op), [randn()])
    add(R, "sum", "i64_all", red("sum"), [randint(-9, 9, 3, 4)])
    add(R, "sum", "i32_dim", red("sum"), [randint(-9, 9, 3, 4, dtype=i32)], {"dims": [1]})
    add(R, "sum", "bool_all", red("sum"), [bools(3, 4)])
    add(R, "sum", "u8_dim", red("sum"), [randint(100, 250, 3, 4, dtype=u8)], {"dims": [0]})
    add(R, "sum", "f32_dtype_f64", red("sum"), [randn(3, 4)], {"dtype": "float64"})
    add(R, "sum", "i64_dtype_f32_dims", red("sum"), [randint(-9, 9, 3, 4)], {"dims": [1], "dtype": "float32"})
    add(R, "sum", "empty_dim", red("sum"), [randn(0, 3)], {"dims": [0]})
    add(R, "mean", "larger_f32", red("mean"), [randn(64, 16)], {"dims": [0]})
    add(R, "sum", "larger_f32", red("sum"), [randn(1000)])
    for op in ("amax", "amin"):
        f = lambda x, dims, keepdim=False, op=op: getattr(torch, op)(x, dims, keepdim)
        add(R, op, "dim1", f, [randn(3, 4)], {"dims": [1]})
        add(R, op, "all_dims", f, [randn(3, 4)], {"dims": [0, 1]})
        add(R, op, "keep_f64", f, [randn(2, 3, 4, dtype=f64)], {"dims": [0, 2], "keepdim": True})
        add(R, op, "noncontig", f, [Inp(randn(4, 3), permute=[1, 0])], {"dims": [0]})
        add(R, op, "i64", f, [distinct(3, 4).to(i64) if False else randint(-50, 50, 3, 4)], {"dims": [1]})
        add(R, op, "empty_list_all", f, [randn(2, 3)], {"dims": []})


# ======================================================================================================
# indexing: index_select, gather, scatter_add, index_add_
# ======================================================================================================
def indexing_cases():
    I = "indexing"
    isel = lambda x, idx, dim: torch.index_select(x, dim, idx)
    add(I, "index_select", "dim0_repeat", isel, [randn(4, 3), torch.tensor([2, 0, 2, 3])], {"dim": 0})
    add(I, "index_select", "dim1_f64", isel, [randn(2, 5, dtype=f64), torch.tensor([4, 1])], {"dim": 1})
    add(I, "index_select", "noncontig", isel, [Inp(randn(5, 3), permute=[1, 0]), torch.tensor([1, 1, 0])],
        {"dim": 0})
    add(I, "index_select", "i64_neg_dim", isel, [randint(-9, 9, 3, 4), torch.tensor([3, 0])], {"dim": -1})
    g = lambda x, idx, dim: torch.gather(x, dim, idx)
    add(I, "gather", "dim1", g, [randn(3, 4), torch.tensor([[0, 3], [1, 1], [2, 0]])], {"dim": 1})
    add(I, "gather", "dim0", g, [randn(3, 4), randint(0, 3, 2, 4)], {"dim": 0})
    add(I, "gather", "3d_f64", g, [randn(2, 3, 4, dtype=f64), randint(0, 3, 2, 2, 4)], {"dim": 1})
    add(I, "gather", "smaller_index", g, [randn(4, 5), randint(0, 5, 2, 3)], {"dim": 1})
    sa = lambda x, idx, src, dim: x.scatter_add(dim, idx, src)
    add(I, "scatter_add", "dim0", sa, [randn(3, 4), randint(0, 3, 2, 4), randn(2, 4)], {"dim": 0})
    add(I, "scatter_add", "dim1", sa, [randn(3, 5), torch.tensor([[0, 4, 0], [1, 1, 1], [2, 3, 4]]), randn(3, 3)],
        {"dim": 1})
    ia = lambda x, idx, src, dim: x.clone().index_add_(dim, idx, src)
    add(I, "index_add_", "dim0_dup", ia, [randn(4, 3), torch.tensor([0, 2, 0]), randn(3, 3)], {"dim": 0})
    add(I, "index_add_", "dim1", ia, [randn(2, 4, dtype=f64), torch.tensor([3, 1]), randn(2, 2, dtype=f64)],
        {"dim": 1})


# ======================================================================================================
# reductions (reduce branch): prod, var, std, max/min, argmax/argmin, norm, count_nonzero, all/any,
# cumsum, softmax, log_softmax
# ======================================================================================================
def reductions_cases():
    R = "reductions"
    prod = lambda x, dim=None, keepdim=False: torch.prod(x) if dim is None else torch.prod(x, dim, keepdim)
    add(R, "prod", "all_f32", prod, [away(3, 3)])
    add(R, "prod", "dim1", prod, [away(3, 4)], {"dim": 1})
    add(R, "prod", "dim0_keep_f64", prod, [away(3, 4, dtype=f64)], {"dim": 0, "keepdim": True})
    add(R, "prod", "one_zero", prod, [torch.tensor([[1.5, 0.0, -2.0], [0.5, 3.0, 1.25]])], {"dim": 1})
    add(R, "prod", "two_zeros", prod, [torch.tensor([0.0, 2.0, 0.0, 3.0])])
    add(R, "prod", "i64", prod, [randint(1, 4, 2, 3)], {"dim": 1})
    add(R, "prod", "noncontig", prod, [Inp(away(4, 3), permute=[1, 0])], {"dim": 1})

    for op in ("var", "std"):
        f = lambda x, dims=None, unbiased=True, keepdim=False, op=op: (
            getattr(torch, op)(x, unbiased) if dims is None else getattr(torch, op)(x, dims, unbiased, keepdim))
        add(R, op, "all", f, [randn(3, 4)])
        add(R, op, "all_biased", f, [randn(3, 4)], {"unbiased": False})
        add(R, op, "dim1", f, [randn(3, 5)], {"dims": [1]})
        add(R, op, "dims_keep_f64", f, [randn(2, 3, 4, dtype=f64)], {"dims": [0, 2], "keepdim": True})
        add(R, op, "dim0_biased", f, [randn(4, 3)], {"dims": [0], "unbiased": False})
        add(R, op, "noncontig", f, [Inp(randn(4, 3), permute=[1, 0])], {"dims": [1]})
        # float64: in float32 torch's own gradient loses ~4 digits to cancellation at this offset.
        add(R, op, "offset_mean_f64", f, [randn(4, 6, dtype=f64) + 1e4], {"dims": [1]})

    for op in ("max", "min"):
        fa = lambda x, op=op: getattr(torch, op)(x)
        fd = lambda x, dim, keepdim=False, op=op: tuple(getattr(torch, op)(x, dim, keepdim))
        add(R, op, "all_f32", fa, [randn(3, 4)])
        add(R, op, "all_i64", fa, [distinct(3, 4).mul(4).to(i64)])
        add(R, op + "_dim", "dim1", fd, [randn(3, 4)], {"dim": 1})
        add(R, op + "_dim", "dim0_keep", fd, [randn(3, 4)], {"dim": 0, "keepdim": True})
        add(R, op + "_dim", "f64_3d", fd, [randn(2, 3, 4, dtype=f64)], {"dim": -2})
        add(R, op + "_dim", "noncontig", fd, [Inp(randn(4, 3), permute=[1, 0])], {"dim": 1})
        add(R, op + "_dim", "i64", fd, [distinct(3, 4).mul(4).to(i64)], {"dim": 1})
    for op in ("argmax", "argmin"):
        f = lambda x, dim=None, keepdim=False, op=op: getattr(torch, op)(x, dim, keepdim)
        add(R, op, "all", f, [randn(3, 4)])
        add(R, op, "dim0", f, [randn(3, 4)], {"dim": 0})
        add(R, op, "dim1_keep", f, [randn(3, 4)], {"dim": 1, "keepdim": True})
        add(R, op, "noncontig", f, [Inp(randn(4, 3), permute=[1, 0])], {"dim": 1})
        add(R, op, "i64", f, [distinct(3, 4).mul(4).to(i64)], {"dim": 1})
        add(R, op, "requires_grad", f, [randn(3, 4)], {"dim": 0}, keep_requires_grad=True)

    def norm(x, p, dims=None, keepdim=False):
        pv = {"inf": float("inf"), "-inf": float("-inf")}.get(p, p) if isinstance(p, str) else p
        return torch.norm(x, pv) if dims is None else torch.norm(x, pv, dims, keepdim)

    for p in (1, 2, 3.5, "inf", "-inf", 0, "fro"):
        tag = str(p).replace(".", "_").replace("-", "neg")
        x = away if p in ("-inf", 1, 0) else randn
        add(R, "norm", f"p{tag}_all", norm, [x(3, 4)], {"p": p})
        add(R, "norm", f"p{tag}_dim1", norm, [x(3, 4)], {"p": p, "dims": [1]})
        add(R, "norm", f"p{tag}_dims_keep_f64", norm, [x(2, 3, 4, dtype=f64)], {"p": p, "dims": [0, 2], "keepdim": True})
    add(R, "norm", "p2_float_literal", norm, [randn(5)], {"p": 2.0})
    add(R, "norm", "p0_with_zeros", norm, [torch.tensor([0.0, 1.5, 0.0, -2.0])], {"p": 0})
    add(R, "norm", "p2_noncontig", norm, [Inp(randn(4, 3), permute=[1, 0])], {"p": 2, "dims": [0]})

    cnz = lambda x, dims=None: torch.count_nonzero(x) if dims is None else torch.count_nonzero(x, dims)
    zeros_mixed = lambda *s, dtype=f32: (randn(*s) * bools(*s)).to(dtype)
    add(R, "count_nonzero", "all_f32", cnz, [zeros_mixed(3, 4)])
    add(R, "count_nonzero", "dim1", cnz, [zeros_mixed(3, 4)], {"dims": [1]})
    add(R, "count_nonzero", "dims_i64", cnz, [randint(-1, 2, 2, 3, 4)], {"dims": [0, 2]})
    add(R, "count_nonzero", "bool", cnz, [bools(3, 4)], {"dims": [0]})

    for op in ("all", "any"):
        f = lambda x, dim=None, keepdim=False, op=op: getattr(torch, op)(x) if dim is None else getattr(torch, op)(
            x, dim, keepdim)
        add(R, op, "bool_all", f, [bools(3, 4, p=0.8 if op == "all" else 0.2)])
        add(R, op, "bool_dim1", f, [bools(3, 4, p=0.8 if op == "all" else 0.2)], {"dim": 1})
        add(R, op, "bool_dim0_keep", f, [bools(3, 4)], {"dim": 0, "keepdim": True})
        add(R, op, "f32_dim", f, [zeros_mixed(3, 4)], {"dim": 1})
        add(R, op, "i64_all", f, [randint(0, 3, 5)])
        add(R, op, "u8_dim", f, [randint(0, 2, 3, 4, dtype=u8)], {"dim": 0})
        add(R, op, "empty", f, [torch.zeros(0, dtype=bl)])

    cs = lambda x, dim: torch.cumsum(x, dim)
    add(R, "cumsum", "dim1", cs, [randn(3, 4)], {"dim": 1})
    add(R, "cumsum", "dim0_f64", cs, [randn(3, 4, dtype=f64)], {"dim": 0})
    add(R, "cumsum", "neg_dim_3d", cs, [randn(2, 3, 4)], {"dim": -2})
    add(R, "cumsum", "noncontig", cs, [Inp(randn(4, 3), permute=[1, 0])], {"dim": 1})
    add(R, "cumsum", "i64", cs, [randint(-5, 5, 6)], {"dim": 0})
    add(R, "cumsum", "bool", cs, [bools(6)], {"dim": 0})
    add(R, "cumsum", "0d", cs, [randn()], {"dim": 0})
    for op in ("softmax", "log_softmax"):
        f = lambda x, dim, op=op: getattr(torch, op)(x, dim)
        add(R, op, "dim1", f, [randn(3, 5)], {"dim": 1})
        add(R, op, "dim0_f64", f, [randn(3, 5, dtype=f64)], {"dim": 0})
        add(R, op, "3d_mid", f, [randn(2, 3, 4)], {"dim": 1})
        add(R, op, "large_values", f, [randn(2, 4) * 50 + 1000], {"dim": -1})
        add(R, op, "noncontig", f, [Inp(randn(4, 3), permute=[1, 0])], {"dim": 1})


# ======================================================================================================
# selection (select branch): sorting, masks, joining/splitting, repeat_interleave, tensor indexing
# ======================================================================================================
def selection_cases():
    S = "selection"
    tk = lambda x, k, dim=-1, largest=True, sorted=True: tuple(torch.topk(x, k, dim, largest, sorted))
    add(S, "topk", "largest", tk, [distinct(3, 6)], {"k": 2})
    add(S, "topk", "smallest_dim0", tk, [distinct(5, 3)], {"k": 3, "dim": 0, "largest": False})
    add(S, "topk", "f64_3d", tk, [distinct(2, 5, 3, dtype=f64)], {"k": 2, "dim": 1})
    add(S, "topk", "noncontig", tk, [Inp(distinct(6, 3), permute=[1, 0])], {"k": 4})
    add(S, "topk", "i64", tk, [distinct(3, 6).mul(4).to(i64)], {"k": 3})
    add(S, "topk", "k_eq_n", tk, [distinct(4)], {"k": 4, "largest": False})
    kv = lambda x, k, dim=-1, keepdim=False: tuple(torch.kthvalue(x, k, dim, keepdim))
    add(S, "kthvalue", "last_dim", kv, [distinct(3, 5)], {"k": 2})
    add(S, "kthvalue", "dim0_keep", kv, [distinct(5, 3)], {"k": 5, "dim": 0, "keepdim": True})
    add(S, "kthvalue", "i64", kv, [distinct(3, 5).mul(4).to(i64)], {"k": 1, "dim": 1})
    add(S, "kthvalue", "1d_f64", kv, [distinct(7, dtype=f64)], {"k": 4})
    so = lambda x, dim=-1, descending=False: tuple(torch.sort(x, dim=dim, descending=descending, stable=True))
    add(S, "sort", "asc", so, [distinct(3, 5)])
    add(S, "sort", "desc_dim0", so, [distinct(4, 3)], {"dim": 0, "descending": True})
    add(S, "sort", "f64_3d", so, [distinct(2, 3, 4, dtype=f64)], {"dim": 1})
    add(S, "sort", "noncontig", so, [Inp(distinct(5, 3), permute=[1, 0])])
    add(S, "sort", "i64_desc", so, [distinct(3, 5).mul(4).to(i64)], {"descending": True})
    aso = lambda x, dim=-1, descending=False: torch.argsort(x, dim=dim, descending=descending, stable=True)
    add(S, "argsort", "asc", aso, [distinct(3, 5)])
    add(S, "argsort", "desc_dim0", aso, [distinct(4, 3)], {"dim": 0, "descending": True})
    add(S, "argsort", "i64", aso, [distinct(6).mul(4).to(i64)])
    add(S, "argsort", "requires_grad", aso, [distinct(6)], keep_requires_grad=True)
    add(S, "nonzero", "requires_grad", lambda x: torch.nonzero(x), [randn(2, 3) * bools(2, 3)],
        keep_requires_grad=True)

    ms = lambda x, m: torch.masked_select(x, m)
    add(S, "masked_select", "same_shape", ms, [randn(3, 4), bools(3, 4)])
    add(S, "masked_select", "bcast_mask", ms, [randn(3, 4), bools(4)])
    add(S, "masked_select", "bcast_both", ms, [randn(3, 1), bools(2, 1, 4)])
    add(S, "masked_select", "i64_noncontig", ms, [Inp(randint(-9, 9, 4, 3), permute=[1, 0]), bools(3, 4)])
    mf = lambda x, m, value: x.masked_fill(m, value)
    add(S, "masked_fill", "f32", mf, [randn(3, 4), bools(3, 4)], {"value": -1.5})
    add(S, "masked_fill", "bcast_mask", mf, [randn(3, 4), bools(3, 1)], {"value": 0.0})
    add(S, "masked_fill", "i64_int", mf, [randint(-9, 9, 5), bools(5)], {"value": 7})
    add(S, "masked_fill", "f64_neg_inf", mf, [randn(2, 3, dtype=f64), bools(2, 3)], {"value": float("-inf")})
    nz = lambda x: torch.nonzero(x)
    add(S, "nonzero", "f32_2d", nz, [randn(3, 4) * bools(3, 4)])
    add(S, "nonzero", "bool_3d", nz, [bools(2, 2, 3)])
    add(S, "nonzero", "i64_1d", nz, [randint(-1, 2, 7)])
    add(S, "nonzero", "none", nz, [torch.zeros(2, 3)])

    cat = lambda *xs, dim=0: torch.cat(xs, dim)
    add(S, "cat", "dim0", cat, [randn(2, 3), randn(1, 3), randn(3, 3)])
    add(S, "cat", "dim1_f64", cat, [randn(2, 3, dtype=f64), randn(2, 1, dtype=f64)], {"dim": 1})
    add(S, "cat", "neg_dim_noncontig", cat, [Inp(randn(4, 2), permute=[1, 0]), randn(2, 2)], {"dim": -1})
    add(S, "cat", "promote_i64_f32", cat, [randint(-5, 5, 2), randn(3)])
    add(S, "cat", "single", cat, [randn(2, 2)], {"dim": 1})
    st = lambda *xs, dim=0: torch.stack(xs, dim)
    add(S, "stack", "dim0", st, [randn(2, 3), randn(2, 3)])
    add(S, "stack", "dim_last", st, [randn(2, 3), randn(2, 3), randn(2, 3)], {"dim": -1})
    add(S, "stack", "i64_dim1", st, [randint(-5, 5, 2, 3), randint(-5, 5, 2, 3)], {"dim": 1})
    sp = lambda x, size, dim=0: tuple(torch.split(x, size, dim))
    add(S, "split", "uneven", sp, [randn(5, 2)], {"size": 2})
    add(S, "split", "dim1", sp, [randn(2, 6)], {"size": 3, "dim": 1})
    sws = lambda x, sizes, dim=0: tuple(torch.split(x, sizes, dim))
    add(S, "split_with_sizes", "dim1", sws, [randn(2, 6)], {"sizes": [1, 3, 2], "dim": 1})
    ch = lambda x, chunks, dim=0: tuple(torch.chunk(x, chunks, dim))
    add(S, "chunk", "even", ch, [randn(6, 2)], {"chunks": 3})
    add(S, "chunk", "uneven", ch, [randn(5, 2)], {"chunks": 3})
    add(S, "chunk", "fewer", ch, [randn(2, 6)], {"chunks": 4, "dim": 1})
    ub = lambda x, dim=0: tuple(torch.unbind(x, dim))
    add(S, "unbind", "dim1", ub, [randn(2, 3)], {"dim": 1})
    ri = lambda x, repeats, dim=None: torch.repeat_interleave(x, repeats, dim)
    add(S, "repeat_interleave", "flat", ri, [randn(2, 2)], {"repeats": 2})
    add(S, "repeat_interleave", "dim1", ri, [randn(2, 3)], {"repeats": 3, "dim": 1})
    add(S, "repeat_interleave", "i64_dim0", ri, [randint(-5, 5, 2, 2)], {"repeats": 2, "dim": 0})
    rit = lambda x, r, dim=None: torch.repeat_interleave(x, r, dim)
    add(S, "repeat_interleave_tensor", "dim0", rit, [randn(3, 2), torch.tensor([1, 0, 3])], {"dim": 0})
    add(S, "repeat_interleave_tensor", "flat", rit, [randn(4), torch.tensor([2, 1, 0, 2])])
    rp = lambda x, repeats: x.repeat(*repeats)
    add(S, "repeat", "2d", rp, [randn(2, 3)], {"repeats": [2, 2]})
    add(S, "repeat", "new_dims", rp, [randn(3)], {"repeats": [2, 1, 2]})
    # Python's x[...]: params["index"] lists the items: an int, {"slice": [start, stop, step]}
    # (nulls for omitted bounds), "..." (Ellipsis), null (None: new axis), or {"tensor": k} for inputs[k].
    def index_items(spec, tensors):
        items = []
        for e in spec:
            if isinstance(e, int):
                items.append(e)
            elif e == "...":
                items.append(Ellipsis)
            elif e is None:
                items.append(None)
            elif "slice" in e:
                items.append(builtin_slice(*e["slice"]))
            else:
                items.append(tensors[e["tensor"]])
        return tuple(items)

    ix = lambda x, *ts, index: x[index_items(index, (x,) + ts)]
    sl_ = lambda a=None, b=None, c=None: {"slice": [a, b, c]}
    add(S, "index", "int_slice_none", ix, [randn(3, 4, 2)], {"index": [1, sl_(None, None, 2), None]})
    add(S, "index", "ellipsis_int", ix, [randn(2, 3, 4)], {"index": ["...", -1]})
    add(S, "index", "slice_neg", ix, [randn(4, 5)], {"index": [sl_(-3, None), sl_(1, 4)]})
    add(S, "index", "tensor_dup", ix, [randn(4, 3), torch.tensor([3, 0, 3])], {"index": [{"tensor": 1}]})
    add(S, "index", "tensor_neg_2d", ix, [randn(5), torch.tensor([[0, -1], [2, -2]])], {"index": [{"tensor": 1}]})
    add(S, "index", "slice_then_tensor", ix, [randn(3, 4), torch.tensor([2, 0])],
        {"index": [sl_(), {"tensor": 1}]})
    add(S, "index", "two_tensors", ix, [randn(3, 4), torch.tensor([0, 2, 2]), torch.tensor([1, 3, 0])],
        {"index": [{"tensor": 1}, {"tensor": 2}]})
    add(S, "index", "mask_2d", ix, [randn(3, 4), bools(3, 4)], {"index": [{"tensor": 1}]})
    add(S, "index", "mask_rows", ix, [randn(4, 3), torch.tensor([True, False, True, True])],
        {"index": [{"tensor": 1}]})
    add(S, "index", "i64_int_int", ix, [randint(-9, 9, 3, 4)], {"index": [2, 1]})

    def ipt(x, *ts, index):
        y = x.clone()
        y[index_items(index, (y,) + ts[:-1])] = ts[-1]
        return y

    def ips(x, *ts, index, value):
        y = x.clone()
        y[index_items(index, (y,) + ts)] = value
        return y

    add(S, "index_put_scalar_", "mask", ips, [randn(3, 4), bools(3, 4)], {"index": [{"tensor": 1}], "value": 2.5})
    add(S, "index_put_scalar_", "slice", ips, [randn(3, 4)], {"index": [sl_(), sl_(1, 3)], "value": -1})
    add(S, "index_put_", "tensor_rows", ipt, [randn(4, 3), torch.tensor([3, 1]), randn(2, 3)],
        {"index": [{"tensor": 1}]})
    add(S, "index_put_", "int_bcast_value", ipt, [randn(3, 4), randn(4)], {"index": [1]})
    icp = lambda x, idx, src, dim: x.clone().index_copy_(dim, idx, src)
    add(S, "index_copy_", "dim0", icp, [randn(4, 3), torch.tensor([3, 0]), randn(2, 3)], {"dim": 0})
    ifl = lambda x, idx, dim, value: x.clone().index_fill_(dim, idx, value)
    add(S, "index_fill_", "dim1", ifl, [randn(3, 4), torch.tensor([0, 2])], {"dim": 1, "value": -1.0})


# ======================================================================================================
# linalg (linalg branch): matmul, mm, bmm, addmm, mv, dot, cdist
# ======================================================================================================
def linalg_cases():
    L = "linalg"
    mm = lambda a, b: torch.matmul(a, b)
    shapes = [
        ("1d_1d", (4,), (4,)),
        ("2d_1d", (3, 4), (4,)),
        ("1d_2d", (4,), (4, 3)),
        ("2d_2d", (3, 4), (4, 2)),
        ("3d_2d", (2, 3, 4), (4, 5)),
        ("2d_3d", (3, 4), (2, 4, 5)),
        ("3d_3d", (2, 3, 4), (2, 4, 2)),
        ("bcast_4d_3d", (2, 1, 3, 4), (5, 4, 2)),
        ("1d_3d", (4,), (2, 4, 3)),
        ("3d_1d", (2, 3, 4), (4,)),
    ]
    for name, sa, sb in shapes:
        add(L, "matmul", name, mm, [randn(*sa), randn(*sb)])
    add(L, "matmul", "f64_2d", mm, [randn(3, 4, dtype=f64), randn(4, 2, dtype=f64)])
    add(L, "matmul", "noncontig", mm, [Inp(randn(4, 3), permute=[1, 0]), Inp(randn(2, 4), permute=[1, 0])])
    add(L, "matmul", "larger_f32", mm, [randn(16, 32), randn(32, 8)])
    add(L, "mm", "f32", torch.mm, [randn(3, 4), randn(4, 5)])
    add(L, "mm", "f64_transposed", torch.mm, [randn(3, 4, dtype=f64), Inp(randn(5, 4, dtype=f64), permute=[1, 0])])
    add(L, "mm", "i64", torch.mm, [randint(-5, 5, 2, 3), randint(-5, 5, 3, 2)])
    add(L, "bmm", "f32", torch.bmm, [randn(2, 3, 4), randn(2, 4, 2)])
    add(L, "bmm", "noncontig", torch.bmm, [Inp(randn(2, 4, 3), permute=[0, 2, 1]), randn(2, 4, 3)])
    am = lambda s, a, b, beta=1, alpha=1: torch.addmm(s, a, b, beta=beta, alpha=alpha)
    add(L, "addmm", "default", am, [randn(3, 2), randn(3, 4), randn(4, 2)])
    add(L, "addmm", "bias_bcast_scaled", am, [randn(2), randn(3, 4), randn(4, 2)], {"beta": 0.5, "alpha": -2.0})
    add(L, "addmm", "f64", am, [randn(3, 2, dtype=f64), randn(3, 4, dtype=f64), randn(4, 2, dtype=f64)],
        {"beta": 2, "alpha": 3})
    add(L, "mv", "f32", torch.mv, [randn(3, 4), randn(4)])
    add(L, "dot", "f32", torch.dot, [randn(5), randn(5)])
    add(L, "dot", "i64", torch.dot, [randint(-5, 5, 5), randint(-5, 5, 5)])
    cd = lambda a, b, p=2.0: torch.cdist(a, b, p)
    add(L, "cdist", "p2", cd, [randn(3, 4), randn(5, 4)], {"p": 2.0})
    add(L, "cdist", "p1", cd, [randn(3, 4), randn(5, 4)], {"p": 1.0})
    add(L, "cdist", "p2_batched_f64", cd, [randn(2, 3, 4, dtype=f64), randn(2, 2, 4, dtype=f64)], {"p": 2.0})
    add(L, "cdist", "p1_batched", cd, [randn(2, 3, 2), randn(2, 4, 2)], {"p": 1.0})
    add(L, "cdist", "p3", cd, [randn(3, 2), randn(2, 2)], {"p": 3.0})


# ======================================================================================================
# factory: deterministic factories (the values PyTorch's own formulas give)
# ======================================================================================================
def factory_cases():
    F = "factory"
    ar = lambda start, end, step=1, dtype=None: torch.arange(
        start, end, step, dtype=None if dtype is None else getattr(torch, dtype))
    add(F, "arange", "int", ar, [], {"start": 0, "end": 7})
    add(F, "arange", "int_neg_step", ar, [], {"start": 5, "end": -4, "step": -3})
    add(F, "arange", "float_step", ar, [], {"start": 0.0, "end": 1.0, "step": 0.1})
    add(F, "arange", "float_f64", ar, [], {"start": -1.5, "end": 2.0, "step": 0.25, "dtype": "float64"})
    add(F, "arange", "int_bounds_f32", ar, [], {"start": 1, "end": 6, "step": 2, "dtype": "float32"})
    ls = lambda start, end, steps, dtype=None: torch.linspace(
        start, end, steps, dtype=None if dtype is None else getattr(torch, dtype))
    add(F, "linspace", "unit", ls, [], {"start": 0.0, "end": 1.0, "steps": 5})
    add(F, "linspace", "f32_long", ls, [], {"start": -1.0, "end": 2.0, "steps": 31})
    add(F, "linspace", "f64", ls, [], {"start": 3.0, "end": -0.1, "steps": 9, "dtype": "float64"})
    add(F, "linspace", "one_step", ls, [], {"start": 2.0, "end": 5.0, "steps": 1})
    ey = lambda n, m=None: torch.eye(n) if m is None else torch.eye(n, m)
    add(F, "eye", "square", ey, [], {"n": 3})
    add(F, "eye", "rect", ey, [], {"n": 2, "m": 4})
    fu = lambda shape, value: torch.full(shape, value)
    add(F, "full", "float", fu, [], {"shape": [2, 3], "value": 1.5})
    add(F, "full", "int", fu, [], {"shape": [3], "value": 7})
    add(F, "full", "bool", fu, [], {"shape": [2], "value": True})
    add(F, "broadcast_tensors", "three", lambda *xs: tuple(torch.broadcast_tensors(*xs)),
        [randn(3, 1), randn(4), randint(-5, 5, 1, 1)])


# ======================================================================================================
# close (print branch): isclose, allclose (a 0-d bool tensor here)
# ======================================================================================================
def close_cases():
    C = "close"
    a = torch.tensor([1.0, 1.0 + 1e-6, 1.0 + 1e-4, 0.0, 1e-9, float("nan"), float("inf"), -float("inf")])
    b = torch.tensor([1.0, 1.0, 1.0, 1e-9, 0.0, float("nan"), float("inf"), float("inf")])
    ic = lambda x, y, rtol=1e-5, atol=1e-8, equal_nan=False: torch.isclose(x, y, rtol, atol, equal_nan)
    add(C, "isclose", "defaults", ic, [a, b])
    add(C, "isclose", "equal_nan_loose", ic, [a, b], {"rtol": 1e-3, "atol": 1e-8, "equal_nan": True})
    add(C, "isclose", "atol_only", ic, [a, b], {"rtol": 0.0, "atol": 1e-5})
    add(C, "isclose", "bcast_f64", ic, [randn(3, 1, dtype=f64), randn(4, dtype=f64)], {"rtol": 0.5, "atol": 0.5})
    add(C, "isclose", "i64", ic, [torch.tensor([1, 2, 100]), torch.tensor([1, 3, 101])], {"rtol": 0.02, "atol": 0.0})
    ac = lambda x, y, rtol=1e-5, atol=1e-8, equal_nan=False: torch.tensor(torch.allclose(x, y, rtol, atol, equal_nan))
    x = randn(3, 4)
    add(C, "allclose", "tiny_diff", ac, [x, x * (1 + 1e-7)])
    add(C, "allclose", "big_diff", ac, [x, x + 1e-3])
    add(C, "allclose", "nan_equal", ac, [a[5:], b[5:].clone().fill_(float("nan"))], {"equal_nan": True})


# ======================================================================================================
# strided: inputs with stride-0 (expanded) and mixed layouts, through elementwise, reductions, matmul
# ======================================================================================================
def strided_cases():
    S = "strided"
    add(S, "exp", "expanded", lambda x: x.exp(), [Inp(randn(3, 1), expand=[3, 4])])
    add(S, "add", "expanded_plus_transposed", lambda a, b, alpha=1: torch.add(a, b, alpha=alpha),
        [Inp(randn(1, 4), expand=[3, 4]), Inp(randn(4, 3), permute=[1, 0])])
    add(S, "mul", "expanded_0d", lambda a, b: a * b, [Inp(randn(), expand=[2, 3]), randn(2, 3)])
    add(S, "sum", "expanded_dim", lambda x, dims: torch.sum(x, dims), [Inp(randn(4), expand=[3, 4])], {"dims": [0]})
    add(S, "amax", "sliced_transposed", lambda x, dims: torch.amax(x, dims),
        [Inp(randn(6, 4), permute=[1, 0], slice=[1, 0, 6, 2])], {"dims": [1]})
    add(S, "softmax", "expanded", lambda x, dim: torch.softmax(x, dim), [Inp(randn(1, 5), expand=[3, 5])], {"dim": 1})
    add(S, "matmul", "expanded_batch", lambda a, b: torch.matmul(a, b),
        [Inp(randn(1, 3, 4), expand=[2, 3, 4]), randn(2, 4, 2)])
    add(S, "cumsum", "sliced", lambda x, dim: torch.cumsum(x, dim), [Inp(randn(3, 8), slice=[1, 1, 8, 3])], {"dim": 1})
    add(S, "where", "expanded_cond", lambda c, a, b: torch.where(c, a, b),
        [Inp(bools(1, 4), expand=[3, 4]), randn(3, 4), Inp(randn(4, 3), permute=[1, 0])])
    add(S, "contiguous", "expanded", lambda x: x.contiguous(), [Inp(randn(2, 1, 3), expand=[2, 4, 3])])
    add(S, "sort", "transposed_i64", lambda x, dim=-1, descending=False: tuple(
        torch.sort(x, dim=dim, descending=descending, stable=True)),
        [Inp(distinct(5, 3).mul(4).to(i64), permute=[1, 0])])


# ======================================================================================================
# large: inputs generated from a formula (not stored), big enough for the kernels' parallel paths;
# small outputs, no gradients
# ======================================================================================================
def large_cases():
    L = "large"
    red = lambda name: lambda x, dims=None, keepdim=False: (
        getattr(torch, name)(x) if dims is None else getattr(torch, name)(x, dims, keepdim))
    add(L, "sum", "all_f32", red("sum"), [generated(200003)])
    # c=0.75: with c=1 these column sums cancel to exactly 0, and torch's float32 rounding residue
    # (1.5e-6) is then all the case would compare.
    add(L, "sum", "dim0_f32", red("sum"), [generated(1000, 300, c=0.75)], {"dims": [0]})
    add(L, "sum", "dim1_f64", red("sum"), [generated(300, 1000, dtype=f64)], {"dims": [1]})
    add(L, "mean", "all_f32", red("mean"), [generated(512, 513)])
    add(L, "amax", "dim1", lambda x, dims: torch.amax(x, dims), [generated(64, 4099, a=104729, m=100000)], {"dims": [1]})
    add(L, "var", "all_f32", lambda x, unbiased=True: torch.var(x, unbiased), [generated(150001)])
    add(L, "std", "dim0", lambda x, dims, unbiased=True, keepdim=False: torch.std(x, dims, unbiased, keepdim),
        [generated(4000, 40)], {"dims": [0]})
    nm = lambda x, p: torch.norm(x, {"inf": float("inf")}.get(p, p))
    add(L, "norm", "p2_f32", nm, [generated(100000)], {"p": 2})
    add(L, "norm", "p1_f32", nm, [generated(100000)], {"p": 1})
    add(L, "norm", "pinf_f32", nm, [generated(100000, a=104729, m=100000)], {"p": "inf"})
    add(L, "count_nonzero", "all", lambda x: torch.count_nonzero(x), [generated(70000, m=10)])
    add(L, "mul_sum", "bcast_f32", lambda a, b: (a * b).sum(), [generated(400, 300), generated(300, a=31, m=62)])
    add(L, "exp_sum", "f32", lambda x: x.exp().sum(), [generated(100000)])
    add(L, "matmul", "f32_64x96x48", lambda a, b: torch.matmul(a, b),
        [generated(64, 96, a=13, m=34), generated(96, 48, a=17, m=38)])


# ======================================================================================================
# special: inf / nan / signed zero / overflow / denormal inputs (values only, no gradients)
# ======================================================================================================
def special_cases():
    S = "special"
    inf, nan = float("inf"), float("nan")
    sv = lambda dt: torch.tensor([0.0, -0.0, inf, -inf, nan, 1e-40, 88.8, -104.0, 1e30, -1.0, 0.5], dtype=dt)
    for op in ("neg", "abs", "sign", "exp", "log", "log1p", "expm1", "sqrt", "rsqrt", "reciprocal", "square", "sin",
               "tanh", "sigmoid", "relu", "floor", "round", "trunc", "erf"):
        add(S, op, "f32", lambda x, op=op: getattr(x, op)(), [sv(f32)], grad=False)
    add(S, "exp", "f64", lambda x: x.exp(), [sv(f64)], grad=False)
    add(S, "sigmoid", "f64", lambda x: x.sigmoid(), [sv(f64)], grad=False)
    pair = lambda: (torch.tensor([nan, 1.0, nan, -inf, 2.0, 0.0]), torch.tensor([1.0, nan, nan, 3.0, inf, -0.0]))
    add(S, "maximum", "nan", torch.maximum, list(pair()), grad=False)
    add(S, "minimum", "nan", torch.minimum, list(pair()), grad=False)
    add(S, "div", "by_zero", lambda a, b: a / b,
        [torch.tensor([1.0, -1.0, 0.0, inf]), torch.tensor([0.0, 0.0, 0.0, inf])], grad=False)
    add(S, "mul", "inf_times_zero", lambda a, b: a * b, [torch.tensor([inf, -inf, nan]), torch.tensor([0.0, 2.0, 0.0])],
        grad=False)
    add(S, "pow", "special", lambda a, b: torch.pow(a, b),
        [torch.tensor([0.0, 0.0, -2.0, nan, 1.0, inf, -8.0]), torch.tensor([0.0, -1.0, 0.5, 0.0, nan, -1.0, 3.0])],
        grad=False)
    add(S, "pow_scalar", "zero_pow_neg", lambda x, exponent: torch.pow(x, exponent),
        [torch.tensor([0.0, -0.0, 2.0, nan])], {"exponent": -2.0}, grad=False)
    add(S, "clamp", "nan_input", lambda x, min=None, max=None: torch.clamp(x, min, max),
        [torch.tensor([nan, -inf, inf, 0.3])], {"min": -1.0, "max": 1.0}, grad=False)
    add(S, "remainder_scalar", "inf_nan", lambda x, other: torch.remainder(x, other),
        [torch.tensor([inf, nan, -0.0, 5.5])], {"other": 2.0}, grad=False)
    row_nan = torch.tensor([[1.0, nan, 3.0], [2.0, -1.0, 0.5], [-inf, -inf, -inf]])
    add(S, "amax", "nan_rows", lambda x, dims: torch.amax(x, dims), [row_nan], {"dims": [1]}, grad=False)
    add(S, "amin", "nan_rows", lambda x, dims: torch.amin(x, dims), [row_nan], {"dims": [1]}, grad=False)
    inf_rows = torch.tensor([[inf, inf], [-inf, -inf]])
    add(S, "amin", "all_inf_row", lambda x, dims: torch.amin(x, dims), [inf_rows], {"dims": [1]}, grad=False)
    add(S, "max_dim", "all_neg_inf_row", lambda x, dim, keepdim=False: tuple(torch.max(x, dim, keepdim)),
        [inf_rows], {"dim": 1}, grad=False)
    add(S, "max", "all_neg_inf", lambda x: torch.max(x), [inf_rows[1]], grad=False)
    add(S, "min", "all_inf_f64", lambda x: torch.min(x), [inf_rows[0].double()], grad=False)
    add(S, "sum", "inf_minus_inf", lambda x, dims: torch.sum(x, dims),
        [torch.tensor([[inf, -inf], [inf, 1.0], [nan, 0.0]])], {"dims": [1]}, grad=False)
    add(S, "max_dim", "nan", lambda x, dim, keepdim=False: tuple(torch.max(x, dim, keepdim)), [row_nan[:2]],
        {"dim": 1}, grad=False)
    add(S, "min", "nan_all", lambda x: torch.min(x), [row_nan[:2]], grad=False)
    add(S, "argmax", "nan", lambda x, dim=None, keepdim=False: torch.argmax(x, dim, keepdim), [row_nan[:2]],
        {"dim": 1}, grad=False)
    add(S, "argmin", "inf_ties_first", lambda x, dim=None, keepdim=False: torch.argmin(x, dim, keepdim),
        [torch.tensor([[3.0, -inf, 1.0, -inf], [2.0, 2.0, 5.0, 2.0]])], {"dim": 1}, grad=False)
    add(S, "sort", "nan_last", lambda x, dim=-1, descending=False: tuple(
        torch.sort(x, dim=dim, descending=descending, stable=True)),
        [torch.tensor([3.0, nan, -inf, 1.0, inf, -2.0])], grad=False)
    add(S, "sort", "nan_first_desc", lambda x, dim=-1, descending=False: tuple(
        torch.sort(x, dim=dim, descending=descending, stable=True)),
        [torch.tensor([3.0, nan, -inf, 1.0, inf, -2.0])], {"descending": True}, grad=False)
    add(S, "sort", "stable_ties", lambda x, dim=-1, descending=False: tuple(
        torch.sort(x, dim=dim, descending=descending, stable=True)),
        [torch.tensor([2, 1, 2, 0, 1, 2, 0])], grad=False)
    add(S, "sort", "stable_ties_desc", lambda x, dim=-1, descending=False: tuple(
        torch.sort(x, dim=dim, descending=descending, stable=True)),
        [torch.tensor([2.0, 1.0, 2.0, 0.0, 1.0, 2.0, -0.0])], {"descending": True}, grad=False)
    add(S, "softmax", "masked_row", lambda x, dim: torch.softmax(x, dim),
        [torch.tensor([[0.5, -inf, 1.0], [-inf, -inf, -inf]])], {"dim": 1}, grad=False)
    add(S, "log_softmax", "masked_row", lambda x, dim: torch.log_softmax(x, dim),
        [torch.tensor([[0.5, -inf, 1.0], [2.0, 3.0, -inf]])], {"dim": 1}, grad=False)
    add(S, "norm", "inf_entry", lambda x, p: torch.norm(x, p), [torch.tensor([1.0, -inf, 2.0])], {"p": 2},
        grad=False)
    add(S, "cumsum", "inf", lambda x, dim: torch.cumsum(x, dim), [torch.tensor([1.0, inf, -inf, 2.0])], {"dim": 0},
        grad=False)
    add(S, "to", "f32_special_to_i32", lambda x, dtype: x.to(getattr(torch, dtype)),
        [torch.tensor([-2.7, 2.7, -0.5, 1e9])], {"dtype": "int32"}, grad=False)
    add(S, "mean", "empty", lambda x: torch.mean(x), [torch.zeros(0)], grad=False)
    add(S, "prod", "empty", lambda x: torch.prod(x), [torch.zeros(0)], grad=False)
    add(S, "amax", "i64_extremes", lambda x, dims: torch.amax(x, dims),
        [torch.tensor([[-(2 ** 63), 2 ** 63 - 1], [5, -(2 ** 62)]])], {"dims": [1]}, grad=False)


# ======================================================================================================
# advanced indexing: two or more tensor indices (after the other families, so adding these left
# every earlier case's random values unchanged)
# ======================================================================================================
def advanced_index_cases():
    S = "selection"

    def items(spec, tensors):
        out = []
        for e in spec:
            if isinstance(e, int):
                out.append(e)
            elif e is None:
                out.append(None)
            elif "slice" in e:
                out.append(builtin_slice(*e["slice"]))
            else:
                out.append(tensors[e["tensor"]])
        return tuple(out)

    ix = lambda x, *ts, index: x[items(index, (x,) + ts)]
    T = lambda k: {"tensor": k}
    ALL = {"slice": [None, None, None]}  # ":"
    t = torch.tensor
    # broadcast (2, 1) with (3,): the result has the broadcast shape
    add(S, "index", "two_tensors_bcast", ix, [randn(3, 4), t([[0], [2]]), t([1, 3, 0])], {"index": [T(1), T(2)]})
    # adjacent after a slice: the broadcast dims stay where the indexed dims were
    add(S, "index", "adjacent_after_slice", ix, [randn(5, 3, 4), t([0, 2, 2]), t([3, 1, 3])],
        {"index": [ALL, T(1), T(2)]})
    add(S, "index", "adjacent_middle_2d", ix, [randn(2, 3, 4, 5), t([[0], [2]]), t([1, 3, 0])],
        {"index": [ALL, T(1), T(2), ALL]})
    # separated by a slice: the broadcast dims go to the front
    add(S, "index", "non_adjacent", ix, [randn(3, 4, 5), t([0, 2, 1, 2]), t([4, 0, 1, 3])],
        {"index": [T(1), ALL, T(2)]})
    add(S, "index", "non_adjacent_2d", ix, [randn(3, 4, 5, 2), t([[0, 1, 2], [2, 2, 0]]), t([4, 0, 1])],
        {"index": [T(1), ALL, T(2)]})
    # None between two tensors separates them too
    add(S, "index", "none_between", ix, [randn(3, 4), t([0, 2]), t([3, 1])], {"index": [T(1), None, T(2)]})
    # an integer is applied first (a select), so the tensors on either side become adjacent
    add(S, "index", "int_between", ix, [randn(2, 3, 4, 5), t([0, 2]), t([4, 1])],
        {"index": [ALL, T(1), 0, T(2)]})
    add(S, "index", "three_tensors", ix, [randn(2, 3, 4), t([1, 0]), t([[2], [0], [1]]), t([3, 3])],
        {"index": [T(1), T(2), T(3)]})
    add(S, "index", "negative", ix, [randn(3, 4), t([-1, 0, -3]), t([-4, 3, -1])], {"index": [T(1), T(2)]})
    # a bool mask counts as the coordinates of its true entries
    add(S, "index", "tensor_and_mask", ix, [randn(4, 3), t([0, 3]), t([True, False, True])],
        {"index": [T(1), T(2)]})
    add(S, "index", "mask_2d_and_tensor", ix,
        [randn(3, 4, 5), t([[True, False, False, True], [False, True, False, False], [False, False, True, False]]),
         t([4])], {"index": [T(1), T(2)]})
    add(S, "index", "f64_two_tensors", ix, [randn(4, 3, dtype=f64), t([3, 0, 3, 1]), t([2, 2, 0, 1])],
        {"index": [T(1), T(2)]})
    add(S, "index", "i64_two_tensors", ix, [randint(-9, 9, 3, 4), t([2, 0]), t([1, 3])], {"index": [T(1), T(2)]})

    def ipt(x, *ts, index):
        y = x.clone()
        y[items(index, (y,) + ts[:-1])] = ts[-1]
        return y

    add(S, "index_put_", "two_tensors", ipt, [randn(3, 4), t([0, 2, 1]), t([3, 0, 0]), randn(3)],
        {"index": [T(1), T(2)]})
    add(S, "index_put_", "non_adjacent_rows", ipt, [randn(3, 4, 2), t([0, 2]), t([1, 0]), randn(2, 4)],
        {"index": [T(1), ALL, T(2)]})


FAMILIES = [unary_cases, binary_cases, inplace_cases, compare_cases, where_clamp_cases, view_cases, copy_cases,
            reduce_basic_cases, indexing_cases, reductions_cases, selection_cases, linalg_cases, factory_cases,
            close_cases, strided_cases, large_cases, special_cases, advanced_index_cases]


def main():
    for family in FAMILIES:
        family()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "fixtures", "ops.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    doc = {"generator": "tools/gen_fixtures.py", "torch": torch.__version__, "cases": CASES}
    with open(path, "w") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")
    counts = {}
    for c in CASES:
        counts[c["family"]] = counts.get(c["family"], 0) + 1
    print(f"wrote {len(CASES)} cases, {os.path.getsize(path)} bytes to {path}", file=sys.stderr)
    for fam, n in counts.items():
        print(f"  {fam}: {n}", file=sys.stderr)


if __name__ == "__main__":
    main()
