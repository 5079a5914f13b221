"""Step-by-step accounts of answers: every module, its inputs, its typed output and the gold.

:func:`walkthrough` runs a trained model on a few test questions and returns, per question, the
answer and one entry per step of its module tree: the module (with its switch), its inputs (the
phrases, the raw video, the steps it reads), its output rendered by the value's ``.explain()``
(spans in seconds, nearest concepts, probabilities, counts) and the gold value of that step.
:func:`stair.audit.report.describe` turns those into one line of text each.
"""

from __future__ import annotations

import torch

from stair.audit.explain import explain_batch
from stair.audit.report import describe
from stair.data.datamodule import QADataModule
from stair.train.system import LitSTAIR

#: families shown first, when the test split has them (varied, multi-step questions)
PREFERRED = ("first_last", "count", "compare", "and", "superlative", "choose", "exists", "query")


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
    """Run ``model`` on ``count`` questions of ``split`` and account for every step.

    The accounts come from :func:`stair.audit.explain.explain_batch` (the one explanation path),
    with
    the steps in the order they run (leaves first).
    """
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
    questions = [texts.get(e.qid, " ".join(e.words)) for e in examples]
    accounts = []
    for example, ex in zip(examples, explain_batch(model.model, batch, out, questions)):
        steps = [
            {"node": s.id, "module": s.module, "inputs": s.inputs, "output": s.output,
             "summary": describe(s.output), "gold": describe(s.gold) if s.gold else "-"}
            for s in reversed(ex.steps)
        ]  # fmt: skip
        accounts.append({
            "qid": example.qid, "video_id": example.video_id, "question": ex.question,
            "family": example.metadata.get("family"), "answer": ex.answer["text"],
            "probability": ex.answer["probability"], "gold": ex.answer["gold"], "steps": steps,
        })  # fmt: skip
    return accounts
