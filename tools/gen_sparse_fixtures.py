#!/usr/bin/python3
"""Fixtures for twig's sparse COO tensors, from PyTorch 1.13 on CPU.

Run with the system PyTorch: /usr/bin/python3 tools/gen_sparse_fixtures.py [--out PATH]
Writes tests/fixtures/sparse.json, read by tests/tensor/test_sparse.cpp.

A tensor is {"dtype", "shape", "data"}: data flat in row-major order, each element a number, a bool
or one of the strings "nan", "inf", "-inf", "-0" (JSON has no NaN or negative zero).

Sections:
  to_sparse  a dense input and sparse_dim (null: all dims) -> repr, indices, values, nnz,
             is_coalesced, and to_dense() of the result
  coalesce   indices, values and size (null: inferred) given to torch.sparse_coo_tensor -> repr and
             is_coalesced of that tensor, then repr, indices and values of coalesce(), and to_dense()
  errors     a call and PyTorch's error: type and the first line of its message
"""
import argparse
import json
import math
import os

import torch

DTYPES = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64",
          torch.int32: "int32", torch.bool: "bool"}


def element(v):
    if isinstance(v, bool):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        if v == 0 and math.copysign(1.0, v) < 0:
            return "-0"
    return v


def encode(t):
    return {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
            "data": [element(v) for v in t.reshape(-1).tolist()]}


def decode_value(v):
    return {"nan": math.nan, "inf": math.inf, "-inf": -math.inf, "-0": -0.0}.get(v, v)


def make(dtype, shape, data):
    dt = {v: k for k, v in DTYPES.items()}[dtype]
    return torch.tensor([decode_value(v) for v in data], dtype=dt).reshape(shape)


TO_SPARSE = [
    ("float32", [2, 3], [0.0, 1.0, "-0", "nan", 0.0, 2.0], None),
    ("float32", [2, 3], [0.0, 1.0, "-0", "nan", 0.0, 2.0], 1),
    ("float32", [2, 3], [0.0] * 6, None),
    ("float32", [], [3.0], None),
    ("float32", [], [0.0], None),
    ("float32", [4], [0.0, 0.5, 0.0, -1.25], None),
    ("float32", [2, 2], [1e-5, 0.0, 0.0, 123.0], None),
    ("int64", [2, 2], [1, 0, 0, 2], None),
    ("int32", [2, 2], [1, 0, 0, -7], None),
    ("float64", [2, 2], [1.0, 0.0, 0.0, 2.5], None),
    ("bool", [1, 2], [True, False], None),
    ("float32", [2, 3, 4], [float(i % 5 == 0) * i for i in range(24)], None),
    ("float32", [2, 3, 4], [float(i % 5 == 0) * i for i in range(24)], 1),
    ("float32", [2, 3, 4], [float(i % 5 == 0) * i for i in range(24)], 2),
    ("float32", [0, 3], [], None),
    ("float32", [2, 0], [], 1),
    ("float32", [501, 2], [float(i) for i in range(1002)], None),  # over 1000 values: summarized
]

COALESCE = [
    ([[1, 0, 1], [2, 0, 2]], "float32", [3], [3.0, 4.0, 5.0], [2, 3]),
    ([[1, 0, 1], [2, 0, 2]], "float32", [3], [3.0, 4.0, 5.0], None),
    ([[1, 1]], "bool", [2], [True, True], None),
    ([[1, 0, 1]], "float32", [3, 2], [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], [3, 2]),
    ([[], []], "float32", [0], [], [2, 3]),
    ([[3, 0, 3, 3]], "int64", [4], [1, 2, 3, 4], None),
    ([[2, 2], [0, 0]], "int32", [2], [5, -5], [3, 1]),
    ([[0, 0]], "float64", [2], [0.1, 0.2], [1]),
    ([[0]], "float32", [1], [2.0], None),
]


def index_tensor(rows):
    return torch.tensor(rows, dtype=torch.int64).reshape(len(rows), -1)


def errors():
    i = torch.tensor([[1, 0, 1], [2, 0, 2]])
    v = torch.tensor([3.0, 4.0, 5.0])
    cases = [
        ("sparse_coo_tensor_1d_indices", lambda: torch.sparse_coo_tensor(torch.tensor([1, 2]), v)),
        ("sparse_coo_tensor_nnz", lambda: torch.sparse_coo_tensor(i, torch.tensor([1.0, 2.0]))),
        ("sparse_coo_tensor_negative", lambda: torch.sparse_coo_tensor(torch.tensor([[-1, 0, 1], [0, 0, 0]]), v,
                                                                       (2, 3))),
        ("sparse_coo_tensor_too_big", lambda: torch.sparse_coo_tensor(i, v, (2, 2))),
        ("sparse_coo_tensor_ndim", lambda: torch.sparse_coo_tensor(i, v, (2,))),
        ("sparse_coo_tensor_dense_size", lambda: torch.sparse_coo_tensor(torch.tensor([[0]]), torch.ones(1, 3),
                                                                         (2, 4))),
        ("to_sparse_too_many", lambda: torch.ones(2, 3).to_sparse(3)),
        ("to_sparse_zero", lambda: torch.ones(2, 3).to_sparse(0)),
        ("indices_uncoalesced", lambda: torch.sparse_coo_tensor(i, v).indices()),
        ("values_uncoalesced", lambda: torch.sparse_coo_tensor(i, v).values()),
    ]
    out = {}
    for name, fn in cases:
        try:
            fn()
        except Exception as e:  # noqa: BLE001 (recording whatever PyTorch raises)
            out[name] = {"type": type(e).__name__, "message": str(e).split("\n")[0]}
        else:
            raise SystemExit(f"{name}: PyTorch raised nothing")
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures",
                                                      "sparse.json"))
    args = parser.parse_args()
    to_sparse = []
    for dtype, shape, data, sparse_dim in TO_SPARSE:
        x = make(dtype, shape, data)
        s = x.to_sparse() if sparse_dim is None else x.to_sparse(sparse_dim)
        to_sparse.append({"input": encode(x), "sparse_dim": sparse_dim, "repr": repr(s),
                          "indices": encode(s.indices()), "values": encode(s.values()), "nnz": s._nnz(),
                          "is_coalesced": s.is_coalesced(), "dense": encode(s.to_dense())})
    coalesce = []
    for rows, dtype, vshape, vdata, size in COALESCE:
        indices = index_tensor(rows)
        values = make(dtype, vshape, vdata)
        s = torch.sparse_coo_tensor(indices, values) if size is None else torch.sparse_coo_tensor(indices, values,
                                                                                                    size)
        c = s.coalesce()
        coalesce.append({"indices_in": encode(indices), "values_in": encode(values), "size": size,
                         "repr": repr(s), "is_coalesced": s.is_coalesced(), "coalesced_repr": repr(c),
                         "indices": encode(c.indices()), "values": encode(c.values()),
                         "dense": encode(s.to_dense())})
    result = {"generator": "tools/gen_sparse_fixtures.py", "torch": torch.__version__, "to_sparse": to_sparse,
              "coalesce": coalesce, "errors": errors()}
    # One case per line: readable diffs without a line per number.
    with open(args.out, "w") as f:
        f.write("{\n")
        keys = list(result)
        for n, key in enumerate(keys):
            value = result[key]
            f.write(json.dumps(key) + ": ")
            if isinstance(value, list):
                f.write("[\n" + ",\n".join(json.dumps(case) for case in value) + "\n]")
            else:
                f.write(json.dumps(value))
            f.write(",\n" if n + 1 < len(keys) else "\n")
        f.write("}\n")


if __name__ == "__main__":
    main()
