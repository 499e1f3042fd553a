#!/usr/bin/python3
"""Golden values of ActivationSparsifier's main test sequence (spec section 9.3) from PyTorch 1.13.

Run with the system PyTorch: /usr/bin/python3 tools/gen_activation_fixtures.py [--out PATH]
Writes tests/fixtures/ao_activation.json, read by tests/ao/test_activation_sparsifier.cpp.

It runs the test's own Model (conv1 -> conv2 -> identity1 -> max_pool1 -> reshape -> linear1 ->
identity2 -> relu -> linear2) under torch.ao.sparsity._experimental's ActivationSparsifier with the
test's registrations, five forwards, step() and squash_mask(), on inputs and weights that both
sides build bit for bit the same: an integer hash (32-bit, wrapping) of (seed, flat index) gives an
integer k, and the float32 value is k / d in float32 (one correctly rounded division, no libm).
  hash32(seed, i): x = i*0x9E3779B1 + seed*0x85EBCA77 + 0x165667B1; x ^= x >> 15;
                   x *= 0x2C1B3C6D; x ^= x >> 12; x *= 0x297A2D39; x ^= x >> 15   (all mod 2^32)
  input  j (j = 0..4), seed 100 + j:   k = hash % 200001 - 100000, d = 131072 (a power of two)
  parameter p (named_parameters order), seed 1 + p: k = hash % 2001 - 1000, d = the layer's divisor
The inputs are dyadic with small numerators, so the aggregate 0 + x0 + ... + x4 and its mean over
the batch are exact in float32 whatever the summation order: conv1's mask is compared exactly. The
generator asserts there is no tie at conv1's threshold (the 235th and 236th smallest |mean| differ).
identity1's input (conv2's output) depends on the order of floating-point sums, so the generator
asserts that its threshold is not near a tie either: the gap between the 5530th and 5531st smallest
|mean| is over 1e-5 relative to the threshold and over 100 times the float32 summation noise (the
largest difference from the same forwards in float64; as generated: gap 8.2e-5, noise 1.2e-7), so
the C++ test requires the exact same zero set, not agreement within a tolerance.

Recorded: the masks after step as hex bit strings (a 0 bit = masked, row-major order, see bits()),
their shapes, the sparse state_dict's (sparse_dim, nnz, shape) of every mask after the forwards and
after step, the model's output after squash_mask for input 0 (float64 list), and the
messages of the three errors (get_mask before a forward, an unknown layer, step before a forward).
"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.ao.sparsity._experimental.activation_sparsifier.activation_sparsifier import ActivationSparsifier

M32 = 0xFFFFFFFF
INPUT_SHAPE = (16, 1, 28, 28)
DIVISORS = {"conv1": 3000, "conv2": 17000, "linear1": 68000, "linear2": 11000}


def hash32(seed, n):
    x = np.arange(n, dtype=np.uint64)
    x = (x * np.uint64(0x9E3779B1) + np.uint64((seed * 0x85EBCA77 + 0x165667B1) & M32)) & np.uint64(M32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x2C1B3C6D)) & np.uint64(M32)
    x ^= x >> np.uint64(12)
    x = (x * np.uint64(0x297A2D39)) & np.uint64(M32)
    x ^= x >> np.uint64(15)
    return x


def hashed(seed, shape, modulus, divisor):
    n = int(np.prod(shape))
    k = (hash32(seed, n) % np.uint64(modulus)).astype(np.int64) - (modulus - 1) // 2
    v = k.astype(np.float32) / np.float32(divisor)
    return torch.from_numpy(v.reshape(shape))


def make_input(j):
    return hashed(100 + j, INPUT_SHAPE, 200001, 131072)


class Model(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 32, kernel_size=3)
        self.identity1 = nn.Identity()
        self.max_pool1 = nn.MaxPool2d(kernel_size=2, stride=2)
        self.linear1 = nn.Linear(4608, 128)
        self.identity2 = nn.Identity()
        self.linear2 = nn.Linear(128, 10)

    def forward(self, x):
        out = self.conv1(x)
        out = self.conv2(out)
        out = self.identity1(out)
        out = self.max_pool1(out)
        out = out.reshape(x.shape[0], -1)
        out = F.relu(self.identity2(self.linear1(out)))
        return self.linear2(out)


def make_model():
    model = Model()
    with torch.no_grad():
        for p, (name, param) in enumerate(model.named_parameters()):
            param.copy_(hashed(1 + p, tuple(param.shape), 2001, DIVISORS[name.split(".")[0]]))
    return model


def agg_fn(x, y):
    return x + y


def reduce_fn(x):
    return torch.mean(x, dim=0)


def vanilla(data, sparsity_level):
    v = data.abs().flatten()
    order = torch.argsort(v)
    t = round(sparsity_level * len(v))
    mask = torch.ones_like(v)
    mask[order[:t]] = 0
    return mask.reshape(data.shape)


def bits(mask):
    """The mask's entries in row-major order as hex digits, 4 entries a digit, the first one in the
    digit's high bit, an entry 1 where the mask is nonzero; the last digit padded with 0 bits."""
    b = "".join("0" if v == 0 else "1" for v in mask.flatten().tolist())
    b += "0" * (-len(b) % 4)
    return "".join("%x" % int(b[i:i + 4], 2) for i in range(0, len(b), 4))


