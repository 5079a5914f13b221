"""Benchmark: how the data module scales with the number of questions (AGQA has 2.3 M).

Generates, once, synthetic benchmarks of about 50 k, 500 k and 2 M questions with ``stair synth``
(500, 5,000 and 20,000 videos of 100 questions each, in ``--root``: reused by later runs), then
for each size, in fresh processes so that sizes do not share memory:

- ``first use``: ``QADataModule(...).setup("fit")`` with no question index yet (the indexing
  pass of :mod:`stair.data.question_index`; only with ``--cold``, which deletes the indexes);
- ``setup``: ``QADataModule(...).setup("fit")`` as every later run pays it (indexes current);
- ``resident``: the process's resident set after setup, and its peak (``VmHWM``: setup and
  the batches below), beside what importing torch and lightning alone holds;
- ``batches/s``: the first ``--batches`` training batches (batch 64), read, parsed, compiled
  and collated in the loop (``--workers 0``, the default) or in loader workers.

Prints one line per size and ends with ``500k questions: setup S s, resident R MiB``.
Generating the 2 M benchmark takes about 15 minutes on 2 cores (``--synth-workers`` processes).

Usage::

    python bench/data_scale.py [--root /tmp/stair_scale] [--sizes 50k 500k] [--cold]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

#: size name -> (videos, questions per video)
SIZES = {"50k": (500, 100), "500k": (5000, 100), "2m": (20000, 100)}


def status_kib(field: str) -> int:
    """A ``/proc/self/status`` figure in KiB (``VmRSS``, ``VmHWM``); 0 where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def ensure(root: Path, name: str, workers: int) -> Path:
    """The benchmark ``name`` under ``root``, generated with ``stair synth`` if missing."""
    folder = root / f"synth_{name}"
    if (folder / "meta.json").exists():
        return folder
    videos, per_video = SIZES[name]
    print(f"generating {name} ({videos} videos x {per_video} questions) into {folder}", flush=True)
    command = [sys.executable, "-m", "stair", "synth", "--out", str(folder),
               "--videos", str(videos), "--questions-per-video", str(per_video),
               "--workers", str(workers)]  # fmt: skip
    subprocess.run(command, check=True)
    return folder


def measure(folder: str, batches: int, batch_size: int, workers: int = 0) -> dict[str, float]:
    """Setup time, batches/s and peak resident memory of one data module (this process)."""
    import torch

    from stair.data.datamodule import QADataModule

    torch.set_num_threads(1)
    imports = status_kib("VmRSS")  # torch and lightning alone: the floor of every process
    start = time.perf_counter()
    dm = QADataModule(folder, batch_size=batch_size, num_workers=workers)
    dm.setup("fit")
    setup = time.perf_counter() - start
    rss_setup = status_kib("VmRSS")
    questions = sum(len(dm.datasets[s]) for s in ("train", *dm.val_splits))
    loader = iter(dm.train_dataloader())
    start, seen = time.perf_counter(), 0
    for _ in range(batches):
        if next(loader, None) is None:
            break
        seen += 1
    rate = seen / max(time.perf_counter() - start, 1e-9)
    return {"questions": questions, "setup_s": setup, "rss_imports_mib": imports / 1024,
            "rss_setup_mib": rss_setup / 1024, "peak_mib": status_kib("VmHWM") / 1024,
            "batches_per_s": rate}  # fmt: skip


def _child(folder: Path, args: argparse.Namespace) -> dict[str, float]:
    command = [sys.executable, __file__, "--measure", str(folder), "--batches", str(args.batches),
               "--batch-size", str(args.batch_size), "--workers", str(args.workers)]  # fmt: skip
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="/tmp/stair_scale", help="where the benchmarks live")
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--batches", type=int, default=50, help="training batches timed")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=0, help="loader workers (num_workers)")
    parser.add_argument("--cold", action="store_true", help="time the first use (indexing) too")
    parser.add_argument("--synth-workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.batches, args.batch_size, args.workers)))
        return
    results = {}
    for name in args.sizes:
        folder = ensure(Path(args.root), name, args.synth_workers)
        first = ""
        if args.cold:
            for index in (folder / "questions").glob("*.index"):
                index.unlink()
            cold = _child(folder, args)
            first = f"first use {cold['setup_s']:.1f} s (peak {cold['peak_mib']:.0f} MiB), "
        got = results[name] = _child(folder, args)
        print(f"{name} ({got['questions']:,.0f} train+val questions): {first}setup "
              f"{got['setup_s']:.2f} s, resident {got['rss_setup_mib']:.0f} MiB after setup "
              f"(imports alone {got['rss_imports_mib']:.0f} MiB), peak {got['peak_mib']:.0f} MiB, "
              f"{got['batches_per_s']:.1f} batches/s (first {args.batches} of "
              f"{args.batch_size}, {args.workers} workers)", flush=True)  # fmt: skip
    if "500k" in results:
        got = results["500k"]
        print(f"500k questions: setup {got['setup_s']:.2f} s, resident {got['peak_mib']:.0f} MiB")
    else:
        print("500k questions: not measured (--sizes without 500k)")


if __name__ == "__main__":
    main()
