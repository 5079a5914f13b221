"""Benchmark: the executor one question at a time vs on a whole batch (questions/s).

Draws a random mix of every template shape of the synthetic benchmark
(``stair.testing.programs``), random phrase embeddings and padded random videos (several
questions per video), and times, in one run, the one executor (``Plan`` + ``execute``, planning
included) on batches of one question against the same executor on the whole batch, for
inference (no grad) and training (forward + backward of a loss on the root values). Prints a
table and the batched/one-by-one ratios. Usage: ``python bench/executor.py [--device cuda]
[--repeats 3]``.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import time
from collections.abc import Callable

import torch

from stair.engine.executor import execute
from stair.engine.plan import Plan
from stair.modules import ConceptBank, build_modules
from stair.programs.signatures import VType
from stair.testing.programs import sample_trees
from stair.values import Bool, Concept, Count, Value, Video

log = logging.getLogger("bench.executor")

SETTINGS = [(512, 32, 128), (256, 16, 256)]  # (D, T, B)


def _root_loss(value: Value) -> torch.Tensor:
    """A scalar from root values, the same for both runs (stands in for the head's loss)."""
    if isinstance(value, Bool):
        return value.logit.sum()
    if isinstance(value, Count):
        return value.logits.logsumexp(-1).sum()
    assert isinstance(value, Concept)
    return value.vector.square().sum()


def _timed_pair(
    first: Callable[[], object], second: Callable[[], object], repeats: int, device: torch.device
) -> tuple[float, float]:
    """Best wall time of each function over ``repeats`` alternating runs, after a warm-up.

    Alternating and taking the minimum keeps both measurements comparable on a shared machine.
    """
    first(), second()
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, fn in enumerate((first, second)):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0], best[1]


def bench_setting(dim: int, frames: int, batch: int, repeats: int, device: torch.device) -> dict:
    """Questions/s one by one and batched at one (D, T, B), inference and training."""
    gen = torch.Generator().manual_seed(dim * 1000 + frames)
    torch.manual_seed(0)
    trees = sample_trees(batch, seed=dim + frames)
    modules = build_modules(dim=dim).to(device)
    # an AGQA-sized concept bank: 157 actions, 36 objects, 25 relations
    names = [f"action {i}" for i in range(157)] + [f"object {i}" for i in range(36)]
    names += [f"relation {i}" for i in range(25)]
    bank = ConceptBank(names, dim, {n: "actions" for n in names[:157]}).to(device)
    num_videos = max(1, batch // 2)  # two questions per video on average
    video_index = torch.randint(num_videos, (batch,), generator=gen).tolist()
    lengths = torch.randint(frames // 2, frames + 1, (num_videos,), generator=gen)
    features = torch.randn(num_videos, frames, dim, generator=gen).to(device)
    video = Video.from_lengths(features, lengths.to(device))
    text_index = Plan(trees, video_index).text_index
    text = torch.randn(len(text_index), dim, generator=gen).to(device)
    # each question alone: its video and its phrase rows
    rows_of = [[r for r, t in enumerate(text_index.tree_of) if t == b] for b in range(batch)]
    alone = [torch.tensor(rows, dtype=torch.long, device=device) for rows in rows_of]

    def run(plan: Plan, text_in: torch.Tensor, videos: Video) -> torch.Tensor:
        trace = execute(plan, modules, text_in, videos, bank)
        return sum(_root_loss(v) for t in VType if (r := trace.roots(t)) for v in [r[1]])

    def one_by_one(train: bool) -> None:
        text_in = text.clone().requires_grad_(train)
        losses = [
            run(Plan([tree], [0], device=device), text_in.index_select(0, alone[b]),
                video.narrow(video_index[b], 1))
            for b, tree in enumerate(trees)
        ]  # fmt: skip
        if train:
            torch.stack(losses).sum().backward()

    def batched(train: bool) -> None:
        text_in = text.clone().requires_grad_(train)
        loss = run(Plan(trees, video_index, text_index, device=device), text_in, video)
        if train:
            loss.backward()

    row = {"D": dim, "T": frames, "B": batch}
    for mode, train in (("inference", False), ("training", True)):
        with torch.set_grad_enabled(train):
            single_s, batch_s = _timed_pair(
                functools.partial(one_by_one, train), functools.partial(batched, train),
                repeats, device,
            )  # fmt: skip
        modules.zero_grad(set_to_none=True)
        bank.zero_grad(set_to_none=True)
        row[mode] = (batch / single_s, batch / batch_s)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs per measurement (the best counts)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = torch.device(args.device)
    log.info(
        "device %s, %d threads, load average %.2f; questions/s, best of %d alternating runs",
        device, torch.get_num_threads(), os.getloadavg()[0], args.repeats,
    )  # fmt: skip
    header = (
        f"{'D':>4} {'T':>3} {'B':>4} | {'infer 1-by-1':>12} {'batched':>9} {'ratio':>6} | "
        f"{'train 1-by-1':>12} {'batched':>9} {'ratio':>6}"
    )
    log.info(header)
    log.info("-" * len(header))
    for dim, frames, batch in SETTINGS:
        row = bench_setting(dim, frames, batch, args.repeats, device)
        (si, bi), (st, bt) = row["inference"], row["training"]
        log.info(
            f"{dim:>4} {frames:>3} {batch:>4} | {si:>12.1f} {bi:>9.1f} {bi / si:>5.2f}x | "
            f"{st:>12.1f} {bt:>9.1f} {bt / st:>5.2f}x"
        )
    log.info("load average at the end: %.2f", os.getloadavg()[0])


if __name__ == "__main__":
    main()
