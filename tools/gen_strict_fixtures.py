#!/usr/bin/python3
"""PyTorch 1.13 values for tests that used to check twig only against itself (issue 13 section 2):
the common_pruning test models (tests/nn/test_models.cpp), an LSTM with a pruned weight
(tests/nn/test_rnn.cpp) and losses in float32 and through their modules (tests/nn/test_loss.cpp).

Run with Debian's interpreter (the one torch is installed in):

    /usr/bin/python3 tools/gen_strict_fixtures.py      # writes tests/fixtures/strict.json

Deterministic (torch.manual_seed, one thread). Tensors are {"shape": [...], "data": [...]} (row
major, float64 repr of each value), or, for the larger model parameters, {"shape", "formula"}:

    x[i] = (((i * a) % m) / (m / 2) - 1) * scale + shift

computed in float64 and then rounded to float32 (bit-identical in C++: the same correctly rounded
operations), so that the models' weights need not be stored.
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(0)
torch.set_num_threads(1)
f32, f64 = torch.float32, torch.float64


def enc(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).to(f64).tolist()]}


PRIMES = [7919, 7907, 7901, 7883, 7877, 7873, 7867, 7853, 7841, 7829, 7823, 7817, 7793, 7789]
M = 1994  # 2 * 997; every a above is coprime with it


def formula_values(n, a, scale, shift):
    x = (torch.arange(n, dtype=torch.int64) * a % M).to(f64) / (M // 2) - 1.0
    return (x * scale + shift).to(f32)


def fill_by_formula(model):
    """Sets every parameter from the formula; returns the formulas by parameter name."""
    out = {}
    with torch.no_grad():
        for k, (name, p) in enumerate(model.named_parameters()):
            a = PRIMES[k % len(PRIMES)]
            if p.dim() >= 2:
                scale, shift = 1.0 / math.sqrt(p[0].numel()), 0.0
            elif name.endswith("norm.weight"):
                scale, shift = 0.25, 1.0
            else:
                scale, shift = 0.2, 0.0
            p.copy_(formula_values(p.numel(), a, scale, shift).view(p.shape))
            out[name] = {"shape": list(p.shape), "formula": {"a": a, "m": M, "scale": scale, "shift": shift}}
    return out


# ---- the common_pruning models, layer by layer as tests/models/common_pruning.cpp builds them -------

def lin(i, o, bias):
    return nn.Linear(i, o, bias=bias)


def conv(i, o, bias, padding=0):
    return nn.Conv2d(i, o, 3, padding=padding, bias=bias)


def maxpool():
    return nn.MaxPool2d(2, stride=2, padding=1)


def avgpool():
    return nn.AvgPool2d(2, stride=2, padding=1)


class SimpleLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(lin(7, 5, False), lin(5, 6, False), lin(6, 4, False))
        self.linear1 = lin(4, 4, False)
        self.linear2 = lin(4, 10, False)

    def forward(self, x):
        return self.linear2(self.linear1(self.seq(x)))


class LinearBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(lin(7, 5, True), lin(5, 6, False), lin(6, 3, True), lin(3, 3, True),
                                 lin(3, 10, False))

    def forward(self, x):
        return self.seq(x)


class LinearActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(lin(7, 5, True), nn.ReLU(), lin(5, 6, False), nn.Tanh(), lin(6, 4, True))
        self.linear1 = lin(4, 3, True)
        self.act1 = nn.ReLU()
        self.linear2 = lin(3, 10, False)
        self.act2 = nn.Tanh()

    def forward(self, x):
        return self.act2(self.linear2(self.act1(self.linear1(self.seq(x)))))


class LinearActivationFunctional(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(lin(7, 5, True), nn.ReLU(), lin(5, 6, False), nn.ReLU(), lin(6, 4, True))
        self.linear1 = lin(4, 3, True)
        self.linear2 = lin(3, 8, False)
        self.linear3 = lin(8, 10, False)
        self.act1 = nn.ReLU()

    def forward(self, x):
        x = self.seq(x)
        x = F.relu(self.linear1(x))
        x = F.relu(self.linear2(x))
        return F.relu(self.linear3(x))


class SimpleConv2d(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(conv(1, 32, False), conv(32, 64, False))
        self.conv2d1 = conv(64, 48, False)
        self.conv2d2 = conv(48, 52, False)

    def forward(self, x):
        return self.conv2d2(self.conv2d1(self.seq(x)))


class Conv2dBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(conv(1, 32, True), conv(32, 32, True), conv(32, 64, False))
        self.conv2d1 = conv(64, 48, True)
        self.conv2d2 = conv(48, 52, False)

    def forward(self, x):
        return self.conv2d2(self.conv2d1(self.seq(x)))


class Conv2dActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(conv(1, 32, True), nn.ReLU(), conv(32, 64, True), nn.Tanh(), conv(64, 64, False),
                                 nn.ReLU())
        self.conv2d1 = conv(64, 48, False)
        self.conv2d2 = conv(48, 52, True)

    def forward(self, x):
        x = F.relu(self.conv2d1(self.seq(x)))
        return F.hardtanh(self.conv2d2(x))


class Conv2dPadBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(conv(1, 32, True, 1), nn.ReLU(), conv(32, 32, False), nn.ReLU(), conv(32, 32, True, 1),
                                 nn.ReLU(), conv(32, 32, True, 1), nn.ReLU(), conv(32, 64, True), nn.Tanh())
        self.conv2d1 = conv(64, 48, True, 1)
        self.act1 = nn.ReLU()
        self.conv2d2 = conv(48, 52, True, 1)
        self.act2 = nn.Tanh()

    def forward(self, x):
        return self.act2(self.conv2d2(self.act1(self.conv2d1(self.seq(x)))))


class Conv2dPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(conv(1, 32, True, 1), maxpool(), nn.ReLU(), conv(32, 64, True, 1), nn.Tanh(),
                                 avgpool())
        self.conv2d1 = conv(64, 48, True, 1)
        self.maxpool = maxpool()
        self.af1 = nn.ReLU()
        self.conv2d2 = conv(48, 52, True, 1)
        self.conv2d3 = conv(52, 52, True, 1)

    def forward(self, x):
        x = self.af1(self.maxpool(self.conv2d1(self.seq(x))))
        x = self.conv2d2(x)
        x = F.relu(F.avg_pool2d(x, kernel_size=2, stride=2, padding=1))
        return self.conv2d3(x)


class PoolFlatten(nn.Module):
    def __init__(self, pool_out, fc_in, flatten_module):
        super().__init__()
        self.seq = nn.Sequential(conv(1, 3, True, 1), maxpool(), nn.ReLU(), conv(3, 5, True, 1), nn.Tanh(), avgpool())
        self.conv2d1 = conv(5, 7, True, 1)
        self.af1 = nn.ReLU()
        self.conv2d2 = conv(7, 11, True, 1)
        self.avg_pool = nn.AdaptiveAvgPool2d((pool_out, pool_out))
        self.flatten_module = flatten_module
        if flatten_module:
            self.flatten = nn.Flatten()
        self.fc = lin(fc_in, 13, True)

    def forward(self, x):
        x = self.conv2d1(self.seq(x))
        x = self.af1(F.max_pool2d(x, kernel_size=2, stride=2, padding=1))
        x = self.avg_pool(self.conv2d2(x))
        x = self.flatten(x) if self.flatten_module else torch.flatten(x, 1)
        return self.fc(x)


class LSTMLinearModel(nn.Module):
    def __init__(self, i, h, o, layers):
        super().__init__()
        self.lstm = nn.LSTM(i, h, layers)
        self.linear = nn.Linear(h, o)

    def forward(self, x):
        output, _ = self.lstm(x)
        return self.linear(output), output


class LSTMLayerNormLinearModel(nn.Module):
    def __init__(self, i, h, o, layers):
        super().__init__()
        self.lstm = nn.LSTM(i, h, layers)
        self.norm = nn.LayerNorm(h)
        self.linear = nn.Linear(h, o)

    def forward(self, x):
        x, state = self.lstm(x)
        x = self.linear(self.norm(x))
        return x, state


def models():
    linear_x = torch.randn(4, 7)
    conv_x = torch.randn(1, 1, 12, 12)
    lstm_x = torch.randn(5, 8)
    cases = [
        ("SimpleLinear", SimpleLinear(), linear_x),
        ("LinearBias", LinearBias(), linear_x),
        ("LinearActivation", LinearActivation(), linear_x),
        ("LinearActivationFunctional", LinearActivationFunctional(), linear_x),
        ("SimpleConv2d", SimpleConv2d(), conv_x),
        ("Conv2dBias", Conv2dBias(), conv_x),
        ("Conv2dActivation", Conv2dActivation(), conv_x),
        ("Conv2dPadBias", Conv2dPadBias(), conv_x),
        ("Conv2dPool", Conv2dPool(), conv_x),
        ("Conv2dPoolFlattenFunctional", PoolFlatten(1, 11, False), conv_x),
        ("Conv2dPoolFlatten", PoolFlatten(2, 44, True), conv_x),
        ("LSTMLinearModel", LSTMLinearModel(8, 8, 8, 1), lstm_x),
        ("LSTMLayerNormLinearModel", LSTMLayerNormLinearModel(8, 8, 8, 2), lstm_x),
    ]
    out = {}
    for name, model, x in cases:
        params = fill_by_formula(model)
        with torch.no_grad():
            y = model(x)
        flat = []
        todo = [y]
        while todo:  # outputs in order, tuples flattened (decoded, output) / (x, (h_n, c_n))
            v = todo.pop(0)
            if isinstance(v, (tuple, list)):
                todo = list(v) + todo
            else:
                flat.append(enc(v))
        out[name] = {"params": params, "input": enc(x), "outputs": flat}
    return out


# ---- an LSTM with a pruned weight (test_rnn.cpp) -----------------------------------------------------

def lstm_pruned():
    def run(lstm, x):
        with torch.no_grad():
            o, (h, c) = lstm(x)
        return [enc(o), enc(h), enc(c)]

    m = nn.LSTM(4, 3, 2)
    x = torch.randn(5, 2, 4)
    params = {n: enc(p) for n, p in m.named_parameters()}
    masked = nn.LSTM(4, 3, 2)
    masked.load_state_dict(m.state_dict())
    with torch.no_grad():
        w = masked.weight_ih_l0
        w.mul_((w.abs() > 0.2).to(w.dtype))  # l1-style mask: |w| > 0.2 kept
    masked_ih = run(masked, x)

    n = nn.LSTM(3, 2)
    xn = torch.randn(4, 1, 3)
    params_n = {k: enc(p) for k, p in n.named_parameters()}
    with torch.no_grad():
        n.weight_hh_l0.zero_()
    zero_hh = run(n, xn)
    return {
        "masked_weight_ih_l0": {"config": [4, 3, 2], "params": params, "x": enc(x), "outputs": masked_ih},
        "zero_weight_hh_l0": {"config": [3, 2, 1], "params": params_n, "x": enc(xn), "outputs": zero_hh},
    }


# ---- losses (test_loss.cpp) ---------------------------------------------------------------------------

def losses():
    x = torch.randn(8, 10, dtype=f64)
    t = torch.tensor([0, 1, 2, 3, 4, 5, 6, 9])
    ce64 = F.cross_entropy(x, t, reduction="mean", label_smoothing=0.1)
    ce32 = F.cross_entropy(x.to(f32), t, reduction="mean", label_smoothing=0.1)
    xm = torch.randn(4, 3, dtype=f64)
    tm = torch.tensor([0, 2, 1, 1])
    w = torch.tensor([1.0, 2.0, 0.5], dtype=f64)
    ce_mod = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, reduction="sum")(xm, tm)
    nll_mod = nn.NLLLoss(ignore_index=1)(xm.log_softmax(1), tm)
    mse_mod = nn.MSELoss(reduction="none")(xm, xm * 0.5)
    return {
        "cross_entropy_f32": {"x": enc(x), "target": t.tolist(), "f64": enc(ce64), "f32": enc(ce32)},
        "modules": {"x": enc(xm), "target": tm.tolist(), "weight": enc(w), "cross_entropy_sum": enc(ce_mod),
                    "nll_ignore_1": enc(nll_mod), "mse_none_half": enc(mse_mod)},
    }


def main():
    doc = {"generator": "tools/gen_strict_fixtures.py", "torch": torch.__version__, "models": models(),
           "lstm": lstm_pruned(), "losses": losses()}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(root, "tests", "fixtures", "strict.json")
    with open(path, "w") as f:
        json.dump(doc, f, allow_nan=False, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.getsize(path)} bytes to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
