"""Step-by-step accounts of answers: every module, its inputs, its typed output and the gold.

:func:`walkthrough` runs a trained model on a few test questions and returns, per question, the
answer and one entry per step of its module tree: the module (with its switch), its inputs (the
phrases, the raw video, the steps it reads), its output rendered by the value's ``.explain()``
(spans in seconds, nearest concepts, probabilities, counts) and the gold value of that step.
:func:`describe` and :func:`describe_gold` turn those into one line of text each.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from stair.data.datamodule import QADataModule
from stair.lit import LitSTAIR
from stair.programs.switches import Category
from stair.programs.tree import Node, Phrase, VideoInput
from stair.values import Vocabulary

#: families shown first, when the test split has them (varied, multi-step questions)
PREFERRED = ("first_last", "count", "compare", "and", "superlative", "choose", "exists", "query")


def _seconds(frame: int, times: Sequence[float]) -> float:
    if frame < len(times):
        return round(float(times[frame]), 2)
    step = times[-1] - times[-2] if len(times) > 1 else 1.0
    return round(float(times[-1] + step * (frame - len(times) + 1)), 2)


def _spans(spans: Sequence[Sequence[int]], times: Sequence[float]) -> str:
    if not spans:
        return "no frames"
    return ", ".join(f"{_seconds(s, times)}-{_seconds(e, times)} s" for s, e in spans)


def describe(out: dict[str, Any]) -> str:
    """One line for an ``.explain()`` dict."""
    kind = out["type"]
    if kind in ("Frames", "Video"):
        spans = out.get("spans_seconds", out["spans"])
        text = ", ".join(f"{s}-{e} s" for s, e in spans) if spans else "no frames >= 0.5"
        peak = out["peak"]
        where = f"{peak['seconds']} s" if "seconds" in peak else f"frame {peak['frame']}"
        return f"{text} (peak {where}, p={peak['probability']:.2f})"
    if kind == "Concept":
        near = ", ".join(f"{n['name']} {n['cosine']:.2f}" for n in out.get("nearest", [])[:3])
        options = out.get("option_probabilities")
        return near + (f"; options p={options[0]:.2f}/{options[1]:.2f}" if options else "")
    if kind == "Bool":
        return f"{'yes' if out['value'] else 'no'} (p={out['probability']:.2f})"
    if kind == "Count":
        return f"{out['value']} (p={out['probability']:.2f})"
    return kind


def describe_gold(gold: dict[str, Any] | None, times: Sequence[float]) -> str:
    """One line for a gold value (``SymValue.to_json()``); ``-`` when the step has none."""
    if gold is None:
        return "-"
    kind = gold["type"]
    if kind in ("Frames", "Video"):
        return _spans(gold.get("spans", []), times)
    if kind == "Concept":
        return ", ".join(gold.get("items", [])) or "(none)"
    if kind == "Bool":
        return "yes" if gold["value"] else "no"
    return str(gold.get("value", "?"))


def _inputs(node: Node) -> list[str]:
    out = []
    for arg in node.args:
        for item in arg if isinstance(arg, tuple) else (arg,):
            if isinstance(item, Phrase):
                out.append(f'"{item.text}"')
            elif isinstance(item, VideoInput):
                out.append("video")
            elif isinstance(item, Node):
                out.append(f"#{item.id} {item.label}")
    return out


def category_vocabularies(vocabulary: Vocabulary, categories: Sequence[str]) -> dict:
    """Category -> the concepts of that category only (a Filter's output is named among them)."""
    out = {}
    for category in Category:
        rows = [i for i, c in enumerate(categories) if c == category.value]
        if rows:
            names = [vocabulary.names[i] for i in rows]
            out[category] = Vocabulary(names, vocabulary.embeddings[torch.tensor(rows)])
    return out


def pick_examples(dm: QADataModule, split: str, count: int) -> list[int]:
    """Indices of ``count`` questions of ``split``, of different families where possible."""
    examples = dm.datasets[split].examples
    chosen: list[int] = []
    for family in PREFERRED:
        for i, e in enumerate(examples):
            if e.metadata.get("family") == family and len(e.tree) >= 3:
                chosen.append(i)
                break
        if len(chosen) == count:
            return chosen
    rest = [i for i in range(len(examples)) if i not in chosen]
    return chosen + rest[: count - len(chosen)]


def walkthrough(model: LitSTAIR, dm: QADataModule, count: int = 3, split: str = "test") -> list:
    """Run ``model`` on ``count`` questions of ``split`` and account for every step."""
    if split not in dm.datasets:
        dm.setup("test")
    examples = [dm.datasets[split].examples[i] for i in pick_examples(dm, split, count)]
    texts = {r.qid: r.question for r in dm.records(split)}
    batch = dm.collate(examples).to(model.device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.model(batch)
    model.train(was_training)
    vocabulary = model.model.bank.vocabulary()
    by_category = category_vocabularies(vocabulary, model.hparams.vocabularies["categories"])
    probs = out.logits.softmax(-1)
    words = model.answer_vocabulary.answers
    accounts = []
    for b, example in enumerate(examples):
        v = int(batch.video_index[b])
        mask = batch.frame_mask[v]
        times = batch.timestamps[v][mask].tolist()
        best = int(probs[b].argmax())
        steps = []
        for node in reversed(example.tree.nodes):  # leaves first: the order the steps run in
            names = by_category.get(node.switch, vocabulary)  # type: ignore[call-overload]
            shown = out.trace.value(b, node.id).explain(0, times, names)
            gold = example.golds.get(str(node.id))
            steps.append({
                "node": node.id, "module": node.label, "inputs": _inputs(node),
                "output": shown, "summary": describe(shown), "gold": describe_gold(gold, times),
            })  # fmt: skip
        accounts.append({
            "qid": example.qid, "video_id": example.video_id,
            "question": texts.get(example.qid, " ".join(example.words)),
            "family": example.metadata.get("family"),
            "answer": words[best], "probability": round(float(probs[b, best]), 4),
            "gold": words[example.answer] if example.answer >= 0 else None, "steps": steps,
        })  # fmt: skip
    return accounts
