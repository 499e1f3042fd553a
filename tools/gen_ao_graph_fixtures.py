#!/usr/bin/python3
"""The graphs torch.fx.symbolic_trace (PyTorch 1.13) records for common_pruning's models (spec
section 1) and two more (a residual add, a cat), for tests/ao/test_graph_fx.cpp (issue 14 section 1).

Run with Debian's interpreter (the one torch is installed in):

    /usr/bin/python3 tools/gen_ao_graph_fixtures.py   # writes tests/fixtures/ao_graph.json

Per model: its input shape and the nodes in graph order, each with opcode, name, target (a
call_module's dotted name; a call_function's qualified function name, e.g.
"torch.nn.functional.relu", "_operator.getitem"; a placeholder's name), args and kwargs (a node
as {"node": name}, a list/tuple as {"list": [...]}/{"tuple": [...]}, anything else as
{"const": repr}), and users (node names, in fx's order). The models are built here from the
spec (common_pruning.py is not part of 1.13).
"""

import dis
import inspect
import json
import os

import torch
import torch.nn.functional as F
from torch import fx, nn


# fx 1.13 finds tuple unpacking (`output, hidden = self.lstm(input)`) by indexing the caller's
# bytecode with f_lasti // 2, which Python 3.11's inline caches break (IndexError). The same
# lookup by byte offset, so the unpacking gives fx's getitem nodes as on the Pythons 1.13 supports.
def _proxy_iter(self):
    caller = inspect.currentframe().f_back
    inst = {i.offset: i for i in dis.get_instructions(caller.f_code)}[caller.f_lasti]
    if inst.opname == "UNPACK_SEQUENCE":
        return (self[i] for i in range(inst.argval))
    return self.tracer.iter(self)


fx.proxy.Proxy.__iter__ = _proxy_iter


class SimpleLinear(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(7, 5, bias=False), nn.Linear(5, 6, bias=False), nn.Linear(6, 4, bias=False))
        self.linear1 = nn.Linear(4, 4, bias=False)
        self.linear2 = nn.Linear(4, 10, bias=False)

    def forward(self, x):
        x = self.seq(x)
        x = self.linear1(x)
        x = self.linear2(x)
        return x


class LinearBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(
            nn.Linear(7, 5, bias=True),
            nn.Linear(5, 6, bias=False),
            nn.Linear(6, 3, bias=True),
            nn.Linear(3, 3, bias=True),
            nn.Linear(3, 10, bias=False),
        )

    def forward(self, x):
        return self.seq(x)


class LinearActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(7, 5, bias=True), nn.ReLU(), nn.Linear(5, 6, bias=False), nn.Tanh(),
                                 nn.Linear(6, 4, bias=True))
        self.linear1 = nn.Linear(4, 3, bias=True)
        self.act1 = nn.ReLU()
        self.linear2 = nn.Linear(3, 10, bias=False)
        self.act2 = nn.Tanh()

    def forward(self, x):
        x = self.seq(x)
        x = self.linear1(x)
        x = self.act1(x)
        x = self.linear2(x)
        x = self.act2(x)
        return x


class LinearActivationFunctional(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Linear(7, 5, bias=True), nn.ReLU(), nn.Linear(5, 6, bias=False), nn.ReLU(),
                                 nn.Linear(6, 4, bias=True))
        self.linear1 = nn.Linear(4, 3, bias=True)
        self.linear2 = nn.Linear(3, 8, bias=False)
        self.linear3 = nn.Linear(8, 10, bias=False)
        self.act1 = nn.ReLU()

    def forward(self, x):
        x = self.seq(x)
        x = self.linear1(x)
        x = F.relu(x)
        x = self.linear2(x)
        x = F.relu(x)
        x = self.linear3(x)
        x = F.relu(x)
        return x


class SimpleConv2d(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Conv2d(1, 32, 3, 1, bias=False), nn.Conv2d(32, 64, 3, 1, bias=False))
        self.conv2d1 = nn.Conv2d(64, 48, 3, 1, bias=False)
        self.conv2d2 = nn.Conv2d(48, 52, 3, 1, bias=False)

    def forward(self, x):
        x = self.seq(x)
        x = self.conv2d1(x)
        x = self.conv2d2(x)
        return x


