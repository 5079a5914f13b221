"""How well ``Exists`` reads single frames, against what the synthetic features show.

Reads an audit dump (``stair audit ... --out DIR``: ``DIR/records.jsonl``) of a synthetic split
and, for every ``Exists`` step over a ``Filter[objects]`` window that the audit shows frame by
frame (its ``"frames"`` reading and gold window), compares the reading of each window frame
(p >= 0.5) with whether the features hold the entity there: the plain object, or the
relation-object pair of the filter's cue (the renderer's replayed drop mask,
:func:`stair.data.synth.visible.detections`). Printed: the share of frames read wrong, for
frames that show the entity and frames that do not, by kind (object, pair), by relation, and
by how often the training questions name the pair (``Filter(frame, [relations, R, objects])``
under an ``Exists`` of the object).

``--probe`` also fits a linear read-out of the raw features for the relation-object pairs
(logistic, the two classes weighed alike, on the ``train`` videos' frames) and scores it on the
split's videos, by relation: what the features hold linearly, for comparison.

Usage::

    python bench/exists_frames.py --data datasets/synth \\
        --records dumps/synth/records.jsonl [--probe]
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F

from stair.data.synth.visible import RenderSetup, detections
from stair.programs import load_scene_graphs

NAMED = re.compile(
    r"Exists\(([^,()]+), (?:Iterate\(.*?)?Filter\(frame, \[relations, ([^,\]]+), objects\]\)"
)


def mentions(folder: Path) -> Counter:
    """How often the training programs ask ``Exists`` of each (relation, object) pair."""
    counts: Counter = Counter()
    with open(folder / "questions" / "train.jsonl", encoding="utf-8") as lines:
        for line in lines:
            for m in NAMED.finditer(json.loads(line)["program"]):
                counts[(m.group(2).strip(), m.group(1).strip())] += 1
    return counts


def bucket(n: int) -> str:
    return "0" if n == 0 else "1-4" if n < 5 else "5-14" if n < 15 else "15+"


def frame_readings(folder: Path, records: Path) -> dict[str, Counter]:
    """Per-frame (right, wrong) tallies of the audited Exists readings, by several keys."""
    setup = RenderSetup.from_folder(folder)
    graphs = load_scene_graphs(folder / "scene_graphs.json")
    index, named = setup.embeddings.index, mentions(folder)
    tallies: dict[str, Counter] = {"kind": Counter(), "relation": Counter(), "named": Counter()}
    found: dict[str, object] = {}
    with open(records, encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            steps = {s["id"]: s for s in record["steps"]}
            for step in record["steps"]:
                gold = step.get("gold") or {}
                if step["module"] != "Exists" or "frames" not in step["output"]:
                    continue
                if "window" not in gold or not step["inputs"][0].startswith('"'):
                    continue
                source = steps.get(int(step["inputs"][1][1:]))
                if source is None or source["module"] != "Filter[objects]":
                    continue
                item = step["inputs"][0].strip('"')
                cue = source["inputs"][1].strip('"') if len(source["inputs"]) > 1 else None
                key = ("pair", (cue, item)) if cue else ("object", item)
                if key not in index:
                    continue
                video = record["video"]["id"]
                if video not in found:
                    found[video] = detections(graphs[video], setup, setup.index(video))
                kept = found[video].kept[:, index[key]]
                probs = step["output"]["frames"]["probabilities"]
                for a, b in gold["window"]["spans"]:
                    for f in range(a, min(b, len(probs))):
                        shown = bool(kept[f])
                        verdict = "right" if (probs[f] >= 0.5) == shown else "wrong"
                        side = "shown" if shown else "not shown"
                        tallies["kind"][(key[0], side, verdict)] += 1
                        if cue:
                            tallies["relation"][(cue, side, verdict)] += 1
                            tallies["named"][(bucket(named[(cue, item)]), side, verdict)] += 1
    return tallies


def print_tally(title: str, tally: Counter) -> None:
    print(f"{title:<16}{'shown: wrong':>22}{'not shown: wrong':>24}")

    def order(group: str) -> tuple:  # "1-4" before "15+", names alphabetically
        lead = re.match(r"\d+", group)
        return (0, int(lead.group()), group) if lead else (1, 0, group)

    for group in sorted({k[0] for k in tally}, key=order):
        cells = []
        for side in ("shown", "not shown"):
            right, wrong = tally[(group, side, "right")], tally[(group, side, "wrong")]
            share = 100 * wrong / max(1, right + wrong)
            cells.append(f"{wrong}/{right + wrong} = {share:.1f} %")
        print(f"{group:<16}{cells[0]:>22}{cells[1]:>24}")


def probe(folder: Path, split: str, steps: int = 1500) -> None:
    """Fit the balanced linear read-out of every pair on ``train`` frames, score on ``split``."""
    setup = RenderSetup.from_folder(folder)
    graphs = load_scene_graphs(folder / "scene_graphs.json")
    pairs = {k: i for k, i in setup.embeddings.index.items() if k[0] == "pair"}
    cols = list(pairs.values())
    data: dict[str, tuple[list, list]] = {"train": ([], []), split: ([], [])}
    with h5py.File(folder / "features.h5", "r") as store:
        for name in data:
            videos = {}
            with open(folder / "questions" / f"{name}.jsonl", encoding="utf-8") as lines:
                for line in lines:
                    videos[json.loads(line)["video_id"]] = None
            for video in videos:
                feats = store["videos"][video][:]
                kept = detections(graphs[video], setup, setup.index(video)).kept
                data[name][0].append(feats)
                data[name][1].append(kept[: len(feats)][:, cols])
    x, y = (torch.tensor(np.concatenate(part)) for part in data["train"])
    y = y.float()
    weight = torch.zeros(x.shape[1], len(cols), requires_grad=True)
    bias = torch.zeros(len(cols), requires_grad=True)
    positive = (1 - y).sum(0) / y.sum(0).clamp_min(1)  # the two classes weighed alike
    opt = torch.optim.Adam([weight, bias], lr=3e-2)
    for _ in range(steps):
        opt.zero_grad()
        F.binary_cross_entropy_with_logits(x @ weight + bias, y, pos_weight=positive).backward()
        opt.step()
    xs, ys = (torch.tensor(np.concatenate(part)) for part in data[split])
    with torch.no_grad():
        read = (xs @ weight + bias) > 0
    tally: Counter = Counter()
    for j, key in enumerate(pairs):
        for shown, verdict in ((True, read[:, j] & ys[:, j]), (False, ~read[:, j] & ~ys[:, j])):
            total = int((ys[:, j] == shown).sum())
            side = "shown" if shown else "not shown"
            tally[(key[1][0], side, "right")] += int(verdict.sum())
            tally[(key[1][0], side, "wrong")] += total - int(verdict.sum())
    print_tally(f"probe ({split})", tally)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="the synthetic dataset folder")
    parser.add_argument("--records", required=True, help="an audit's records.jsonl")
    parser.add_argument("--split", default="test", help="the split the records are of")
    parser.add_argument("--probe", action="store_true", help="also fit the linear pair probe")
    args = parser.parse_args()
    tallies = frame_readings(Path(args.data), Path(args.records))
    print_tally("kind", tallies["kind"])
    print_tally("relation", tallies["relation"])
    print_tally("named in train", tallies["named"])
    if args.probe:
        probe(Path(args.data), args.split)


if __name__ == "__main__":
    main()
