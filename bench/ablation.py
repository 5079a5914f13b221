"""The module network with and without intermediate supervision, and over several seeds.

Trains the demo's module network (:class:`~stair.demo.run.DemoSettings`: same data, size,
schedule and budget) once per ``(intermediate weight, seed)`` of ``--weights`` x ``--seeds``,
tests each on every split, and prints, per split, answer accuracy (overall and per family) and
every module's intermediate metric side by side, then test accuracy over the seeds of each
weight (mean, standard deviation, range). Runs go two at a time (``--parallel``), one torch
thread each, as the demo trains. Each run's results are written to ``--out`` as
``w<weight>-s<seed>.json`` the moment it ends and reused by a later call (a run whose file
exists is not trained again), so an interrupted sweep resumes and tables can be reprinted.

Usage::

    python bench/ablation.py --data-root datasets --weights 1 0 --seeds 0 1 2 --out runs/ablation

The supervised run at the first seed is the demo's own module network (same settings).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from stair.files import write_json

SPLITS = ("test", "test_novel", "test_more_steps")


def _name(weight: float, seed: int) -> str:
    return f"w{weight:g}-s{seed}"


def train_one(data_dir: str, weight: float, seed: int, epochs: int | None, out: str) -> dict:
    """Train and test one module network; its results (split -> metric -> value)."""
    import torch

    from stair.data.datamodule import QADataModule
    from stair.demo.run import DemoSettings, quiet, train_and_test

    quiet()
    torch.set_num_threads(1)
    settings = DemoSettings(intermediate_weight=weight, seed=seed)
    if epochs:
        settings = dataclasses.replace(settings, epochs=epochs)
    dm = QADataModule(data_dir, batch_size=settings.batch_size, seed=seed)
    checkpoint = Path(out) / f"{_name(weight, seed)}.ckpt"
    model = train_and_test(dm, "stair", settings, False, checkpoint)
    results = {"weight": weight, "seed": seed, "epochs": settings.epochs,
               "results": {**model.results["test"], **model.results["val"]}}  # fmt: skip
    write_json(Path(out) / f"{_name(weight, seed)}.json", results)
    return results


def side_by_side(runs: list[dict], split: str) -> str:
    """Answer accuracy and every intermediate metric (%) of the runs on ``split``."""
    names = [_name(r["weight"], r["seed"]) for r in runs]
    keys = sorted({k for r in runs for k in r["results"].get(split, {})})
    rows = ["acc"] + [k for k in keys if k.startswith("family/")]
    rows += [k for k in keys if k.startswith("module/")]
    lines = [f"{split + ' (%)':<34}" + "".join(f"{n:>10}" for n in names)]
    for key in rows:
        cells = [r["results"].get(split, {}).get(key) for r in runs]
        label = key.split("/", 1)[1] if "/" in key else key
        lines.append(f"{label:<34}" + "".join(
            f"{'-' if c is None else f'{100 * c:.1f}':>10}" for c in cells))  # fmt: skip
    return "\n".join(lines)


def over_seeds(runs: list[dict]) -> list[str]:
    """Test accuracy over the seeds of each intermediate weight: mean, spread, range."""
    out = []
    for weight in sorted({r["weight"] for r in runs}, reverse=True):
        accs = [100 * r["results"]["test"]["acc"] for r in runs if r["weight"] == weight]
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        out.append(
            f"intermediate weight {weight:g}: test {statistics.mean(accs):.1f} % "
            f"+- {spread:.1f} over {len(accs)} seed(s) (range {min(accs):.1f}-{max(accs):.1f})"
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default="datasets", help="the demo's data root")
    parser.add_argument("--dataset", default="synth", help="the benchmark folder under it")
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 0.0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--epochs", type=int, help="module network epochs (default: the demo's)")
    parser.add_argument("--out", default="runs/ablation", help="results folder (resumable)")
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time")
    args = parser.parse_args()

    from stair.demo.run import DemoSettings, ensure_dataset

    data_dir = ensure_dataset(Path(args.data_root), DemoSettings(dataset=args.dataset), True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    wanted = [(w, s) for w in args.weights for s in args.seeds]
    done = {key: json.loads((out / f"{_name(*key)}.json").read_text())
            for key in wanted if (out / f"{_name(*key)}.json").exists()}  # fmt: skip
    todo = [key for key in wanted if key not in done]
    if todo:
        print(f"training {len(todo)} module network(s), {args.parallel} at a time", flush=True)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.parallel, mp_context=context) as pool:
            futures = {key: pool.submit(train_one, str(data_dir), *key, args.epochs, str(out))
                       for key in todo}  # fmt: skip
            for key, future in futures.items():
                done[key] = future.result()
                print(f"done: {_name(*key)}", flush=True)
    runs = [done[key] for key in wanted]
    for split in SPLITS:
        print(side_by_side(runs, split), end="\n\n")
    print("\n".join(over_seeds(runs)))


if __name__ == "__main__":
    main()
