#!/usr/bin/python3
"""Golden values for twig's losses and optimizers from PyTorch 1.13.

Run with the system Python that has torch 1.13:
    /usr/bin/python3 tools/gen_nn_train_fixtures.py   # writes tests/fixtures/nn_train.json
Everything is seeded; float64 throughout so the C++ tests can compare at 1e-10 / 1e-6 rel.
"""
import json
import os

import torch
import torch.nn.functional as F

assert torch.__version__.startswith("1.13"), torch.__version__
torch.manual_seed(0)
torch.set_default_dtype(torch.float64)


def t(x):
    return {"shape": list(x.shape), "data": x.detach().reshape(-1).tolist()}


def loss_cases():
    cases = []
    x2 = torch.randn(6, 5)
    tgt2 = torch.tensor([0, 4, 2, 2, 1, 3])
    tgt2_ign = torch.tensor([0, 4, -100, 2, 1, -100])
    tgt2_ign3 = torch.tensor([0, 3, 2, 3, 1, 4])  # ignore_index=3
    w = torch.tensor([0.5, 1.0, 2.0, 0.25, 1.5])
    x4 = torch.randn(2, 3, 2, 2)
    tgt4 = torch.tensor([[[0, 2], [1, 1]], [[2, 0], [-100, 1]]])
    x1 = torch.randn(4)
    tgt1 = torch.tensor(3)

    def add(fn, x, target, **kw):
        x = x.clone().requires_grad_()
        if fn == "cross_entropy":
            out = F.cross_entropy(x, target, **kw)
        elif fn == "nll_loss":
            out = F.nll_loss(x, target, **kw)
        else:
            out = F.mse_loss(x, target, **kw)
        out.backward(torch.ones_like(out) if out.dim() else None)
        case = {"fn": fn, "input": t(x), "target": t(target),
                "reduction": kw.get("reduction", "mean"),
                "ignore_index": kw.get("ignore_index", -100),
                "label_smoothing": kw.get("label_smoothing", 0.0),
                "out": t(out), "grad": t(x.grad)}
        if kw.get("weight") is not None:
            case["weight"] = t(kw["weight"])
        cases.append(case)

    for red in ["mean", "sum", "none"]:
        add("mse_loss", torch.randn(3, 4), torch.randn(3, 4), reduction=red)
        for fn, inp in [("nll_loss", F.log_softmax(x2, 1)), ("cross_entropy", x2)]:
            add(fn, inp, tgt2, reduction=red)
            add(fn, inp, tgt2, weight=w, reduction=red)
            add(fn, inp, tgt2_ign, reduction=red)
            add(fn, inp, tgt2_ign, weight=w, reduction=red)
            add(fn, inp, tgt2_ign3, weight=w, reduction=red, ignore_index=3)
            add(fn, x4 if fn == "cross_entropy" else F.log_softmax(x4, 1), tgt4, reduction=red)
            add(fn, x1 if fn == "cross_entropy" else F.log_softmax(x1, 0), tgt1, reduction=red)
        for ls in [0.1, 0.3]:
            add("cross_entropy", x2, tgt2, reduction=red, label_smoothing=ls)
            add("cross_entropy", x2, tgt2_ign, reduction=red, label_smoothing=ls)
            add("cross_entropy", x2, tgt2_ign, weight=w, reduction=red, label_smoothing=ls)
            add("cross_entropy", x4, tgt4, weight=w[:3], reduction=red, label_smoothing=ls)
    # broadcasting mse (PyTorch warns, then broadcasts)
    add("mse_loss", torch.randn(3, 4), torch.randn(4), reduction="mean")
    return cases


def optim_cases():
    cases = []
    p0 = torch.randn(3, 4)
    grads = [torch.randn(3, 4) for _ in range(5)]
    configs = [
        ("SGD", {"lr": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.9}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.5}),
        ("SGD", {"lr": 0.05, "momentum": 0.8, "weight_decay": 0.1}),
        ("SGD", {"lr": 0.1, "maximize": True}),
        ("Adam", {"lr": 0.01}),
        ("Adam", {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1}),
        ("Adam", {"lr": 0.01, "amsgrad": True}),
        ("AdamW", {"lr": 0.01}),
        ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ]
    for name, kw in configs:
        p = p0.clone().requires_grad_()
        opt = getattr(torch.optim, name)([p], **kw)
        traj = []
        for g in grads:
            p.grad = g.clone()
            opt.step()
            traj.append(p.detach().reshape(-1).tolist())
        options = dict(kw)
        if "betas" in options:
            options["beta1"], options["beta2"] = options.pop("betas")
        cases.append({"optimizer": name, "options": {k: float(v) for k, v in options.items()},
                      "trajectory": traj})
    return {"param": t(p0), "grads": [t(g) for g in grads], "cases": cases}


def main():
    out = {"torch_version": torch.__version__, "losses": loss_cases(), "optim": optim_cases()}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "nn_train.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(out, f)
    print(f"wrote {path}: {len(out['losses'])} loss cases, {len(out['optim']['cases'])} optimizer trajectories")


if __name__ == "__main__":
    main()
