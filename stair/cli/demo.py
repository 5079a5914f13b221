"""``stair demo``: generate the synthetic benchmark, train, evaluate and explain, on a CPU.

Example::

    stair demo                      # the full demo (12-13 minutes on a 2-core CPU)
    stair demo --quick              # a small smoke run (tiny dataset, one epoch)
    stair demo --data-root /data    # generate / read the benchmark under /data/synth
    stair demo --json report.json   # also write everything measured as JSON

Trains the module network, the black-box baseline and the program generator, and saves their
checkpoints under ``<data root>/models/<dataset>/``. Prints the answer accuracy of the module
network and of the black-box baseline per split and family, the intermediate quality of every
module, walks through three test answers step by step on the programs the generator wrote for them
(each module, its inputs, its typed output and the gold), and ends with the ``stair ask`` and
``stair audit`` commands that use the saved checkpoints.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

HELP = (
    "Generate the synthetic benchmark, train STAIR, a black-box baseline and the program "
    "generator on the CPU, evaluate them and explain three answers step by step."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-root", default="datasets", help="folder of the synthetic benchmark (generated)"
    )
    parser.add_argument("--quick", action="store_true", help="a small smoke run (tests)")
    parser.add_argument("--epochs", type=int, help="epochs of the module network")
    parser.add_argument("--baseline-epochs", type=int, help="epochs of the baseline")
    parser.add_argument("--generator-epochs", type=int, help="epochs of the program generator")
    parser.add_argument(
        "--intermediate-weight", type=float, help="weight of the module network's step losses"
    )
    parser.add_argument("--seed", type=int, help="seed of the training runs")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--json", help="also write the report as JSON to this file")


def run(args: argparse.Namespace) -> int:
    from stair.demo.run import DemoSettings, quiet, run_demo
    from stair.demo.summary import render

    quiet(logging.DEBUG if args.verbose else logging.WARNING)
    settings = DemoSettings.quick() if args.quick else DemoSettings()
    changes = {
        name: value
        for name, value in (
            ("epochs", args.epochs),
            ("baseline_epochs", args.baseline_epochs),
            ("generator_epochs", args.generator_epochs),
            ("intermediate_weight", args.intermediate_weight),
            ("seed", args.seed),
        )
        if value is not None
    }
    settings = dataclasses.replace(settings, **changes)
    report = run_demo(args.data_root, settings, progress=not args.no_progress)
    print(render(report))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(dataclasses.asdict(report), handle, indent=1)
    return 0
