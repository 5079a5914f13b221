"""Explanations: an answer together with every step that produced it.

:func:`explain_batch` reads a model's output on a :class:`~stair.engine.batch.QABatch` and gives,
per question, an :class:`Explanation`: the answer and its probability, the program, and each
step (pre-order, root first) with its module, its inputs, its typed output rendered by the
value's ``.explain()`` (spans in seconds, nearest concepts, probabilities, counts), the gold when
the batch carries one, rendered by the same value class (``.explain_gold()``), and whether the
step agrees with it — judged by the same rules as the intermediate metrics
(:func:`stair.engine.metrics.judge`). It is the one explanation path: ``stair ask``, ``stair
audit`` and the demo's walk-through all use it.

An explanation also says whether its *program* can be trusted: where it came from (the dataset's
gold, the program generator, or the asker), the dataset's program when the question is the
dataset's and whether the two match, and from which program the step golds were computed (golds
of a wrong program are not the truth; the page says so). The gold answer of a dataset question
is the dataset's, whatever program was run.

A step is *correct* when IoU >= 0.5 (Frames, Video), the nearest concept of the right category is
a gold one (Concept), or the yes/no or count matches (Bool, Count). An answer is *faithful* when
a yes/no, count or before/after answer is exactly what the root step says (``answer_shown`` of its
value type, read as its module's ``answer_as``; the typed answer head makes it so; the audit
reports any exception). A multiple-choice answer also lists the question's options in order,
each with its probability, the chosen one marked (``answer["options"]``); its faithfulness is
judged only where what the root says is one of the options.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from stair.engine.batch import QABatch
from stair.engine.losses import supervised
from stair.engine.metrics import concept_categories, judge
from stair.programs import ModuleTree, Node, Phrase, VideoInput, to_text
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
    #: where the program came from: ``gold`` (the dataset's), ``generated`` (the program
    #: generator's) or ``given`` (written by whoever asked)
    program_from: str = "gold"
    #: the dataset's program for this question (tree text), when the question is the dataset's
    gold_program: str | None = None
    #: whether the program run is the gold one (None: no gold program known)
    program_correct: bool | None = None
    #: which program the step golds were computed from: ``gold`` (true golds), ``generated`` or
    #: ``given`` (golds of that program, right only if it is); None when no step has a gold
    golds_from: str | None = None
    #: the question's family and split, when it is a dataset's (for the audit's tallies)
    metadata: dict[str, Any] = field(default_factory=dict)
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


def _faithful(
    root: Node, value: Value, shown: dict[str, Any], answer: str, answers: Sequence[str]
) -> bool | None:
    """Whether ``answer`` is what the rendered root value says, read as the root's module means
    it (its signature's ``answer_as``); None where the answer is not read off the rendering, or
    where what it says is not among the ``answers`` that could be given (a question's options)."""
    said = value.answer_shown(shown, root.signature.answer_as)
    return None if said is None or said not in answers else answer == said


def _options(answers: Sequence[str], probs: torch.Tensor, best: int) -> list[dict[str, Any]]:
    """A multiple-choice question's options in order, each with its probability; the chosen
    one (the answer) is marked."""
    return [{"text": text, "probability": round(float(probs[n]), 4), "chosen": n == best}
            for n, text in enumerate(answers)]  # fmt: skip


def _program_verdict(
    tree: ModuleTree, gold: ModuleTree | None, meta: dict[str, Any], program_from: str
) -> tuple[str, bool | None]:
    """Where the program came from and whether it is the gold one: a question of a generated
    split says so in its metadata (``program_match``); else ``gold`` settles it when known."""
    if "program_match" in meta:
        return "generated", bool(meta["program_match"])
    if gold is not None:
        return program_from, tree == gold
    return program_from, True if program_from == "gold" else None


def explain_batch(
    model: Any,
    batch: QABatch,
    output: Any,
    questions: Sequence[str],
    video_paths: Sequence[str | None] | None = None,
    gold_trees: Sequence[ModuleTree | None] | None = None,
    program_from: str = "gold",
    answer_from: str = "dataset",
) -> list[Explanation]:
    """One :class:`Explanation` per question of ``batch`` from ``output = model(batch)``.

    ``model``: the :class:`~stair.engine.model.STAIRModel` (for its concept bank and answers).
    ``gold_trees``: per question, the dataset's program when known (compared with the one run);
    ``program_from``: where ``batch.trees`` came from (``gold``, ``generated``, ``given``);
    ``answer_from``: where the gold answer came from (``dataset``, or the program it was
    computed from: ``generated program``, ``given program``).
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
    vocabulary = model.answer_vocabulary
    out = []
    for b, tree in enumerate(batch.trees):
        answers = output.words(b, None if vocabulary is None else vocabulary.answers)
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
        if output.candidates is not None:  # multiple choice: every option, the chosen one
            answer["options"] = _options(answers, probs[b], best)
        if truth is not None:
            answer["gold_from"] = answer_from
        root = output.trace.value(b, tree.root.id)
        faithful = _faithful(tree.root, root, steps[0].output, answers[best], answers)
        for shown in (steps[0].output, steps[0].gold):  # the root, read as its module means it
            said = root.answer_shown(shown, tree.root.signature.answer_as) if shown else None
            if said is not None:
                shown["reads"] = said  # e.g. a Compare's yes/no is before/after
        meta = batch.metadata[b] if b < len(batch.metadata) else {}
        gold_tree = gold_trees[b] if gold_trees else None
        source, right = _program_verdict(tree, gold_tree, meta, program_from)
        has_golds = any(s.gold is not None for s in steps)
        out.append(Explanation(batch.qids[b], questions[b], video, tree.source, to_text(tree),
                               answer, steps, faithful, source,
                               to_text(gold_tree) if gold_tree is not None else None, right,
                               ("gold" if right else source) if has_golds else None,
                               {k: meta[k] for k in ("family", "split") if k in meta}))  # fmt: skip
    return out
