"""Benchmark: training and inference questions/s and peak memory of the full STAIR model.

Times the whole model (video and question encoders, phrase embeddings, planning, the batched
executor, the typed answer head; for training also the answer, intermediate and grounding losses,
the backward pass and the AdamW step, fused as in training) on batches of module trees of every
template shape of the synthetic benchmark, in a seeded random mix (``stair.testing.programs``),
with random features and random typed golds (:mod:`stair.testing.batch`), at two settings
measured in one run:

- ``paper``: hidden 512, T = 8 clips of 4096-d features (AGQA's RX features), 300-d words, an
  AGQA-sized concept bank (36 objects, 25 relations, 157 actions) and word vocabulary, batch 64;
- ``demo``: what ``stair demo`` trains: hidden 256, T = 32 frames of 256-d features, 128-d
  words, batch 128.

Prints questions/s (best of ``--repeats`` timed passes over ``--batches`` different batches):
training at the setting's batch, inference at that batch and at the data module's evaluation
batch (256); in fp32 and with bf16 autocast (``--precision``; Lightning's
``precision="bf16-mixed"``); with 2 questions per video (the worst case: half as many videos
to encode as questions) and with 32 (``--questions-per-video``). The data module fills its
batches video by video (``group_by_video``), and AGQA has hundreds of questions per video, so
its batches of 64 mostly hold one or two videos. The batches are ready before the clock starts,
as the data loader delivers them: features, word ids and the executor's :class:`Plan` (built
by the collate function, in the loader's workers). Also the peak memory of each setting
(resident set size on CPU, reset between settings; ``torch.cuda.max_memory_allocated`` on GPU)
the questions/s of the video and question encoders alone (the paper's BiLSTMs: what every
question costs before any module runs, so the most any executor on them can reach), and, at the
paper's settings, the ratio to the reference implementation, which runs one
question at a time (``REFERENCE``: its questions/s measured side by side with this model on the
2-core AMD EPYC CPU of this project's CI machine, 14-15 training and 78-90 inference; the ratios
use the higher figures). ``--reference`` also times this model's own executor one question at
a time (batch 1) in the same run, so that the batching gain is measured on the machine at hand.
Usage: ``python bench/throughput.py [--device cuda] [--threads 1] [--questions-per-video 2 32]
[--reference]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import time
from collections.abc import Callable

import torch

from stair.engine.batch import QABatch
from stair.engine.network import Network
from stair.testing.batch import AGQA_CONCEPTS, fake_batch, fake_vocabularies
from stair.testing.programs import sample_trees
from stair.train.system import LitSTAIR

log = logging.getLogger("bench.throughput")

#: name -> (hidden, frames, feature_dim, word_dim, batch, concept counts, words)
SETTINGS = {
    "paper": (512, 8, 4096, 300, 64, AGQA_CONCEPTS, 3000),
    "demo": (256, 32, 256, 128, 128, None, None),
}
#: the reference implementation's questions/s (one question at a time), 2-core AMD EPYC CPU
REFERENCE = {"training": 15.0, "inference": 90.0}
EVAL_BATCH = 256  # QADataModule's default eval_batch_size


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return
    try:  # Linux: writing 5 resets the peak resident set size (VmHWM)
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _peak_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best(fn: Callable[[], None], repeats: int, device: torch.device) -> float:
    """Best wall time of ``fn`` over ``repeats`` runs, after one warm-up run."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


