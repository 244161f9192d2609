#!/usr/bin/env python
"""Long boundary-value problems (issue 14, item 3): what helps one network on many oscillations or a thin layer.

    python benchmarks/long_bvp.py                       # every problem at every configuration (about 40 min, 2 cores)
    python benchmarks/long_bvp.py --only oscillating_bvp --config default --config points
    python benchmarks/long_bvp.py --json out.json
    python benchmarks/long_bvp.py --smoke               # tiny settings, one problem, the defaults and subdomains

Each problem (problems/<stem>.yaml, written from textbooks, none tuned on) is
solved with ``pinn.run_problem`` in a fresh subprocess at each configuration
of ``CONFIGS``: pinn's defaults, the simpler remedies the issue names
(more collocation points, a wider network, both, no adaptive point density
-- the phase ``refine`` off, to see what it adds -- and LM on a small
network), and the decomposition into subdomains (``training.subdomains``,
:mod:`pinn.subdomains`; the pieces of ``SUBDOMAINS``).  Printed per problem and
configuration: the relative L2 error against the exact solution (or pinn's
scipy reference), the training seconds (every attempt counted), the
self-check's verdict; then, per configuration, how many problems were
verified and the largest error.  One run each; the header prints the load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import windows as harness  # noqa: E402  (the subprocess worker and its parent: one place)

#: The problems: thin layers and many oscillations, each with its exact solution but Airy's (solve_bvp).
PROBLEMS = ["boundary_layer_thin", "reaction_layers", "oscillating_bvp", "airy_bvp"]
#: (name, overrides, what it tries). "default" is pinn as shipped.
CONFIGS = [
    ("default", [], "pinn's defaults: 1-64-64-1, 128 points, Adam 2000, L-BFGS 4000, refine"),
    ("no_refine", ["training.refine=0"], "the defaults without the adaptive point density"),
    ("points", ["training.points=1024"], "8x the collocation points"),
    ("wide", ["network.hidden=[128,128]"], "a network twice as wide"),
    ("points_wide", ["training.points=1024", "network.hidden=[128,128]"], "both"),
    ("lm", ["network.hidden=[32,32]", "training.phases=[adam,lbfgs,lm]", "training.points=512"],
     "1-32-32-1, 512 points, LM after L-BFGS"),
    ("subdomains", ["network.hidden=[32,32]", "training.phases=[adam,lbfgs,lm]", "training.lm.steps=200"],
     "training.subdomains (SUBDOMAINS), 1-32-32-N, LM 200 after L-BFGS"),
]
#: The subdomains of the configuration "subdomains": graded into each layer (e^-10 of the layer at the end of the
#: third piece), equal pieces of about one period where the solution oscillates.
SUBDOMAINS = {
    "boundary_layer_thin": "[0,0.001,0.003,0.01,0.03,0.1,1]",
    "reaction_layers": "[0,0.01,0.03,0.1,0.9,0.97,0.99,1]",
    "oscillating_bvp": "10",
    "airy_bvp": "10",
}
SMOKE = ["training.adam.steps=30", "training.lbfgs.steps=10", "training.jit_compile=false", "output.points=101",
         "training.points=32", "network.hidden=[16,16]", "training.lm.steps=10"]


def run(problems, configs, extra, timeout) -> list:
    rows = []
    print("| problem | configuration | relative L2 | train s | verdict | failed checks |")
    print("|---|---|---|---|---|---|")
    for stem in problems:
        for name, overrides, _ in configs:
            pieces = [f"training.subdomains={SUBDOMAINS[stem]}"] if name == "subdomains" else []
            result = harness.measure(stem, [*overrides, *pieces, *extra], timeout)
            result.update(configuration=name, stem=stem)
            if "error" in result:
                print(f"| {stem} | {name} | error: {result['error']} | - | - | - |", flush=True)
            else:
                checks = "; ".join(result.get("failed_checks", [])[:3]) or "-"
                print(f"| {stem} | {name} | {harness._e(harness.worst(result))} | {result['train_seconds']:.1f} | "
                      f"{result['verdict']} | {checks} |", flush=True)
            rows.append(result)
    return rows


def summary(rows, configs) -> None:
    print("\n| configuration | what | verified | largest error | training s in all |")
    print("|---|---|---|---|---|")
    for name, _, what in configs:
        mine = [r for r in rows if r["configuration"] == name]
        errors = [harness.worst(r) for r in mine if "error" not in r]
        largest = max((e for e in errors if e is not None), default=None) if len(errors) == len(mine) else None
        seconds = sum(r.get("train_seconds", 0.0) for r in mine)
        verified = sum(r.get("verdict") == "verified" for r in mine)
        print(f"| {name} | {what} | {verified} of {len(mine)} | {harness._e(largest)} | {seconds:.0f} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="only this problem (repeatable)")
    parser.add_argument("--config", action="append", default=[], metavar="NAME", help="only this configuration (repeatable)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="extra override")
    parser.add_argument("--timeout", type=float, default=1200.0, help="seconds per solve before it is stopped")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--smoke", action="store_true", help="tiny settings: checks the script runs, figures mean nothing")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    names = {c[0] for c in CONFIGS}
    unknown = sorted(set(args.only) - set(PROBLEMS)) + sorted(set(args.config) - names)
    if unknown:
        parser.error(f"unknown problem or configuration: {', '.join(unknown)} (problems {', '.join(PROBLEMS)}; "
                     f"configurations {', '.join(sorted(names))})")
    problems = args.only or (PROBLEMS[:1] if args.smoke else PROBLEMS)
    configs = [c for c in CONFIGS if c[0] in args.config] if args.config else ([CONFIGS[0], CONFIGS[-1]] if args.smoke else CONFIGS)
    extra = [*(SMOKE if args.smoke else []), *args.overrides]
    load = os.getloadavg()
    print(f"# pinn long-BVP benchmark{' (smoke)' if args.smoke else ''}: pinn at {harness._commit()}, one fresh process "
          f"per solve; extra overrides {' '.join(extra) or 'none'}")
    print(f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores")
    if args.smoke:
        print("SMOKE RUN: tiny budgets; it checks that the script runs, the figures below mean nothing as measurements")
    started = time.time()
    rows = run(problems, configs, extra, args.timeout)
    summary(rows, configs)
    load = os.getloadavg()
    print(f"\n{time.time() - started:.0f} s in all; load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
