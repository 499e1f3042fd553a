#!/usr/bin/python3
"""PyTorch 1.13 trajectories of the sparsity schedulers LambdaSL and CubicSL (torch.ao.sparsity,
issue 14 section 2), for tests/ao/test_scheduler.cpp.

Run with Debian's interpreter (the one torch is installed in):

    /usr/bin/python3 tools/gen_ao_scheduler_fixtures.py   # writes tests/fixtures/ao_scheduler.json

Each case prepares a WeightNormSparsifier on a small model with a config of sparsity levels,
attaches a scheduler and steps it. Recorded after construction (trajectory[0]) and after every
step: each group's sparsity_level as Python holds it (an int stays an int in the JSON, a float
is written with its repr, so both type and value round-trip exactly), the warnings issued (their
category and message) and, for verbose cases, what was printed. The scheduler's final
state_dict() is recorded without its functions (LambdaSL's sl_lambdas: only the key is kept).
Lambdas are named; the C++ test maps each name to the same function.
"""

import contextlib
import io
import json
import os
import warnings

import torch
from torch import nn
from torch.ao.sparsity import CubicSL, LambdaSL, WeightNormSparsifier

LAMBDAS = {
    "mul10": lambda epoch: epoch * 10,
    "mul2": lambda epoch: epoch * 2,
    "floordiv3": lambda epoch: epoch // 3,
    "pow095": lambda epoch: 0.95 ** epoch,
    "tenth": lambda epoch: epoch * 0.1,
}

# Models: "one" = Sequential(Linear(16, 16)) with config None (one group at the default level
# 0.5); "two" = Sequential(Linear(16, 8), Dropout, Linear(8, 4)) with the given levels (shapes
# that WeightNormSparsifier.step() of 1.13 handles; the levels do not depend on them).
def make_sparsifier(model_name, levels):
    if model_name == "one":
        model = nn.Sequential(nn.Linear(16, 16))
        config = None
    else:
        model = nn.Sequential(nn.Linear(16, 8), nn.Dropout(0.5), nn.Linear(8, 4))
        config = [{"tensor_fqn": "0.weight", "sparsity_level": levels[0]},
                  {"tensor_fqn": "2.weight", "sparsity_level": levels[1]}]
    sparsifier = WeightNormSparsifier()
    sparsifier.prepare(model, config=config)
    return sparsifier


def jsonable(v):
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    return v


def run_case(case):
    sparsifier = make_sparsifier(case["model"], case.get("levels"))
    trajectory = []

    def record(action):
        out = io.StringIO()
        with warnings.catch_warnings(record=True) as w, contextlib.redirect_stdout(out):
            warnings.simplefilter("always")
            result = action()
        trajectory.append({
            "levels": [g["sparsity_level"] for g in sparsifier.groups],
            "warnings": [{"category": x.category.__name__, "message": str(x.message)} for x in w],
            "stdout": out.getvalue(),
        })
        return result

    if case["scheduler"] == "lambda":
        fns = case["lambda"]
        sl_lambda = [LAMBDAS[f] for f in fns] if isinstance(fns, list) else LAMBDAS[fns]
        make = lambda: LambdaSL(sparsifier, sl_lambda, **case.get("kwargs", {}))
    else:
        make = lambda: CubicSL(sparsifier, **case.get("kwargs", {}))
    scheduler = record(make)
    epochs = case["step_epochs"] if "step_epochs" in case else [None] * case["steps"]
    for e in epochs:
        if case.get("sparsifier_step", False):
            sparsifier.step()
        record(lambda: scheduler.step() if e is None else scheduler.step(e))
    state = {k: (None if k == "sl_lambdas" else jsonable(v)) for k, v in scheduler.state_dict().items()}
    return {**case, "trajectory": trajectory, "state_dict": state, "state_dict_keys": list(state.keys()),
            "base_sl": jsonable(scheduler.base_sl), "last_sl": jsonable(scheduler.get_last_sl())}