class Conv2dBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Conv2d(1, 32, 3, 1, bias=True), nn.Conv2d(32, 32, 3, 1, bias=True),
                                 nn.Conv2d(32, 64, 3, 1, bias=False))
        self.conv2d1 = nn.Conv2d(64, 48, 3, 1, bias=True)
        self.conv2d2 = nn.Conv2d(48, 52, 3, 1, bias=False)

    def forward(self, x):
        x = self.seq(x)
        x = self.conv2d1(x)
        x = self.conv2d2(x)
        return x


class Conv2dActivation(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(nn.Conv2d(1, 32, 3, 1, bias=True), nn.ReLU(), nn.Conv2d(32, 64, 3, 1, bias=True),
                                 nn.Tanh(), nn.Conv2d(64, 64, 3, 1, bias=False), nn.ReLU())
        self.conv2d1 = nn.Conv2d(64, 48, 3, 1, bias=False)
        self.conv2d2 = nn.Conv2d(48, 52, 3, 1, bias=True)

    def forward(self, x):
        x = self.seq(x)
        x = self.conv2d1(x)
        x = F.relu(x)
        x = self.conv2d2(x)
        x = F.hardtanh(x)
        return x


class Conv2dPadBias(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = nn.Sequential(
            nn.Conv2d(1, 32, 3, 1, padding=1, bias=True), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, bias=False), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, padding=1, bias=True), nn.ReLU(),
            nn.Conv2d(32, 32, 3, 1, padding=1, bias=True), nn.ReLU(),
            nn.Conv2d(32, 64, 3, 1, bias=True), nn.Tanh())
        self.conv2d1 = nn.Conv2d(64, 48, 3, 1, padding=1, bias=True)
        self.act1 = nn.ReLU()
        self.conv2d2 = nn.Conv2d(48, 52, 3, 1, padding=1, bias=True)
        self.act2 = nn.Tanh()

    def forward(self, x):
        x = self.seq(x)
        x = self.conv2d1(x)
        x = self.act1(x)
        x = self.conv2d2(x)
        x = self.act2(x)
        return x


def conv_pool_chain(c1, c2):
    """The `seq` of spec section 1's Conv2dPool, Conv2dPoolFlattenFunctional and Conv2dPoolFlatten:
    Conv2d(1, c1) -> MaxPool2d -> ReLU -> Conv2d(c1, c2) -> Tanh -> AvgPool2d (3x3 convolutions
    with padding 1 and a bias; 2x2 pools with stride 2 and padding 1)."""
    return nn.Sequential(
        nn.Conv2d(1, c1, kernel_size=3, padding=1, bias=True),
        nn.MaxPool2d(kernel_size=2, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(c1, c2, kernel_size=3, padding=1, bias=True), nn.Tanh(),
        nn.AvgPool2d(kernel_size=2, stride=2, padding=1))


class Conv2dPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = conv_pool_chain(32, 64)
        self.conv2d1 = nn.Conv2d(64, 48, kernel_size=3, padding=1, bias=True)
        self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2, padding=1)
        self.af1 = nn.ReLU()
        self.conv2d2 = nn.Conv2d(48, 52, kernel_size=3, padding=1, bias=True)
        self.conv2d3 = nn.Conv2d(52, 52, kernel_size=3, padding=1, bias=True)

    def forward(self, x):
        x = self.seq(x)
        x = self.conv2d1(x)
        x = self.maxpool(x)
        x = self.af1(x)
        x = self.conv2d2(x)
        x = F.avg_pool2d(x, kernel_size=2, stride=2, padding=1)
        x = F.relu(x)
        x = self.conv2d3(x)
        return x


class Conv2dPoolFlattenFunctional(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = conv_pool_chain(3, 5)
        self.conv2d1 = nn.Conv2d(5, 7, kernel_size=3, padding=1, bias=True)
        self.af1 = nn.ReLU()
        self.conv2d2 = nn.Conv2d(7, 11, kernel_size=3, padding=1, bias=True)
        self.avg_pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(11, 13, bias=True)

    def forward(self, x):
        x = self.seq(x)
        x = self.conv2d1(x)
        x = F.max_pool2d(x, kernel_size=2, stride=2, padding=1)
        x = self.af1(x)
        x = self.conv2d2(x)
        x = self.avg_pool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


class Conv2dPoolFlatten(nn.Module):
    def __init__(self):
        super().__init__()
        self.seq = conv_pool_chain(3, 5)
        self.conv2d1 = nn.Conv2d(5, 7, kernel_size=3, padding=1, bias=True)
        self.af1 = nn.ReLU()
        self.conv2d2 = nn.Conv2d(7, 11, kernel_size=3, padding=1, bias=True)
        self.avg_pool = nn.AdaptiveAvgPool2d((2, 2))
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(44, 13, bias=True)

    def forward(self, x):
        x = self.seq(x)
        x = self.conv2d1(x)
        x = F.max_pool2d(x, kernel_size=2, stride=2, padding=1)
        x = self.af1(x)
        x = self.conv2d2(x)
        x = self.avg_pool(x)
        x = self.flatten(x)
        x = self.fc(x)
        return x


class LSTMLinearModel(nn.Module):
    def __init__(self, input_dim, hidden_dim, output_dim, num_layers):
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, num_layers)
        self.linear = nn.Linear(hidden_dim, output_dim)

    def forward(self, input):
        output, hidden = self.lstm(input)
        decoded = self.linear(output)
        return decoded, output


