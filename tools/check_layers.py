#!/usr/bin/env python3
"""Fails when a library file includes a header of a layer above its own.

    python3 tools/check_layers.py              # check the tracked files; exit 1 on an upward include
    python3 tools/check_layers.py --self-test  # show that a reintroduced upward include fails

A file's layer is the longest folder prefix of its path in LAYERS; a "twig/<path>" include names
the included header's layer the same way (the top-level twig.h and core.h include everything, so
a library file may not include them). apps/, bench/, examples/, tests/ and tools/ may include
anything and are not checked. What a layer may include (its own folder always):

    tensor        -> (only itself; tensor/cpu/ is part of it)
    autograd      -> tensor
    autograd/ops  -> autograd, tensor       (the differentiable ops and the op API, ops.h)
    nn            -> autograd/ops, autograd, tensor
    serialize     -> nn and below
    prune         -> serialize, nn and below
    ao            -> serialize, nn and below (not prune/: torch.ao.pruning stands beside it)
    cuda          -> tensor                 (a backend plugs in behind tensor/backend.h)

Two parts of tensor/ are private to it, so that device compute stays behind the Backend: the CPU
backend's headers (tensor/cpu/) and the thread pool's parallel_for (tensor/parallel.h). No other
library layer may include them (apps, bench, examples and tests may: set_num_threads is public
through twig/core.h).

The link check in CMakeLists.txt (twig_layer_check_tensor, twig_layer_check_autograd) adds what
an include check cannot see: tensor/ and tensor/ + autograd/ link as shared libraries with
-Wl,--no-undefined, so calling a Tensor method that autograd/ops/ defines fails the build.
"""
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

BELOW_NN = {"autograd/ops", "autograd", "tensor"}
ALLOWED = {
    "tensor": set(),
    "autograd": {"tensor"},
    "autograd/ops": {"autograd", "tensor"},
    "nn": BELOW_NN,
    "serialize": {"nn"} | BELOW_NN,
    "prune": {"serialize", "nn"} | BELOW_NN,
    "ao": {"serialize", "nn"} | BELOW_NN,
    "cuda": {"tensor"},
}
# Longest prefix first, so autograd/ops/x.cpp is in autograd/ops, not autograd.
LAYERS = sorted(ALLOWED, key=len, reverse=True)
# Headers only their own layer may include (longest prefix first, as LAYERS).
PRIVATE = {"tensor/cpu/": "tensor", "tensor/parallel.h": "tensor"}
UMBRELLA = {"twig.h": "umbrella", "core.h": "umbrella"}
SUFFIXES = (".h", ".hpp", ".cpp", ".cc", ".inc", ".cu", ".cuh")
INCLUDE = re.compile(r'^\s*#\s*include\s+[<"]twig/([^">]+)[">]|__has_include\s*\(\s*[<"]twig/([^">]+)[">]', re.MULTILINE)


def layer_of(path: str):
    if path in UMBRELLA:
        return UMBRELLA[path]
    for layer in LAYERS:
        if path.startswith(layer + "/"):
            return layer
    return None


def violations(root: pathlib.Path, files):
    """(file, line, include, file's layer, included layer) for every upward or sideways include."""
    found = []
    for rel in files:
        layer = layer_of(rel)
        if layer is None or layer == "umbrella" or not rel.endswith(SUFFIXES):
            continue
        text = (root / rel).read_text(encoding="utf-8", errors="replace")
        for m in INCLUDE.finditer(text):
            target = m.group(1) or m.group(2)
            to = layer_of(target)
            private = next((p for p in PRIVATE if target.startswith(p)), None)
            if private is not None and layer != PRIVATE[private]:
                line = text.count("\n", 0, m.start()) + 1
                found.append((rel, line, target, layer, private.rstrip("/") + " (private to " + PRIVATE[private] + "/)"))
                continue
            if to is None or to == layer or to in ALLOWED[layer]:
                continue
            line = text.count("\n", 0, m.start()) + 1
            found.append((rel, line, target, layer, to))
    return found


def tracked_files(root: pathlib.Path):
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=root, check=True, capture_output=True, text=True).stdout
    return [f for f in out.splitlines() if (root / f).is_file()]


def report(found) -> int:
    for rel, line, target, layer, to in found:
        if "private" in to:
            print(f"{rel}:{line}: includes twig/{target}: layer {layer} may not include {to}")
            continue
        print(f"{rel}:{line}: includes twig/{target}: layer {layer} may not include {to} "
              f"(allowed: {', '.join(sorted(ALLOWED[layer])) or 'only itself'})")
    return 1 if found else 0


def self_test(root: pathlib.Path) -> int:
    """Copies the library into a temporary folder, adds one upward include to tensor/tensor.cpp
    (tensor -> autograd/ops, the edge issue 17 removed) and checks that it is caught, and that the
    unmodified copy passes."""
    files = [f for f in tracked_files(root) if layer_of(f) not in (None,)]
    with tempfile.TemporaryDirectory() as tmp:
        copy = pathlib.Path(tmp)
        for f in files:
            (copy / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / f, copy / f)
        clean = violations(copy, files)
        target = copy / "tensor" / "tensor.cpp"
        target.write_text('#include "twig/autograd/ops/ops.h"\n' + target.read_text(encoding="utf-8"), encoding="utf-8")
        bad = violations(copy, files)
        conv = copy / "nn" / "conv.cpp"
        conv.write_text('#include "twig/tensor/parallel.h"\n' + conv.read_text(encoding="utf-8"), encoding="utf-8")
        bad_private = [v for v in violations(copy, files) if v[0] == "nn/conv.cpp"]
    print("self-test: the unmodified tree:", "passes" if not clean else f"{len(clean)} violations")
    print("self-test: with tensor/tensor.cpp including twig/autograd/ops/ops.h:")
    report(bad)
    print("self-test: with nn/conv.cpp also including twig/tensor/parallel.h:")
    report(bad_private)
    ok = not clean and len(bad) == 1 and bad[0][0] == "tensor/tensor.cpp" and bad[0][4] == "autograd/ops"
    ok = ok and len(bad_private) == 1 and bad_private[0][2] == "tensor/parallel.h"
    print("self-test:", "ok (the upward include fails the check)" if ok else "FAILED")
    return 0 if ok else 1


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    if "--self-test" in sys.argv[1:]:
        return self_test(root)
    found = violations(root, tracked_files(root))
    if not found:
        print("check_layers: no upward include")
    return report(found)


if __name__ == "__main__":
    sys.exit(main())
