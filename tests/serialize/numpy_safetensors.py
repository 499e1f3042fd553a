#!/usr/bin/env python3
"""An independent safetensors reader and writer in NumPy, for twig's interop tests.

  numpy_safetensors.py check FILE   read FILE (written by twig), compare with the expected tensors
  numpy_safetensors.py write FILE   write the expected tensors (no header padding, u8 first so
                                    the later tensors sit at unaligned offsets)
  numpy_safetensors.py pruned MODULE_FILE STATE_DICT_FILE
                                    a pruned whole-module file read with NumPy alone: each state-dict
                                    tensor (weight_orig, weight_mask, ...) equals the module file's
                                    entry, bit-packed masks unpacked with the tree's "packed" table
  numpy_safetensors.py sparse FILE DENSE_FILE
                                    FILE holds sparse COO tensors (each as NAME.indices and NAME.values,
                                    described in __metadata__["twig.sparse"]); each one rebuilt densely
                                    with NumPy equals the tensor of that name in DENSE_FILE
Exit status 0 on success.
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}
NAMES = {np.dtype(v): k for k, v in DTYPES.items()}


def expected():
    return {
        "f32": (np.arange(12, dtype=np.float32).reshape(3, 4) / np.float32(8)).astype(np.float32),
        "f64": np.linspace(-1.0, 1.0, 5, dtype=np.float64),
        "i64": np.arange(6, dtype=np.int64) * -3,
        "i32": np.arange(4, dtype=np.int32) + 1000,
        "u8": (np.arange(5, dtype=np.uint8) * 50).astype(np.uint8),
        "bool": np.array([True, False, True]),
        "empty": np.zeros((0, 3), dtype=np.float32),
        "scalar": np.array(7.25, dtype=np.float64),
    }


def read(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        arr = np.frombuffer(data[begin:end], dtype=np.dtype(DTYPES[e["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(e["shape"])
    return out, meta


def check(path):
    got, meta = read(path)
    want = expected()
    ok = set(got) == set(want) and meta.get("writer") == "twig"
    for name, arr in want.items():
        g = got.get(name)
        if g is None or g.dtype != arr.dtype or g.shape != arr.shape or g.tobytes() != arr.tobytes():
            print("mismatch:", name, g, arr)
            ok = False
    return ok


def write(path):
    tensors = expected()
    order = ["u8", "bool"] + [k for k in tensors if k not in ("u8", "bool")]
    header, blobs, offset = {"__metadata__": {"writer": "numpy"}}, [], 0
    for name in order:
        arr = tensors[name].copy(order="C")  # (ascontiguousarray would make a 0-d array 1-d)
        blob = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": NAMES[arr.dtype], "shape": list(arr.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header).encode("utf-8")
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
    return True


def pruned(module_path, state_dict_path):
    entries, meta = read(module_path)
    packed = json.loads(meta["twig.module"])["packed"]
    want, _ = read(state_dict_path)
    ok = len(packed) > 0
    for name, arr in want.items():
        if name in packed:
            row = packed[name]
            n = int(np.prod(row["shape"], dtype=np.int64))
            bits = np.unpackbits(entries[row["data"]], bitorder="little")[:n]
            got = bits.astype(DTYPES[row["dtype"]]).reshape(row["shape"])
        else:
            got = entries.get(name)
        if got is None or got.dtype != arr.dtype or got.shape != arr.shape or got.tobytes() != arr.tobytes():
            print("mismatch:", name, got, arr)
            ok = False
    return ok


def sparse(path, dense_path):
    entries, meta = read(path)
    described = json.loads(meta["twig.sparse"])
    want, _ = read(dense_path)
    ok = len(described) > 0 and set(want) == set(described)
    for name, d in described.items():
        indices, values = entries[name + ".indices"], entries[name + ".values"]
        got = np.zeros(d["size"], dtype=values.dtype)
        if values.dtype == np.bool_:
            got[tuple(indices)] |= values  # (no duplicates among the bool ones here)
        else:
            np.add.at(got, tuple(indices), values)  # duplicates are summed
        arr = want.get(name)
        if d["layout"] != "sparse_coo" or arr is None or got.dtype != arr.dtype or got.shape != arr.shape or \
                got.tobytes() != arr.tobytes():
            print("mismatch:", name, got, arr)
            ok = False
    return ok


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "sparse":
        sys.exit(0 if sparse(sys.argv[2], sys.argv[3]) else 1)
    if mode == "pruned":
        sys.exit(0 if pruned(sys.argv[2], sys.argv[3]) else 1)
    sys.exit(0 if {"check": check, "write": write}[mode](sys.argv[2]) else 1)