CASES = [
    # LambdaSL: one function for every group, a list of functions, a later last_epoch, int levels.
    {"name": "lambda_mul10_default_group", "scheduler": "lambda", "model": "one", "lambda": "mul10", "steps": 4},
    {"name": "lambda_two_functions", "scheduler": "lambda", "model": "two", "levels": [0.8, 0.4],
     "lambda": ["floordiv3", "pow095"], "steps": 12},
    {"name": "lambda_last_epoch_3", "scheduler": "lambda", "model": "two", "levels": [0.7, 0.3],
     "lambda": "tenth", "kwargs": {"last_epoch": 3}, "steps": 6, "sparsifier_step": True},
    {"name": "lambda_int_levels", "scheduler": "lambda", "model": "two", "levels": [1, 2],
     "lambda": ["mul2", "tenth"], "steps": 5},
    {"name": "lambda_verbose", "scheduler": "lambda", "model": "two", "levels": [0.8, 0.4],
     "lambda": "pow095", "kwargs": {"verbose": True}, "step_epochs": [None, 7, None]},
    # CubicSL: PyTorch's test setting with initially_zero both ways, defaults, per-group lists,
    # a float delta_t, a later last_epoch, s_0 above s_f, an int init_sl, verbose.
    {"name": "cubic_test_initially_zero", "scheduler": "cubic", "model": "two", "levels": [0.8, 0.4],
     "kwargs": {"init_sl": 0.1, "init_t": 3, "delta_t": 2, "total_t": 5, "initially_zero": True}, "steps": 16},
    {"name": "cubic_test_not_initially_zero", "scheduler": "cubic", "model": "two", "levels": [0.8, 0.4],
     "kwargs": {"init_sl": 0.1, "init_t": 3, "delta_t": 2, "total_t": 5, "initially_zero": False}, "steps": 16},
    {"name": "cubic_defaults", "scheduler": "cubic", "model": "one", "steps": 25},
    {"name": "cubic_short_beyond_total", "scheduler": "cubic", "model": "two", "levels": [0.9, 0.5],
     "kwargs": {"init_t": 2, "delta_t": 3, "total_t": 4}, "steps": 20, "sparsifier_step": True},
    {"name": "cubic_per_group_lists", "scheduler": "cubic", "model": "two", "levels": [0.8, 0.6],
     "kwargs": {"init_sl": [0.0, 0.2], "init_t": [0, 5], "delta_t": [1, 3], "total_t": [10, 4],
                "initially_zero": [False, True]}, "steps": 24},
    {"name": "cubic_float_delta_t", "scheduler": "cubic", "model": "two", "levels": [0.75, 0.35],
     "kwargs": {"init_sl": 0.05, "init_t": 1, "delta_t": 1.5, "total_t": 6}, "steps": 14},
    {"name": "cubic_last_epoch_4", "scheduler": "cubic", "model": "two", "levels": [0.8, 0.4],
     "kwargs": {"init_t": 2, "delta_t": 2, "total_t": 5, "initially_zero": True, "last_epoch": 4}, "steps": 10},
    {"name": "cubic_s0_above_sf", "scheduler": "cubic", "model": "two", "levels": [0.5, 0.95],
     "kwargs": {"init_sl": 0.9, "init_t": 1, "delta_t": 1, "total_t": 5}, "steps": 8},
    {"name": "cubic_int_init_sl", "scheduler": "cubic", "model": "two", "levels": [0.8, 0.4],
     "kwargs": {"init_sl": 0, "init_t": 2, "delta_t": 1, "total_t": 4, "initially_zero": [True, False]},
     "steps": 8},
    {"name": "cubic_verbose", "scheduler": "cubic", "model": "two", "levels": [0.8, 0.4],
     "kwargs": {"init_sl": 0.1, "init_t": 1, "delta_t": 1, "total_t": 3, "verbose": True},
     "step_epochs": [None, 12, None, 3]},
]


def main():
    torch.manual_seed(0)
    out = {"torch_version": torch.__version__, "cases": [run_case(c) for c in CASES]}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "ao_scheduler.json")
    with open(path, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print("wrote", os.path.normpath(path), "with", len(CASES), "cases")


if __name__ == "__main__":
    main()
