#!/usr/bin/python3
"""Golden values for tests/nn/test_layers.cpp and tests/nn/test_rnn.cpp from PyTorch 1.13.

Run with the system PyTorch: /usr/bin/python3 tools/gen_nn_layer_fixtures.py
Writes tests/fixtures/nn_layers.json. Every case holds float32 parameters, inputs, outputs, and
the gradients of sum_k (out_k * w_k).sum() for seeded random weights w_k (stored as "out_weights").
"""
import json
import os

import torch
import torch.nn.functional as F

torch.manual_seed(1234)


def enc(t):
    t = t.detach().to(torch.float32).contiguous()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def enc_int(t):
    return {"shape": list(t.shape), "data": [int(v) for v in t.reshape(-1).tolist()]}


def loss_and_weights(outs):
    ws = [torch.randn(o.shape) for o in outs]
    loss = sum((o * w).sum() for o, w in zip(outs, ws))
    return loss, ws


cases = []


def lstm_case(name, input_size, hidden, layers, batch_first, bias, x_shape, with_state):
    m = torch.nn.LSTM(input_size, hidden, layers, bias=bias, batch_first=batch_first)
    x = torch.randn(x_shape, requires_grad=True)
    args = [x]
    inputs = {"x": x}
    if with_state:
        hshape = (layers, hidden) if len(x_shape) == 2 else (layers, x_shape[0 if batch_first else 1], hidden)
        h0 = torch.randn(hshape, requires_grad=True)
        c0 = torch.randn(hshape, requires_grad=True)
        args.append((h0, c0))
        inputs.update({"h0": h0, "c0": c0})
    out, (hn, cn) = m(*args)
    loss, ws = loss_and_weights([out, hn, cn])
    loss.backward()
    cases.append({
        "name": name, "kind": "lstm",
        "config": {"input_size": input_size, "hidden_size": hidden, "num_layers": layers,
                   "batch_first": batch_first, "bias": bias},
        "params": {n: enc(p) for n, p in m.named_parameters()},
        "param_names": [n for n, _ in m.named_parameters()],
        "inputs": {k: enc(v) for k, v in inputs.items()},
        "outputs": [enc(out), enc(hn), enc(cn)],
        "out_weights": [enc(w) for w in ws],
        "grads": {**{k: enc(v.grad) for k, v in inputs.items()},
                  **{n: enc(p.grad) for n, p in m.named_parameters()}},
        "repr": repr(m),
    })


lstm_case("lstm_1layer", 5, 4, 1, False, True, (6, 3, 5), False)
lstm_case("lstm_1layer_state", 5, 4, 1, False, True, (6, 3, 5), True)
lstm_case("lstm_2layer_state", 5, 4, 2, False, True, (4, 2, 5), True)
lstm_case("lstm_2layer_batch_first", 5, 4, 2, True, True, (2, 4, 5), False)
lstm_case("lstm_2layer_batch_first_state", 5, 4, 2, True, True, (2, 4, 5), True)
lstm_case("lstm_unbatched", 5, 4, 2, False, True, (3, 5), False)
lstm_case("lstm_unbatched_state", 5, 4, 2, False, True, (3, 5), True)
lstm_case("lstm_unbatched_batch_first_state", 5, 4, 1, True, True, (3, 5), True)
lstm_case("lstm_nobias", 5, 4, 2, False, False, (4, 2, 5), True)
lstm_case("lstm_8_8_2", 8, 8, 2, False, True, (1, 8), False)


def module_case(name, kind, m, x, config, extra_outputs=None, train=True, int_input=False):
    m.train(train)
    if not int_input:
        x = x.clone().requires_grad_(True)
    params = {n: enc(p) for n, p in m.named_parameters()}
    buffers_before = {n: (enc_int(b) if not b.is_floating_point() else enc(b)) for n, b in m.named_buffers()}
    out = m(x)
    loss, ws = loss_and_weights([out])
    loss.backward()
    grads = {n: enc(p.grad) for n, p in m.named_parameters()}
    if not int_input:
        grads["x"] = enc(x.grad)
    cases.append({
        "name": name, "kind": kind, "config": config, "train": train,
        "params": params, "buffers_before": buffers_before,
        "buffers_after": {n: (enc_int(b) if not b.is_floating_point() else enc(b)) for n, b in m.named_buffers()},
        "inputs": {"x": enc_int(x) if int_input else enc(x)},
        "outputs": [enc(out)], "out_weights": [enc(w) for w in ws], "grads": grads, "repr": repr(m),
    })


ln = torch.nn.LayerNorm(8)
with torch.no_grad():
    ln.weight.copy_(torch.randn(8))
    ln.bias.copy_(torch.randn(8))
module_case("layernorm_8", "layernorm", ln, torch.randn(2, 3, 8) * 3 + 1, {"normalized_shape": [8]})
ln2 = torch.nn.LayerNorm([3, 4], eps=1e-3)
with torch.no_grad():
    ln2.weight.copy_(torch.randn(3, 4))
    ln2.bias.copy_(torch.randn(3, 4))
module_case("layernorm_3x4", "layernorm", ln2, torch.randn(5, 3, 4), {"normalized_shape": [3, 4], "eps": 1e-3})
module_case("layernorm_noaffine", "layernorm", torch.nn.LayerNorm(6, elementwise_affine=False), torch.randn(4, 6),
            {"normalized_shape": [6], "elementwise_affine": False})

