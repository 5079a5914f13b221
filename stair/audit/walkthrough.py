"""Step-by-step accounts of answers: every module, its inputs, its typed output and the gold.

:func:`walkthrough` runs a trained model on a few test questions and returns, per question, the
answer and one entry per step of its module tree: the module (with its switch), its inputs (the
phrases, the raw video, the steps it reads), its output rendered by the value's ``.explain()``
(spans in seconds, nearest concepts, probabilities, counts) and the gold value of that step.
:func:`stair.audit.report.describe` turns those into one line of text each.

With ``programs`` (question -> module tree, e.g. :class:`stair.api.GeneratedPrograms`) the model
answers from those programs, as it would for a new question: each account then holds the program
run and the dataset's gold program and whether they match; the step golds are kept only where
they match (a wrong program's steps have no true gold), the gold answer is always the dataset's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import torch

from stair.audit.explain import explain_batch
from stair.audit.report import describe
from stair.data.datamodule import QADataModule
from stair.programs import ModuleTree, to_text
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


def _on_program(example, tree: ModuleTree):
    """``example`` asked on ``tree``: its step golds kept only if ``tree`` is its gold program."""
    match = tree == example.tree
    meta = {**example.metadata, "program_match": match}
    return replace(example, tree=tree, golds=example.golds if match else {}, metadata=meta)


def walkthrough(
    model: LitSTAIR,
    dm: QADataModule,
    count: int = 3,
    split: str = "test",
    programs: Callable[[str], ModuleTree] | None = None,
) -> list:
    """Run ``model`` on ``count`` questions of ``split`` and account for every step.

    The accounts come from :func:`stair.audit.explain.explain_batch` (the one explanation path),
    with the steps in the order they run (leaves first); ``programs``: see the module docstring.
    """
    if split not in dm.datasets:
        dm.setup("test")
    gold = [dm.datasets[split].examples[i] for i in pick_examples(dm, split, count)]
    texts = {r.qid: r.question for r in dm.records(split)}
    questions = [texts.get(e.qid, " ".join(e.words)) for e in gold]
    examples = gold
    if programs is not None:
        examples = [_on_program(e, programs(q)) for e, q in zip(gold, questions)]
    batch = dm.collate(examples).to(model.device)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model.model(batch)
    model.train(was_training)
    explained = explain_batch(model.model, batch, out, questions, gold_trees=[e.tree for e in gold])
    accounts = []
    for example, ex in zip(examples, explained):
        steps = [
            {"node": s.id, "module": s.module, "inputs": s.inputs, "output": s.output,
             "summary": describe(s.output), "gold": describe(s.gold) if s.gold else "-"}
            for s in reversed(ex.steps)
        ]  # fmt: skip
        accounts.append({
            "qid": example.qid, "video_id": example.video_id, "question": ex.question,
            "family": example.metadata.get("family"), "answer": ex.answer["text"],
            "probability": ex.answer["probability"], "gold": ex.answer["gold"], "steps": steps,
            "program": to_text(example.tree), "program_from": ex.program_from,
            "gold_program": ex.gold_program, "program_correct": ex.program_correct,
        })  # fmt: skip
    return accounts
