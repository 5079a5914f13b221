"""Prompts: a question's intermediate results as text, for a pretrained language model to read.

STAIR's steps return results specific to their intention (spans, concepts, yes/no, counts), so
they read as sentences. :func:`render_prompt` turns an
:class:`~stair.audit.explain.Explanation` (or its JSON, e.g. a line of an audit's
``records.jsonl``) into one prompt: one sentence per step, each in the terms of its value type

=======  ====================================================================================
type     sentence (``scores=True`` adds what is in brackets)
=======  ====================================================================================
Concept  ``Filter[objects] "cup": cup (0.91), mug (0.42).`` the ``k`` nearest concepts
Text     the same, for a phrase argument's vector
Frames   ``Localize "opening a door": 2.0-4.5 s (peak 3.0 s, p=0.97).`` spans in seconds
Video    ``Temporal[before]: 0.0-2.0 s.`` the focus window
Bool     ``Exists "cup": yes (p=0.93).`` (a Compare root: before / after)
Count    ``Count "sitting on a chair": 2 (p=0.71).``
=======  ====================================================================================

ordered by tree level, deepest first (the order the steps run; the root last). ``budget`` caps
the prompt's words: the deepest steps are dropped first, so what is kept is nearest the answer.
:class:`PromptOptions` says which modules (by name, ``Filter`` matching ``Filter[objects]``), how
many concepts and whether to show scores; :data:`FILTER_TOP1` is the paper's prompt (Filter
steps only, their top-1 concept, no scores). :func:`explain_split` explains a whole split of a
dataset with a trained module network, for ``stair prompt`` and the prompting benchmark.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: what joins the sentences of a prompt
_SEP = " "


@dataclass(frozen=True)
class PromptOptions:
    """What a prompt shows.

    Args:
        modules: module names whose steps are shown (``Filter`` also matches ``Filter[objects]``);
            None: every step.
        k: concepts shown per Concept / Text step (its ``k`` nearest).
        scores: show probabilities and cosines.
        budget: the most words of the whole prompt (None: no limit); deepest steps go first.
        root: show the root step (the module network's own answer).
    """

    modules: tuple[str, ...] | None = None
    k: int = 3
    scores: bool = True
    budget: int | None = 96
    root: bool = True


#: the paper's prompt: every Filter step's top-1 concept, no scores
FILTER_TOP1 = PromptOptions(modules=("Filter",), k=1, scores=False, budget=None, root=True)
#: named presets (``stair prompt --preset``)
PRESETS: dict[str, PromptOptions] = {"all": PromptOptions(), "filter-top1": FILTER_TOP1}


def _spans(output: Mapping[str, Any]) -> str:
    pairs = output.get("spans_seconds")
    if pairs is not None:
        return ", ".join(f"{a:.1f}-{b:.1f} s" for a, b in pairs) or "never"
    return ", ".join(f"frames {a}-{b - 1}" for a, b in output.get("spans", [])) or "never"


def _concepts(output: Mapping[str, Any], k: int, scores: bool) -> str:
    nearest = output.get("nearest", [])[:k]
    if scores:
        return ", ".join(f"{c['name']} ({c['cosine']:.2f})" for c in nearest) or "nothing"
    return ", ".join(c["name"] for c in nearest) or "nothing"


def value_text(output: Mapping[str, Any], options: PromptOptions = PromptOptions()) -> str:
    """A rendered value (``Value.explain()``, as in a step's ``output``) in words."""
    kind, scores = output.get("type"), options.scores
    if kind in ("Concept", "Text"):
        text = _concepts(output, options.k, scores)
        probs = output.get("option_probabilities")
        if probs and scores:
            text += f" (options p={probs[0]:.2f}/{probs[1]:.2f})"
        return text
    if kind in ("Frames", "Video"):
        text = _spans(output)
        peak = output.get("peak")
        if scores and peak and "probability" in peak:
            at = f"{peak['seconds']:.1f} s" if "seconds" in peak else f"frame {peak['frame']}"
            text += f" (peak {at}, p={peak['probability']:.2f})"
        return text
    if kind == "Bool":
        word = output.get("reads") or ("yes" if output["value"] else "no")
        return f"{word} (p={output['probability']:.2f})" if scores else str(word)
    if kind == "Count":
        text = str(output.get("reads", output["value"]))
        return f"{text} (p={output['probability']:.2f})" if scores else text
    raise ValueError(f"no prompt rendering for a value of type {kind!r}")


def step_sentence(step: Mapping[str, Any], options: PromptOptions = PromptOptions()) -> str:
    """One step as a sentence: its module, its phrase arguments, what it found."""
    phrases = [i for i in step["inputs"] if i.startswith('"')]
    head = " ".join([step["module"], *phrases])
    return f"{head}: {value_text(step['output'], options)}."


def _shown(module: str, modules: Sequence[str] | None) -> bool:
    return modules is None or module in modules or module.split("[")[0] in modules


def render_prompt(explanation: Any, options: PromptOptions = PromptOptions()) -> str:
    """The prompt of one :class:`~stair.audit.explain.Explanation` or its JSON (see the module
    docstring); empty when no step is shown."""
    record = explanation if isinstance(explanation, Mapping) else explanation.to_json()
    steps = [s for s in record["steps"] if _shown(s["module"], options.modules)]
    if not options.root:
        steps = [s for s in steps if s["depth"] > 0]
    steps.sort(key=lambda s: (-s["depth"], s["id"]))
    sentences = [step_sentence(s, options) for s in steps]
    if options.budget is not None:
        words = [len(s.split()) for s in sentences]
        while sentences and sum(words) > options.budget:
            sentences.pop(0)
            words.pop(0)
    return _SEP.join(sentences)


def explain_split(lit: Any, data: Any, split: str, limit: int | None = None) -> Iterator[Any]:
    """Every question of ``split`` explained by ``lit`` (a trained ``LitSTAIR``) on ``data``
    (a :class:`~stair.data.datamodule.QADataModule`, read with the checkpoint's vocabularies):
    one :class:`~stair.audit.explain.Explanation` each, in the split's order."""
    import torch
    from torch.utils.data import DataLoader

    from stair.audit.explain import explain_batch
    from stair.data.qa_dataset import QADataset

    data.read_with(lit.hparams["vocabularies"], "the model")
    texts = {r.qid: r.question for r in data.records(split)}
    examples = data.examples(split)[:limit]
    loader = DataLoader(QADataset(examples), batch_size=data.eval_batch_size,
                        collate_fn=data.collate)  # fmt: skip
    model = lit.model.eval()
    for batch in loader:
        batch = batch.to(lit.device)
        with torch.no_grad():
            output = model(batch)
        yield from explain_batch(model, batch, output, [texts[q] for q in batch.qids])