def gap_at_threshold(values, t):
    s = np.sort(np.abs(values.flatten()))
    return float(s[t - 1]), float(s[t])


def sparse_summary(sd):
    out = {}
    for name, st in sd["state"].items():
        masks = st["mask"] if isinstance(st["mask"], list) else [st["mask"]]
        out[name] = [{"layout": str(m.layout), "sparse_dim": m.sparse_dim(), "nnz": int(m._nnz()),
                      "shape": list(m.shape), "values_dtype": str(m.values().dtype),
                      "indices_dtype": str(m.indices().dtype)} for m in masks]
    return out


def errors():
    model = make_model()
    sp = ActivationSparsifier(model, aggregate_fn=agg_fn, reduce_fn=reduce_fn, sparsity_level=0.5)
    sp.register_layer(model.conv1, mask_fn=vanilla, sparsity_level=0.3)
    found = {}
    for key, call in [("get_mask_before_forward", lambda: sp.get_mask("conv1")),
                      ("get_mask_unknown_layer", lambda: sp.get_mask("conv3")),
                      ("step_before_forward", lambda: sp.step())]:
        try:
            call()
            raise SystemExit(key + ": no error")
        except Exception as e:  # noqa: BLE001 - the class is what we record
            found[key] = {"type": type(e).__name__, "message": str(e)}
    return found


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                                  "ao_activation.json"))
    args = ap.parse_args()
    torch.manual_seed(0)

    model = make_model()
    sp = ActivationSparsifier(model, aggregate_fn=agg_fn, reduce_fn=reduce_fn, sparsity_level=0.5)
    sp.register_layer(model.conv1, mask_fn=vanilla, sparsity_level=0.3)
    sp.register_layer(model.linear1, features=[0, 10, 234], feature_dim=1, mask_fn=vanilla, sparsity_level=0.1)
    sp.register_layer(model.identity1, mask_fn=vanilla, sparsity_level=0.3)
    sp.register_layer(model.identity2, features=[0, 10, 20], feature_dim=1, mask_fn=vanilla, sparsity_level=0.1)

    inputs = [make_input(j) for j in range(5)]
    for x in inputs:
        model(x)
    conv1_data = sp.data_groups["conv1"]["data"].detach().clone()
    identity1_data = sp.data_groups["identity1"]["data"].detach().clone()
    after_forward = sparse_summary(sp.state_dict())
    sp.step()
    after_step = sparse_summary(sp.state_dict())

    # conv1: exact inputs, so only a true tie could make two implementations differ.
    conv1_mean = conv1_data.mean(0)
    lo, hi = gap_at_threshold(conv1_mean.numpy(), 235)
    assert lo != hi, ("tie at conv1's threshold", lo, hi)
    exact = sum(x.double() for x in inputs).mean(0)
    assert torch.equal(exact.float(), conv1_mean), "conv1's aggregate is not exact"

    # identity1: the same forwards in float64 bound the float32 noise; the threshold gap must dwarf it.
    model64 = make_model().double()
    with torch.no_grad():
        data64 = sum(model64.conv2(model64.conv1(x.double())) for x in inputs)
    mean64 = data64.mean(0)
    noise = float((mean64 - identity1_data.double().mean(0)).abs().max())
    lo, hi = gap_at_threshold(identity1_data.mean(0).numpy(), 5530)
    assert hi - lo > 1e-5 * hi and hi - lo > 100 * noise, ("identity1's threshold is near a tie", lo, hi, noise)
    assert torch.equal(vanilla(mean64, 0.3).float(), sp.get_mask("identity1")), "float64 gives another mask"

    masks = {name: sp.get_mask(name) for name in sp.data_groups}
    sp.squash_mask()
    with torch.no_grad():
        out = model(inputs[0])

    fixture = {
        "torch_version": torch.__version__,
        "input_shape": list(INPUT_SHAPE),
        "divisors": DIVISORS,
        "conv1_data_sum": float(conv1_data.double().sum()),
        "conv1_threshold_gap": [float(v) for v in gap_at_threshold(conv1_mean.numpy(), 235)],
        "identity1_threshold_gap": [lo, hi],
        "identity1_float32_noise": noise,
        "masks_after_step": {
            name: ([{"shape": list(m.shape), "dtype": str(m.dtype), "hex": bits(m)} for m in mask]
                   if isinstance(mask, list) else {"shape": list(mask.shape), "dtype": str(mask.dtype),
                                                   "zeros": int((mask == 0).sum()), "hex": bits(mask)})
            for name, mask in masks.items()},
        "state_dict_after_forward": after_forward,
        "state_dict_after_step": after_step,
        "squash_output": {"shape": list(out.shape), "dtype": str(out.dtype),
                          "values": [float(v) for v in out.double().flatten().tolist()]},
        "errors": errors(),
    }
    with open(args.out, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(args.out), "identity1 gap", lo, hi, "noise", noise)


if __name__ == "__main__":
    main()
