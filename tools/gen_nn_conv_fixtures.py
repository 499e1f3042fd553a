#!/usr/bin/python3
"""Golden values for twig's convolution and pooling from PyTorch 1.13.

Run with the interpreter that has torch 1.13:  /usr/bin/python3 tools/gen_nn_conv_fixtures.py
Writes tests/fixtures/nn_conv.json. Every case holds its options, the input (and weight / bias for
convolutions) as float32 values, a loss weighting `w` of the output's shape, and the forward output
plus the gradients of (out * w).sum() with respect to input, weight and bias. The arithmetic runs
in float64 on those float32 values, so the references are exact to float32 rounding. Seeded.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.manual_seed(1234)
assert torch.__version__.startswith("1.13"), torch.__version__


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def tensor_entry(t):
    return {"shape": list(t.shape), "data": flat(t)}


def f32(shape, scale=1.0):
    """A float32-representable random tensor, held as float64 for the reference arithmetic."""
    return (torch.randn(shape) * scale).float().double()


cases = []


def add_case(kind, name, opts, x, fn, weight=None, bias=None):
    x = x.clone().requires_grad_()
    params = [p for p in (weight, bias) if p is not None]
    for p in params:
        p.requires_grad_()
    out = fn(x)
    w = f32(out.shape)
    (out * w).sum().backward()
    case = {"kind": kind, "name": name, "opts": opts, "input": tensor_entry(x), "w": tensor_entry(w),
            "out": tensor_entry(out), "grad_input": tensor_entry(x.grad)}
    if weight is not None:
        case["weight"] = tensor_entry(weight)
        case["grad_weight"] = tensor_entry(weight.grad)
    if bias is not None:
        case["bias"] = tensor_entry(bias)
        case["grad_bias"] = tensor_entry(bias.grad)
    cases.append(case)


def conv_case(dims, name, x_shape, out_ch, kernel, stride=1, padding=0, dilation=1, groups=1, bias=True):
    in_ch = x_shape[-dims - 1]
    ks = [kernel] * dims if isinstance(kernel, int) else list(kernel)
    weight = f32([out_ch, in_ch // groups] + ks, 0.5)
    b = f32([out_ch]) if bias else None
    conv = F.conv2d if dims == 2 else F.conv3d
    opts = {"stride": stride if isinstance(stride, list) else [stride],
            "padding": padding if isinstance(padding, list) else [padding],
            "dilation": dilation if isinstance(dilation, list) else [dilation], "groups": groups}
    add_case("conv%dd" % dims, name, opts, f32(x_shape),
             lambda x: conv(x, weight, b, opts["stride"], opts["padding"], opts["dilation"], groups), weight, b)


# ---- conv2d ----
conv_case(2, "pruning_model_conv_1_32_k3_pad1", [2, 1, 6, 6], 32, 3, padding=1)
conv_case(2, "pruning_model_conv_no_bias", [2, 1, 5, 5], 32, 3, padding=1, bias=False)
conv_case(2, "lenet_conv1_1_6_k5_pad2", [2, 1, 12, 12], 6, 5, padding=2)
conv_case(2, "lenet_conv2_6_16_k5", [2, 6, 9, 9], 16, 5)
conv_case(2, "stride2_pad1", [2, 3, 7, 6], 4, 3, stride=2, padding=1)
conv_case(2, "rect_kernel_stride_pad_dilation", [2, 3, 9, 8], 5, [3, 2], stride=[2, 1], padding=[1, 0],
          dilation=[2, 1])
conv_case(2, "dilation2_pad2", [1, 2, 8, 8], 3, 3, padding=2, dilation=2)
conv_case(2, "groups2", [2, 4, 6, 6], 6, 3, padding=1, groups=2)
conv_case(2, "depthwise", [2, 4, 5, 5], 4, 3, groups=4)
conv_case(2, "depthwise_multiplier_no_bias", [2, 3, 5, 6], 6, 3, stride=2, padding=1, groups=3, bias=False)
conv_case(2, "unbatched", [3, 5, 5], 4, 3, padding=1)
conv_case(2, "pointwise_1x1", [2, 5, 4, 3], 7, 1)
conv_case(2, "stride_larger_than_kernel", [2, 2, 9, 9], 3, 2, stride=3)
conv_case(2, "batch1_stride_w3_pad_h2", [1, 2, 7, 10], 3, [3, 4], stride=[1, 3], padding=[2, 1])
# ---- conv3d ----
conv_case(3, "conv3d_k3_pad1", [2, 2, 4, 5, 4], 3, 3, padding=1)
conv_case(3, "conv3d_stride_dil_groups_no_bias", [2, 4, 5, 6, 6], 4, [2, 3, 3], stride=[1, 2, 2],
          padding=[1, 0, 1], dilation=[2, 1, 1], groups=2, bias=False)
conv_case(3, "conv3d_unbatched", [2, 4, 4, 4], 3, 2, stride=2)


# ---- pooling ----
def pool_case(kind, name, x_shape, **kw):
    opts = dict(kw)
    if kind == "max_pool2d":
        fn = lambda x: F.max_pool2d(x, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0),
                                    kw.get("dilation", 1), kw.get("ceil_mode", False))
    elif kind == "avg_pool2d":
        fn = lambda x: F.avg_pool2d(x, kw["kernel_size"], kw.get("stride"), kw.get("padding", 0),
                                    kw.get("ceil_mode", False), kw.get("count_include_pad", True),
                                    kw.get("divisor_override"))
    elif kind == "adaptive_avg_pool2d":
        fn = lambda x: F.adaptive_avg_pool2d(x, kw["output_size"])
    else:
        fn = lambda x: F.adaptive_max_pool2d(x, kw["output_size"])
    for key in ("kernel_size", "stride", "padding", "dilation", "output_size"):
        if key in opts and isinstance(opts[key], int):
            opts[key] = [opts[key]]
        elif key in opts and isinstance(opts[key], tuple):
            opts[key] = list(opts[key])
    add_case(kind, name, opts, f32(x_shape), fn)


pool_case("max_pool2d", "pruning_model_k2_s2_pad1", [2, 3, 6, 6], kernel_size=2, stride=2, padding=1)
pool_case("max_pool2d", "lenet_k2", [2, 6, 8, 8], kernel_size=2)
pool_case("max_pool2d", "k2_odd_size", [2, 3, 7, 9], kernel_size=2)
pool_case("max_pool2d", "k2_s2_dilation2", [1, 2, 7, 8], kernel_size=2, stride=2, dilation=2)
pool_case("max_pool2d", "k3_s2_ceil", [2, 2, 8, 8], kernel_size=3, stride=2, ceil_mode=True)
pool_case("max_pool2d", "k2_s2_pad1_ceil_last_window_rule", [1, 2, 5, 5], kernel_size=2, stride=2, padding=1,
          ceil_mode=True)
pool_case("max_pool2d", "rect_stride_pad_dilation", [2, 2, 9, 7], kernel_size=(3, 2), stride=(2, 1),
          padding=(1, 0), dilation=(2, 1))
pool_case("max_pool2d", "dilation2_pad1_ceil", [1, 3, 7, 8], kernel_size=3, stride=2, padding=1, dilation=2,
          ceil_mode=True)
pool_case("max_pool2d", "unbatched", [3, 5, 5], kernel_size=3, stride=1, padding=1)
pool_case("avg_pool2d", "pruning_model_k2_s2_pad1", [2, 3, 6, 6], kernel_size=2, stride=2, padding=1)
pool_case("avg_pool2d", "k2_s2_pad1_exclude_pad", [2, 3, 6, 6], kernel_size=2, stride=2, padding=1,
          count_include_pad=False)
pool_case("avg_pool2d", "k3_s2_pad1_ceil_include_pad", [1, 2, 6, 6], kernel_size=3, stride=2, padding=1,
          ceil_mode=True)
pool_case("avg_pool2d", "k3_s2_pad1_ceil_exclude_pad", [1, 2, 6, 6], kernel_size=3, stride=2, padding=1,
          ceil_mode=True, count_include_pad=False)
pool_case("avg_pool2d", "k2_ceil_no_pad", [1, 2, 5, 5], kernel_size=2, ceil_mode=True)
pool_case("avg_pool2d", "divisor_override3", [2, 2, 6, 5], kernel_size=2, stride=1, padding=1, divisor_override=3)
pool_case("avg_pool2d", "rect_stride_pad", [2, 2, 7, 6], kernel_size=(3, 2), stride=(2, 1), padding=(1, 1))
pool_case("avg_pool2d", "unbatched", [3, 5, 4], kernel_size=2, stride=1)
pool_case("adaptive_avg_pool2d", "pruning_model_2x2", [2, 3, 6, 6], output_size=(2, 2))
pool_case("adaptive_avg_pool2d", "pruning_model_1x1", [2, 3, 5, 5], output_size=(1, 1))
pool_case("adaptive_avg_pool2d", "uneven_3x2_from_7x5", [2, 2, 7, 5], output_size=(3, 2))
pool_case("adaptive_avg_pool2d", "upsample_4x4_from_3x3", [1, 2, 3, 3], output_size=4)
pool_case("adaptive_avg_pool2d", "unbatched", [3, 5, 7], output_size=(2, 3))
pool_case("adaptive_max_pool2d", "2x2", [2, 3, 6, 6], output_size=(2, 2))
pool_case("adaptive_max_pool2d", "1x1", [2, 3, 5, 5], output_size=1)
pool_case("adaptive_max_pool2d", "uneven_3x2_from_7x5", [2, 2, 7, 5], output_size=(3, 2))
pool_case("adaptive_max_pool2d", "upsample_4x4_from_3x3", [1, 2, 3, 3], output_size=4)
pool_case("adaptive_max_pool2d", "unbatched", [3, 5, 7], output_size=(2, 3))

# ---- module reprs ----
reprs = {
    "conv2d_pruning": repr(nn.Conv2d(1, 32, 3, padding=1, bias=False)),
    "conv2d_lenet1": repr(nn.Conv2d(1, 6, 5, padding=2)),
    "conv2d_full": repr(nn.Conv2d(4, 8, (3, 5), stride=(2, 1), padding=(1, 2), dilation=2, groups=2)),
    "conv3d": repr(nn.Conv3d(2, 4, 3, stride=2, padding=1)),
    "maxpool": repr(nn.MaxPool2d(2, stride=2, padding=1)),
    "maxpool_default": repr(nn.MaxPool2d(2)),
    "maxpool_tuple": repr(nn.MaxPool2d((2, 3), stride=(1, 2), ceil_mode=True)),
    "avgpool": repr(nn.AvgPool2d(2, stride=2, padding=1)),
    "avgpool_default": repr(nn.AvgPool2d(3)),
    "adaptive_avg_2x2": repr(nn.AdaptiveAvgPool2d((2, 2))),
    "adaptive_avg_1": repr(nn.AdaptiveAvgPool2d(1)),
    "adaptive_max_2x2": repr(nn.AdaptiveMaxPool2d((2, 2))),
}

out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "nn_conv.json")
with open(out_path, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases, "reprs": reprs}, f)
print("wrote %d cases, %d reprs to %s" % (len(cases), len(reprs), os.path.normpath(out_path)))
