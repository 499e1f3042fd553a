#!/usr/bin/python3
"""Golden values for tests/nn/test_day1.cpp from PyTorch 1.13.

Run with the system PyTorch: /usr/bin/python3 tools/gen_nn_day1_fixtures.py
Writes tests/fixtures/nn_day1.json:
  conv:       Conv2d/Conv3d with padding="same"/"valid" and every padding_mode: parameters, input,
              output and the gradients of (out * out_weight).sum() (float64, so the comparison is tight)
  max_pool:   MaxPool2d(return_indices=True): output, int64 indices, input gradient
  clip:       clip_grad_norm_ over three gradients for several max_norm / norm_type: total norm and
              the clipped gradients (float32)
  schedulers: StepLR and CosineAnnealingLR on SGD: get_last_lr() after each of 30 steps, and the
              optimizer's lr
"""
import json
import math
import os

import torch

torch.manual_seed(20240612)


def enc(t):
    t = t.detach().contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def enc_int(t):
    return {"shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()]}


def conv_case(name, dims, in_ch, out_ch, kernel, x_shape, padding, padding_mode="zeros", stride=1, dilation=1,
              groups=1, bias=True):
    cls = torch.nn.Conv2d if dims == 2 else torch.nn.Conv3d
    m = cls(in_ch, out_ch, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups, bias=bias,
            padding_mode=padding_mode).double()
    x = torch.randn(x_shape, dtype=torch.float64, requires_grad=True)
    out = m(x)
    w_out = torch.randn(out.shape, dtype=torch.float64)
    (out * w_out).sum().backward()
    return {
        "name": name, "dims": dims,
        "config": {"in_channels": in_ch, "out_channels": out_ch, "kernel_size": kernel, "stride": stride,
                   "padding": padding, "padding_mode": padding_mode, "dilation": dilation, "groups": groups,
                   "bias": bias},
        "weight": enc(m.weight), "bias": enc(m.bias) if bias else None,
        "x": enc(x), "out": enc(out), "out_weight": enc(w_out),
        "grad_x": enc(x.grad), "grad_weight": enc(m.weight.grad),
        "grad_bias": enc(m.bias.grad) if bias else None,
        "repr": repr(m),
    }


conv = [
    conv_case("same_k3", 2, 2, 3, 3, (2, 2, 5, 6), "same"),
    conv_case("same_k4_even", 2, 2, 2, 4, (1, 2, 6, 5), "same"),
    conv_case("same_k2x3_dil3x2", 2, 1, 2, (2, 3), (2, 1, 7, 8), "same", dilation=(3, 2)),
    conv_case("valid_k3", 2, 2, 2, 3, (1, 2, 5, 5), "valid"),
    conv_case("reflect_p1", 2, 2, 3, 3, (2, 2, 5, 4), 1, "reflect"),
    conv_case("replicate_p1x2", 2, 2, 2, 3, (1, 2, 4, 5), (1, 2), "replicate"),
    conv_case("circular_p2_s2", 2, 1, 2, 3, (2, 1, 5, 6), 2, "circular", stride=2),
    conv_case("reflect_same_k4", 2, 2, 2, 4, (1, 2, 6, 6), "same", "reflect"),
    conv_case("circular_same_k3x2", 2, 2, 2, (3, 2), (1, 2, 4, 5), "same", "circular"),
    conv_case("replicate_same_k2_dil2_g2", 2, 2, 4, 2, (2, 2, 5, 5), "same", "replicate", dilation=2, groups=2),
    conv_case("zeros_p1_nobias", 2, 2, 2, 3, (1, 2, 4, 4), 1, "zeros", bias=False),
    conv_case("conv3d_replicate_p1", 3, 1, 2, 2, (1, 1, 3, 4, 3), 1, "replicate"),
    conv_case("conv3d_same_k2", 3, 1, 2, 2, (1, 1, 3, 3, 4), "same", "circular"),
]


def pool_case(name, x_shape, kernel, stride=None, padding=0, dilation=1, ceil_mode=False):
    m = torch.nn.MaxPool2d(kernel, stride=stride, padding=padding, dilation=dilation, ceil_mode=ceil_mode,
                           return_indices=True)
    x = torch.randn(x_shape, dtype=torch.float32, requires_grad=True)
    out, idx = m(x)
    w_out = torch.randn(out.shape)
    (out * w_out).sum().backward()
    return {
        "name": name,
        "config": {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation,
                   "ceil_mode": ceil_mode},
        "x": enc(x), "out": enc(out), "indices": enc_int(idx), "indices_dtype": str(idx.dtype),
        "out_weight": enc(w_out), "grad_x": enc(x.grad), "repr": repr(m),
    }


max_pool = [
    pool_case("k2", (2, 3, 4, 6), 2),
    pool_case("k3_s2_p1_d2_ceil", (1, 2, 7, 8), 3, stride=2, padding=1, dilation=2, ceil_mode=True),
    pool_case("k2x3_unbatched", (2, 5, 7), (2, 3), stride=(1, 2)),
]


def clip_case(name, max_norm, norm_type, scale=1.0):
    grads = [torch.randn(3, 4) * scale, torch.randn(5) * scale, torch.randn(2, 2, 2) * scale]
    params = [torch.zeros(g.shape, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
    return {
        "name": name, "max_norm": max_norm, "norm_type": "inf" if math.isinf(norm_type) else norm_type,
        "grads": [enc(g) for g in grads], "total_norm": float(total), "total_dtype": str(total.dtype),
        "clipped": [enc(p.grad) for p in params],
    }


clip = [
    clip_case("l2_clips", 1.0, 2.0),
    clip_case("l2_no_clip", 100.0, 2.0),
    clip_case("inf", 0.5, math.inf),
    clip_case("l1", 2.0, 1.0),
    clip_case("l3_scaled", 0.25, 3.0, scale=10.0),
]


def sched_case(name, kind, steps, lr, **kw):
    p = torch.zeros(2, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr)
    if kind == "step":
        s = torch.optim.lr_scheduler.StepLR(opt, **kw)
    else:
        s = torch.optim.lr_scheduler.CosineAnnealingLR(opt, **kw)
    lrs = [s.get_last_lr()[0]]
    group_lrs = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
        group_lrs.append(opt.param_groups[0]["lr"])
    sd = s.state_dict()
    return {"name": name, "kind": kind, "lr": lr, "args": kw, "last_lr": lrs, "group_lr": group_lrs,
            "final_last_epoch": sd["last_epoch"], "final_step_count": sd["_step_count"]}


schedulers = [
    sched_case("step_3_half", "step", 30, 0.1, step_size=3, gamma=0.5),
    sched_case("step_7_0.9", "step", 30, 0.05, step_size=7, gamma=0.9),
    sched_case("cosine_10", "cosine", 30, 0.1, T_max=10, eta_min=0.001),
    sched_case("cosine_7_zero", "cosine", 30, 1.0, T_max=7),
]

out = {"generator": "tools/gen_nn_day1_fixtures.py", "torch": torch.__version__, "conv": conv,
       "max_pool": max_pool, "clip": clip, "schedulers": schedulers}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "nn_day1.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", os.path.normpath(path))
