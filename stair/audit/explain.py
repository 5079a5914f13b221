"""Explanations: an answer together with every step that produced it.

:func:`explain_batch` reads a model's output on a :class:`~stair.engine.batch.QABatch` and gives,
per question, an :class:`Explanation`: the answer and its probability, the program, and each
step (pre-order, root first) with its module, its inputs, its typed output rendered by the
value's ``.explain()`` (spans in seconds, nearest concepts, probabilities, counts), the gold when
the batch carries one, rendered by the same value class (``.explain_gold()``), and whether the
step agrees with it — judged by the same rules as the intermediate metrics
(:func:`stair.engine.metrics.judge`). It is the one explanation path: ``stair ask``, ``stair
audit`` and the demo's walk-through all use it.

A step is *correct* when IoU >= 0.5 (Frames, Video), the nearest concept of the right category is
a gold one (Concept), or the yes/no or count matches (Bool, Count). An answer is *faithful* when
a yes/no, count or before/after answer is exactly what the root step says (``answer_shown`` of its
value type, read as its module's ``answer_as``; the typed answer head makes it so; the audit
reports any exception).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from stair.engine.batch import QABatch
from stair.engine.losses import supervised
from stair.engine.metrics import concept_categories, judge
from stair.programs import Node, Phrase, VideoInput, to_text
from stair.values import Value

PASS = {"iou": 0.5, "top1": 1.0, "acc": 1.0}


@dataclass
class Step:
    id: int
    module: str
    type: str
    depth: int
    inputs: list[str]
    output: dict[str, Any]
    gold: dict[str, Any] | None = None
    correct: bool | None = None
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class Explanation:
    qid: str | None
    question: str
    video: dict[str, Any]
    program: str | None
    tree: str
    answer: dict[str, Any]
    steps: list[Step]
    faithful: bool | None = None
    #: the decoded video frames ``[T, H, W, 3]`` when asked about a video file (not serialised)
    frames: Any = field(default=None, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        out = asdict(replace(self, frames=None))
        del out["frames"]
        return out

    def to_text(self) -> str:
        from stair.audit.report import to_text

        return to_text(self.to_json())

    def to_html(self) -> str:
        from stair.audit.report import to_html

        return to_html(self.to_json(), self.frames)


def _inputs(node: Node) -> list[str]:
    out = []
    for arg in node.args:
        for item in arg if isinstance(arg, tuple) else (arg,):
            if isinstance(item, Phrase):
                out.append(f'"{item.text}"')
            elif isinstance(item, VideoInput):
                out.append("video")
            elif isinstance(item, Node):
                out.append(f"#{item.id}")
    return out


def _depths(node: Node, depth: int = 0, out: dict[int, int] | None = None) -> dict[int, int]:
    out = {} if out is None else out
    out[node.id] = depth
    for child in node.children():
        _depths(child, depth + 1, out)
    return out


def _faithful(root: Node, value: Value, shown: dict[str, Any], answer: str) -> bool | None:
    """Whether ``answer`` is what the rendered root value says, read as the root's module means
    it (its signature's ``answer_as``); None where the answer is not read off the rendering."""
    said = value.answer_shown(shown, root.signature.answer_as)
    return None if said is None else answer == said


def explain_batch(
    model: Any,
    batch: QABatch,
    output: Any,
    questions: Sequence[str],
    video_paths: Sequence[str | None] | None = None,
) -> list[Explanation]:
    """One :class:`Explanation` per question of ``batch`` from ``output = model(batch)``.

    ``model``: the :class:`~stair.engine.model.STAIRModel` (for its concept bank and answers).
    """
    bank = model.bank
    concepts = bank.space()
    verdicts: dict[tuple[int, int], dict[str, float]] = {}
    categories = concept_categories(bank)
    for sup in supervised(output.trace, batch.golds):
        scores = judge(sup, bank, categories)
        rows = [
            r
            for r, b in enumerate(sup.group.trees)
            if batch.golds[b].get(sup.group.nodes[r]) is not None
        ]
        for i, row in enumerate(rows):
            key = (sup.group.trees[row], sup.group.nodes[row])
            verdicts[key] = {m: float(v[i]) for m, v in scores.items() if not torch.isnan(v[i])}
    logits = output.logits.masked_fill(~output.valid, float("-inf"))
    probs = logits.float().softmax(-1)
    answers = model.answer_vocabulary.answers
    out = []
    for b, tree in enumerate(batch.trees):
        v = int(batch.video_index[b])
        times = batch.timestamps[v][batch.frame_mask[v]].tolist()
        best = int(probs[b].argmax())
        depth = _depths(tree.root)
        steps = []
        for node in tree.nodes:
            value = output.trace.value(b, node.id)
            shown = value.explain(0, times, concepts)
            gold = batch.golds[b].get(node.id) if b < len(batch.golds) else None
            if gold is not None:
                gold = value.explain_gold(gold.cpu(), times, bank.names)
            scores = verdicts.get((b, node.id), {})
            correct = all(scores[m] >= PASS[m] for m in scores if m in PASS) if scores else None
            steps.append(Step(node.id, node.label, str(node.type), depth[node.id], _inputs(node),
                              shown, gold, correct, scores))  # fmt: skip
        truth = answers[int(batch.answers[b])] if int(batch.answers[b]) >= 0 else None
        correct = None if truth is None else answers[best] == truth
        answer = {"text": answers[best], "probability": round(float(probs[b, best]), 4),
                  "gold": truth, "correct": correct}  # fmt: skip
        video = {"id": batch.video_ids[v], "timestamps": times,
                 "path": video_paths[b] if video_paths else None}  # fmt: skip
        root = output.trace.value(b, tree.root.id)
        faithful = _faithful(tree.root, root, steps[0].output, answers[best])
        out.append(Explanation(batch.qids[b], questions[b], video, tree.source, to_text(tree),
                               answer, steps, faithful))  # fmt: skip
    return out
