"""How well single frames of the synthetic benchmark show their entities, by two linear read-outs.

Each frame's symbolic feature is a sum of entity rows (:mod:`stair.data.synth.render`). For
every entity (object, relation-object pair, action) and frame, the *visible* labels are the
renderer's replayed drop mask (:func:`stair.data.synth.visible.detections`). Two read-outs are
scored on held-out frames (the last ``--test-share`` of the videos, in id order):

- ``least squares``: one linear map with a bias, fitted on the other frames to the labels,
  thresholded at 0.5 -- what a learned linear read-out can reach;
- ``matched``: the frame's dot product with the entity's own row, thresholded at 0.5 -- what a
  read-out that knows only the entity, not the others that share its parts, reaches.

Printed per read-out: the share of frames with any wrong entity, and the wrong entities per
frame by kind. A gap between the two is crosstalk between entities that share a part (a pair's
relation or object), which a model must learn to cancel.

Usage::

    python bench/decodability.py --data datasets/synth
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from stair.data.synth.visible import RenderSetup, detections
from stair.data.video.store import FeatureStore
from stair.programs import SceneGraph

KINDS = ("object", "pair", "action")


def frames_and_labels(
    folder: Path, setup: RenderSetup
) -> tuple[torch.Tensor, torch.Tensor, list[str], list[str]]:
    """Features ``[N, D]`` and visible labels ``[N, K]`` of every frame, in video id order; each
    frame's video and each entity's kind. ``setup``: the folder's (``RenderSetup.from_folder``)."""
    graphs = json.loads((folder / "scene_graphs.json").read_text(encoding="utf-8"))
    xs, ys, videos = [], [], []
    with FeatureStore(folder / "features.h5") as store:
        for vid in sorted(graphs):
            kept = detections(SceneGraph.from_json(graphs[vid]), setup, setup.index(vid)).kept
            feats = np.asarray(store.get(vid)[0])
            xs.append(feats)
            ys.append(kept)
            videos += [vid] * len(feats)
    kinds = [k for k, _ in sorted(setup.embeddings.index, key=setup.embeddings.index.get)]
    X = torch.tensor(np.concatenate(xs), dtype=torch.float64)
    return X, torch.tensor(np.concatenate(ys), dtype=torch.float64), videos, kinds


def errors(scores: torch.Tensor, labels: torch.Tensor, kinds: list[str]) -> dict[str, float]:
    """The share of frames with any wrong entity (``frames``) and wrong entities a frame by kind."""
    wrong = ((scores > 0.5).double() != labels).double()
    out = {"frames": float((wrong.sum(1) > 0).double().mean())}
    for kind in KINDS:
        out[kind] = float(wrong[:, [k == kind for k in kinds]].sum(1).mean())
    return out


def _line(name: str, err: dict[str, float]) -> str:
    per_kind = ", ".join(f"{kind} {err[kind]:.3f}" for kind in KINDS)
    return (f"{name:<14} frames with any wrong entity {100 * err['frames']:5.1f} %;"
            f" wrong entities per frame: {per_kind}")  # fmt: skip


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Print both read-outs' errors on the held-out frames; return them by read-out name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="datasets/synth", help="a synthetic benchmark folder")
    parser.add_argument("--test-share", type=float, default=0.2, help="share of held-out videos")
    args = parser.parse_args(argv)
    setup = RenderSetup.from_folder(Path(args.data))
    X, Y, videos, kinds = frames_and_labels(Path(args.data), setup)
    ids = sorted(set(videos))
    held = set(ids[int(len(ids) * (1 - args.test_share)) :])
    test = torch.tensor([v in held for v in videos])
    ones = torch.ones(len(X), 1, dtype=X.dtype)
    A = torch.cat([X, ones], dim=1)
    W = torch.linalg.lstsq(A[~test], Y[~test]).solution
    table = torch.tensor(setup.embeddings.table, dtype=X.dtype)
    print(f"{int(test.sum())} held-out frames of {len(held)} videos, {len(kinds)} entities, "
          f"{Y.sum(1).mean():.2f} visible a frame")  # fmt: skip
    results = {"least squares": errors(A[test] @ W, Y[test], kinds),
               "matched": errors(X[test] @ table.T, Y[test], kinds)}  # fmt: skip
    for name, err in results.items():
        print(_line(name, err))
    return results


if __name__ == "__main__":
    main()
