"""The ceiling of the synthetic benchmark: gold programs run exactly on what the features show.

Each question's gold program runs with the symbolic executor (:func:`stair.programs.evaluate`)
on its video's *visible* graph (:mod:`stair.data.synth.visible`: the scene graph without the
entity-frames the renderer dropped), and its answer is compared with the record's: a perfect
reasoner on perfect perception of the features. A program with no answer on the visible graph
(an anchor action never visible, a before/after question made ill-posed, a query with no single
concept left) counts as wrong, and is counted apart (``no answer``). Accuracy is tallied as the
module network's metrics are (:func:`stair.engine.metrics.add_answers`: ``acc`` and
``family/<f>``, the record's metadata family). With ``--ckpt`` a trained module network is
evaluated on the same splits through Lightning's test loop (``LitSTAIR.results``, as ``stair
test`` and the demo do) and printed next to the ceiling. Also printed: the share of entity-frames
dropped, and the scores ``<frame feature, entity row>`` of present and absent entities with the
part the noise makes of them (the noise is what the oracle leaves out). The last line is
``test: NMN X.X %, ceiling Y.Y %`` (``NMN n/a`` without ``--ckpt``).

Usage::

    python bench/ceiling.py [--data datasets/synth] [--splits test test_novel test_more_steps] \\
        [--ckpt models/synth/nmn.ckpt]
"""

from __future__ import annotations

import argparse
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from stair.data.synth.visible import VisibleDataset, detections, entity_scores
from stair.engine.metrics import Tally, add_answers
from stair.programs import SymbolicError, compile_program, evaluate

SPLITS = ("test", "test_novel", "test_more_steps")
HEADERS = ("questions", "NMN %", "ceiling %", "no answer")
WIDTHS = (10, 9, 11, 11)


@dataclass
class SplitCeiling:
    """The ceiling's metrics on one split (``acc``, ``family/<f>``: means), their sizes, and the
    questions without an answer on the visible graph (by the same names)."""

    metrics: dict[str, float]
    sizes: dict[str, int]
    unanswered: Counter[str] = field(default_factory=Counter)


def ceiling(dataset: VisibleDataset, split: str, progress: bool = True) -> SplitCeiling:
    """Run every question of ``split`` on its visible graph (see the module docstring)."""
    tally, unanswered = Tally(), Counter()
    total = dataset.size(split)
    for record, graph in tqdm(dataset.iter_split(split), desc=f"ceiling {split}", total=total,
                              unit="q", disable=not progress):  # fmt: skip
        try:
            answer = evaluate(compile_program(record.program), graph).answer
        except SymbolicError:
            answer = None
        meta = record.metadata.to_json()
        add_answers(tally, torch.tensor([answer == record.answer]), [meta])
        if answer is None:
            unanswered.update(("acc", f"family/{meta['family']}"))
    return SplitCeiling(tally.compute(), tally.sizes(), unanswered)


def nmn_results(
    ckpt: str, data: str, splits: list[str], batch_size: int, progress: bool
) -> dict[str, dict[str, float]]:
    """A module network's test metrics per split, from Lightning's test loop."""
    import lightning as L

    from stair.data.datamodule import QADataModule
    from stair.train.cli import quiet_lightning
    from stair.train.system import LitSTAIR

    quiet_lightning()
    lit = LitSTAIR.load_from_checkpoint(ckpt, map_location="cpu")
    # the questions are read with the model's own vocabularies: its word ids follow the word
    # counts of the folder it was trained on, which need not be this one
    dm = QADataModule(data, eval_batch_size=batch_size, vocabularies_from=ckpt)
    trainer = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_model_summary=False, enable_progress_bar=progress)  # fmt: skip
    trainer.test(lit, dataloaders=[dm.loader(s) for s in splits], verbose=False)
    return lit.results["test"]


def feature_check(dataset: VisibleDataset) -> str:
    """Dropped entity-frames, and entity scores with the noise's part, over the videos visited."""
    from stair.data.video.store import FeatureStore

    table = dataset.setup.embeddings.table
    parts: dict[str, list[np.ndarray]] = {"present": [], "absent": [], "noise": []}
    with FeatureStore(dataset.folder / "features.h5") as store:
        for video_id in dataset.visited():
            features, _ = store.get(video_id)
            graph, index = dataset.graphs[video_id], dataset.setup.index(video_id)
            found = detections(graph, dataset.setup, index)
            for name, values in entity_scores(features, table, found.kept).items():
                parts[name].append(values)
    present, absent, noise = (np.concatenate(parts[k]) for k in ("present", "absent", "noise"))
    config = dataset.setup.config
    return (
        f"features: {100 * dataset.dropped / max(dataset.entity_frames, 1):.2f} % of "
        f"{dataset.entity_frames} entity-frames dropped (miss_rate {config.miss_rate}); entity "
        f"scores: present median {np.median(present):.2f}, absent median {np.median(absent):.2f} "
        f"(99th percentile {np.percentile(absent, 99):.2f}); the noise's part (norm "
        f"{config.noise}): std {noise.std():.3f}, max {np.abs(noise).max():.3f}"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def table(split: str, result: SplitCeiling, nmn: dict[str, float] | None) -> str:
    """One split's rows: a family per row, then all questions."""
    names = [*sorted(k for k in result.sizes if k.startswith("family/")), "acc"]
    lines = [
        f"{split}: {result.sizes.get('acc', 0)} questions",
        f"  {'family':<14}" + "".join(f"{h:>{w}}" for h, w in zip(HEADERS, WIDTHS)),
    ]
    for name in names:
        label = "all" if name == "acc" else name.split("/", 1)[1]
        nmn_cell = _pct(nmn.get(name)) if nmn is not None else "n/a"
        cells = [result.sizes[name], nmn_cell, _pct(result.metrics.get(name)),
                 result.unanswered[name]]  # fmt: skip
        lines.append(f"  {label:<14}" + "".join(f"{c:>{w}}" for c, w in zip(cells, WIDTHS)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the bench (arguments as on the command line); its results per split."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="datasets/synth", help="a synthetic dataset folder")
    parser.add_argument("--splits", nargs="+", default=list(SPLITS), help="splits to score")
    parser.add_argument("--ckpt", help="a trained module network (.ckpt) to evaluate beside")
    parser.add_argument("--batch-size", type=int, default=256, help="the NMN's batch size")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(1)
    progress = not args.no_progress
    dataset = VisibleDataset(args.data)
    splits = [s for s in args.splits if dataset.split_path(s).exists()]
    missing = sorted(set(args.splits) - set(splits))
    if missing:
        print(f"(no {', '.join(missing)} split in {args.data}: skipped)")
    if not splits:
        raise SystemExit(f"none of the splits {args.splits} is in {args.data}")
    ceilings = {s: ceiling(dataset, s, progress) for s in splits}
    nmn = None
    if args.ckpt:
        nmn = nmn_results(args.ckpt, args.data, splits, args.batch_size, progress)
    for s in splits:
        print(table(s, ceilings[s], None if nmn is None else nmn.get(s, {})))
    print(feature_check(dataset))
    head = "test" if "test" in ceilings else splits[0]
    nmn_text = "n/a" if nmn is None else f"{_pct(nmn.get(head, {}).get('acc'))} %"
    print(f"{head}: NMN {nmn_text}, ceiling {_pct(ceilings[head].metrics.get('acc'))} %")
    return {s: {"ceiling": ceilings[s], "nmn": None if nmn is None else nmn.get(s)}
            for s in splits}  # fmt: skip


if __name__ == "__main__":
    main()