def _batches(voc: dict, size: int, count: int, per_video: int, device: torch.device) -> list:
    """``count`` batches of ``size`` questions of every shape (phrases in 96 % of questions)."""
    frames = voc["num_frames"]
    return [
        fake_batch(
            sample_trees(size, seed=100 + i), voc, num_videos=max(1, size // per_video),
            frames=frames, seed=i, missing_every=25,
        ).to(device)
        for i in range(count)
    ]  # fmt: skip


def bench_setting(
    name: str,
    precision: str,
    batches: int,
    repeats: int,
    per_video: int,
    device: torch.device,
    one_at_a_time: bool = False,
) -> dict:
    """Questions/s (training; inference at the training batch and 256), peak memory.

    ``one_at_a_time``: batches of one question (as many as ``batches`` batches of the setting
    hold, at most 128), as the reference runs; inference then only at that batch."""
    hidden, frames, dim, word_dim, size, concepts, words = SETTINGS[name]
    torch.manual_seed(0)
    voc = fake_vocabularies(dim, concept_counts=concepts, num_words=words, num_frames=frames)
    if one_at_a_time:
        batches, size, per_video = min(128, batches * size), 1, 1
    train_data: list[QABatch] = _batches(voc, size, batches, per_video, device)
    eval_data = (
        [] if one_at_a_time
        else _batches(voc, EVAL_BATCH, max(1, batches * size // EVAL_BATCH), per_video, device)
    )  # fmt: skip
    _reset_peak(device)
    model = LitSTAIR(voc, network=Network(hidden=hidden, word_dim=word_dim)).to(device)
    optimizer = model.optimizer()  # the one training uses (fused AdamW)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")

    def train() -> None:
        model.train()
        for batch in train_data:
            with autocast:
                loss = model.losses(batch, model(batch))["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    def infer(data: list[QABatch]) -> Callable[[], None]:
        def run() -> None:
            model.eval()
            with torch.inference_mode(), autocast:
                for batch in data:
                    model(batch).logits.argmax(-1).tolist()

        return run

    def encoders(training: bool) -> Callable[[], None]:
        """The video and question encoders alone (forward, and backward when training): what
        every question costs before any module runs, so the most a batched executor reaches."""
        net = model.model

        def run() -> None:
            net.train(training)
            with torch.inference_mode(not training), autocast:
                for batch in train_data:
                    video = net.encode_videos(batch.features, batch.frame_mask)
                    text, sentence = net.encode_text(batch)
                    if training:
                        (video.features.sum() + text.sum() + sentence.sum()).backward()

        return run

    def rate(data: list[QABatch], fn: Callable[[], None]) -> float:
        return sum(len(b) for b in data) / _best(fn, repeats, device)

    row = {"setting": name, "precision": precision, "hidden": hidden, "T": frames, "D_in": dim}
    row["B"] = size
    row["training"] = rate(train_data, train)
    row["inference"] = rate(train_data, infer(train_data))
    row["inference_eval_batch"] = rate(eval_data, infer(eval_data)) if eval_data else None
    if not one_at_a_time:
        row["encoders_training"] = rate(train_data, encoders(True))
        row["encoders_inference"] = rate(train_data, encoders(False))
    row["peak_mib"] = _peak_mib(device)
    row["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument("--batches", type=int, default=4, help="different batches per pass")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (the best counts)")
    parser.add_argument(
        "--questions-per-video", type=int, nargs="+", default=[2, 32],
        help="questions sharing a video in a batch (AGQA's video-grouped batches: up to 64)",
    )  # fmt: skip
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument(
        "--precision", nargs="+", default=["fp32", "bf16"], choices=["fp32", "bf16"],
        help="fp32, and/or bf16 autocast (needs a CPU or GPU with bf16 support to pay off)",
    )  # fmt: skip
    parser.add_argument(
        "--reference", action="store_true",
        help="also time this model one question at a time (batch 1), as the reference runs",
    )  # fmt: skip
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    log.info(
        "device %s, %d threads, load average %.2f; best of %d passes",
        device, torch.get_num_threads(), os.getloadavg()[0], args.repeats,
    )  # fmt: skip
    header = (
        f"{'setting':<8} {'prec':<5} {'hidden':>6} {'T':>3} {'D_in':>5} {'B':>4} {'q/v':>3} | "
        f"{'train':>8} "
        f"{'x ref':>6} | {'infer B':>8} {'x ref':>6} | {'infer 256':>9} {'x ref':>6} | "
        f"{'peak MiB':>8} {'params':>7} | {'encoders: train':>15} {'infer':>6}"
    )
    log.info("questions/s; x ref: ratio to the reference implementation (paper settings)")
    log.info(
        "encoders: the video and question encoders alone at batch B (their x ref in "
        "brackets): the most any executor on these encoders can reach"
    )
    log.info(header)
    log.info("-" * len(header))
    runs = [
        (n, p, q) for n in args.settings for p in args.precision for q in args.questions_per_video
    ]
    for name, precision, per_video in runs:
        r = bench_setting(name, precision, args.batches, args.repeats, per_video, device)
        ref = {
            k: f"{r[k] / REFERENCE[k.split('_')[0]]:>5.1f}x" if name == "paper" else ""
            for k in ("training", "inference", "inference_eval_batch")
        }
        enc = {
            k: f"{r['encoders_' + k]:.0f}"
            + (f" ({r['encoders_' + k] / REFERENCE[k]:.1f}x)" if name == "paper" else "")
            for k in ("training", "inference")
        }
        log.info(
            f"{name:<8} {precision:<5} {r['hidden']:>6} {r['T']:>3} {r['D_in']:>5} "
            f"{r['B']:>4} {per_video:>3} | "
            f"{r['training']:>8.1f} {ref['training']:>6} | {r['inference']:>8.1f} "
            f"{ref['inference']:>6} | {r['inference_eval_batch']:>9.1f} "
            f"{ref['inference_eval_batch']:>6} | {r['peak_mib']:>8.0f} {r['params_m']:>6.1f}M | "
            f"{enc['training']:>15} {enc['inference']:>6}"
        )
    if args.reference:
        one_at_a_time(args, device)
    log.info("load average at the end: %.2f", os.getloadavg()[0])


def one_at_a_time(args: argparse.Namespace, device: torch.device) -> None:
    """This model's own executor on batches of one question, per setting and precision, and
    the batching gain: the batched questions/s over these (same machine, same run)."""
    log.info("one question at a time (batch 1), and the batching gain at the setting's batch:")
    for name in args.settings:
        for precision in args.precision:
            one = bench_setting(name, precision, args.batches, args.repeats, 1, device, True)
            many = bench_setting(name, precision, args.batches, args.repeats, 2, device)
            log.info(
                f"{name:<8} {precision:<5} batch 1: train {one['training']:.1f} q/s, "
                f"infer {one['inference']:.1f} q/s | batch {many['B']} (2 q/v): "
                f"train {many['training'] / one['training']:.1f}x, infer "
                f"{many['inference'] / one['inference']:.1f}x, infer {EVAL_BATCH} "
                f"{many['inference_eval_batch'] / one['inference']:.1f}x"
            )


if __name__ == "__main__":
    main()