class LSTMLayerNormLinearModel(nn.Module):
    def __init__(self, input_dim, hidden_dim, output_dim, num_layers):
        super().__init__()
        self.lstm = nn.LSTM(input_dim, hidden_dim, num_layers)
        self.norm = nn.LayerNorm(hidden_dim)
        self.linear = nn.Linear(hidden_dim, output_dim)

    def forward(self, x):
        x, state = self.lstm(x)
        x = self.norm(x)
        x = self.linear(x)
        return x, state


# Not in common_pruning: a residual add (fc1 has two users) and a cat of two branches.
class ResidualAdd(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 4)

    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(F.relu(h)) + h


class CatBranches(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 2)
        self.b = nn.Linear(3, 4)
        self.fc = nn.Linear(6, 5)

    def forward(self, x):
        y = torch.cat([self.a(x), self.b(x)], 1)
        return self.fc(F.relu(y))


MODELS = [
    ("SimpleLinear", SimpleLinear, [3, 7]),
    ("LinearBias", LinearBias, [3, 7]),
    ("LinearActivation", LinearActivation, [3, 7]),
    ("LinearActivationFunctional", LinearActivationFunctional, [3, 7]),
    ("SimpleConv2d", SimpleConv2d, [1, 1, 28, 28]),
    ("Conv2dBias", Conv2dBias, [1, 1, 28, 28]),
    ("Conv2dActivation", Conv2dActivation, [1, 1, 28, 28]),
    ("Conv2dPadBias", Conv2dPadBias, [1, 1, 28, 28]),
    ("Conv2dPool", Conv2dPool, [1, 1, 28, 28]),
    ("Conv2dPoolFlattenFunctional", Conv2dPoolFlattenFunctional, [1, 1, 28, 28]),
    ("Conv2dPoolFlatten", Conv2dPoolFlatten, [1, 1, 28, 28]),
    ("LSTMLinearModel", lambda: LSTMLinearModel(8, 8, 8, 1), [1, 8]),
    ("LSTMLayerNormLinearModel", lambda: LSTMLayerNormLinearModel(8, 8, 8, 1), [1, 8]),
    ("ResidualAdd", ResidualAdd, [2, 4]),
    ("CatBranches", CatBranches, [2, 3]),
]


def encode(a):
    if isinstance(a, fx.Node):
        return {"node": a.name}
    if isinstance(a, list):
        return {"list": [encode(x) for x in a]}
    if isinstance(a, tuple):
        return {"tuple": [encode(x) for x in a]}
    return {"const": repr(a)}


def target_name(node):
    if node.op == "call_function":
        return fx.node._get_qualified_name(node.target)
    return str(node.target)


def main():
    torch.manual_seed(0)
    out = {"torch": torch.__version__, "models": []}
    for name, make, shape in MODELS:
        model = make()
        gm = fx.symbolic_trace(model)
        # The traced module runs and equals the model (a check of the generator itself).
        x = torch.randn(shape)
        a, b = model(x), gm(x)
        a0, b0 = (a[0], b[0]) if isinstance(a, tuple) else (a, b)
        assert torch.equal(a0, b0), name
        nodes = []
        for n in gm.graph.nodes:
            nodes.append({
                "op": n.op,
                "name": n.name,
                "target": target_name(n),
                "args": [encode(x) for x in n.args],
                "kwargs": {k: encode(v) for k, v in n.kwargs.items()},
                "users": [u.name for u in n.users],
            })
        out["models"].append({"model": name, "input_shape": shape, "nodes": nodes})
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ao_graph.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path), len(out["models"]), "models")


if __name__ == "__main__":
    main()