for train in (True, False):
    bn = torch.nn.BatchNorm2d(3, momentum=0.2)
    with torch.no_grad():
        bn.weight.copy_(torch.randn(3))
        bn.bias.copy_(torch.randn(3))
        bn.running_mean.copy_(torch.randn(3))
        bn.running_var.copy_(torch.rand(3) + 0.5)
        bn.num_batches_tracked.fill_(3)
    module_case("batchnorm2d_" + ("train" if train else "eval"), "batchnorm2d", bn, torch.randn(4, 3, 5, 5) * 2 + 0.5,
                {"num_features": 3, "momentum": 0.2}, train=train)

emb = torch.nn.Embedding(10, 4, padding_idx=1)
module_case("embedding_pad", "embedding", emb, torch.tensor([[0, 1, 3], [3, 9, 1]]),
            {"num_embeddings": 10, "embedding_dim": 4, "padding_idx": 1}, int_input=True)
emb2 = torch.nn.Embedding(6, 3)
module_case("embedding", "embedding", emb2, torch.tensor([5, 0, 2, 2]),
            {"num_embeddings": 6, "embedding_dim": 3}, int_input=True)

# Activations: inputs spread over the interesting ranges, away from kinks by at least 1e-2.
xa = torch.linspace(-5.3, 5.1, 48).reshape(4, 12)
xa = xa + 0.013 * torch.randn(4, 12)
acts = [
    ("ReLU", torch.nn.ReLU(), {}), ("RReLU", torch.nn.RReLU(0.1, 0.3), {"lower": 0.1, "upper": 0.3}),
    ("Hardtanh", torch.nn.Hardtanh(-2.0, 1.5), {"min_val": -2.0, "max_val": 1.5}), ("ReLU6", torch.nn.ReLU6(), {}),
    ("Sigmoid", torch.nn.Sigmoid(), {}), ("Hardsigmoid", torch.nn.Hardsigmoid(), {}), ("Tanh", torch.nn.Tanh(), {}),
    ("SiLU", torch.nn.SiLU(), {}), ("Mish", torch.nn.Mish(), {}), ("Hardswish", torch.nn.Hardswish(), {}),
    ("ELU", torch.nn.ELU(0.7), {"alpha": 0.7}), ("CELU", torch.nn.CELU(1.3), {"alpha": 1.3}),
    ("SELU", torch.nn.SELU(), {}), ("Hardshrink", torch.nn.Hardshrink(0.8), {"lambd": 0.8}),
    ("LeakyReLU", torch.nn.LeakyReLU(0.05), {"negative_slope": 0.05}), ("LogSigmoid", torch.nn.LogSigmoid(), {}),
    ("Softplus", torch.nn.Softplus(2, 6), {"beta": 2.0, "threshold": 6.0}),  # ints, like its defaults
    ("PReLU", torch.nn.PReLU(), {"num_parameters": 1}), ("Softsign", torch.nn.Softsign(), {}),
    ("Tanhshrink", torch.nn.Tanhshrink(), {}), ("GELU", torch.nn.GELU(), {"approximate": "none"}),
    ("GELU_tanh", torch.nn.GELU("tanh"), {"approximate": "tanh"}),
    ("Softmax", torch.nn.Softmax(1), {"dim": 1}), ("LogSoftmax", torch.nn.LogSoftmax(0), {"dim": 0}),
]
for name, m, cfg in acts:
    module_case("act_" + name, "activation", m, xa, {"type": name.split("_")[0], **cfg}, train=False)
prelu4 = torch.nn.PReLU(4, init=0.1)
with torch.no_grad():
    prelu4.weight.copy_(torch.tensor([0.1, -0.2, 0.3, 0.5]))
module_case("act_PReLU_channels", "activation", prelu4, torch.randn(2, 4, 3), {"type": "PReLU", "num_parameters": 4},
            train=False)

# Reprs of default-constructed modules, for the repr tests.
reprs = {n: repr(m) for n, m in [
    ("ReLU", torch.nn.ReLU()), ("RReLU", torch.nn.RReLU()), ("Hardtanh", torch.nn.Hardtanh()),
    ("ReLU6", torch.nn.ReLU6()), ("Sigmoid", torch.nn.Sigmoid()), ("Hardsigmoid", torch.nn.Hardsigmoid()),
    ("Tanh", torch.nn.Tanh()), ("SiLU", torch.nn.SiLU()), ("Mish", torch.nn.Mish()),
    ("Hardswish", torch.nn.Hardswish()), ("ELU", torch.nn.ELU()), ("CELU", torch.nn.CELU()), ("SELU", torch.nn.SELU()),
    ("Hardshrink", torch.nn.Hardshrink()), ("LeakyReLU", torch.nn.LeakyReLU()), ("LogSigmoid", torch.nn.LogSigmoid()),
    ("Softplus", torch.nn.Softplus()), ("PReLU", torch.nn.PReLU()), ("Softsign", torch.nn.Softsign()),
    ("Tanhshrink", torch.nn.Tanhshrink()), ("GELU", torch.nn.GELU()), ("Softmax", torch.nn.Softmax(1)),
    ("LogSoftmax", torch.nn.LogSoftmax(1)), ("Dropout", torch.nn.Dropout()), ("Embedding", torch.nn.Embedding(10, 3, padding_idx=0)),
    ("BatchNorm2d", torch.nn.BatchNorm2d(8)), ("LayerNorm", torch.nn.LayerNorm(8)), ("LSTM", torch.nn.LSTM(8, 8, 2)),
    ("LSTM_flags", torch.nn.LSTM(3, 4, bias=False, batch_first=True)),
]}

out_path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "nn_layers.json")
with open(out_path, "w") as f:
    json.dump({"torch_version": torch.__version__, "cases": cases, "reprs": reprs}, f)
print(f"wrote {len(cases)} cases to {os.path.normpath(out_path)}")
