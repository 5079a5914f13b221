"""Random :class:`~stair.engine.batch.QABatch`\\ es from module trees, for tests and benchmarks.

No dataset needed: the trees come from anywhere (``stair.testing.programs`` gives trees of
every template shape of the synthetic benchmark), the features and the golds are random but
correctly typed and shaped, and the question is made of the trees' phrases (a share of them
left out, so that both phrase-embedding paths of the model run). Everything is seeded.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import torch

from stair.data.synth.vocab import DEFAULT_VOCAB, WorldVocabulary
from stair.engine.batch import QABatch
from stair.engine.heads import AnswerVocabulary
from stair.engine.plan import Plan, TextIndex
from stair.programs.signatures import AnswerAs, VType
from stair.programs.text import WordVocabulary, tokenize
from stair.programs.tree import ModuleTree, Node, Phrase

#: How many objects, relations and actions AGQA has (its concept bank's size).
AGQA_CONCEPTS = (36, 25, 157)
FILLER = ("what", "did", "they", "do", "and", "then")


def fake_vocabularies(
    feature_dim: int = 32,
    phrases: WorldVocabulary = DEFAULT_VOCAB,
    concept_counts: tuple[int, int, int] | None = None,
    num_words: int | None = None,
    max_count: int = 10,
    num_frames: int = 8,
) -> dict[str, Any]:
    """Vocabularies (the data module's dict form) covering the objects, relations, actions and
    verbs of ``phrases`` (the synthetic benchmark's vocabulary, which the sampled trees use).

    ``concept_counts``: pad objects / relations / actions with made-up names up to these sizes
    (e.g. :data:`AGQA_CONCEPTS`); ``num_words``: pad the word vocabulary up to this size.
    """
    actions = [a.phrase for a in phrases.actions]
    groups = [list(phrases.objects), list(phrases.relations), actions]
    for i, (name, want) in enumerate(zip(("object", "relation", "action"), concept_counts or ())):
        groups[i] += [f"{name} {k}" for k in range(want - len(groups[i]))]
    concepts = [c for g in groups for c in g]
    categories = [cat for cat, g in zip(("objects", "relations", "actions"), groups) for _ in g]
    texts = [*FILLER, *concepts, *phrases.verbs]
    words = WordVocabulary(w for t in texts for w in tokenize(t)).words
    if num_words is not None:
        words += [f"word{k}" for k in range(num_words - len(words))]
    return {
        "words": words, "concepts": concepts, "categories": categories, "answers": concepts,
        "max_count": max_count, "feature_dim": feature_dim, "num_frames": num_frames,
    }  # fmt: skip


def _random_gold(vtype: VType, frames: int, concepts: int, rng: torch.Generator):
    if vtype in (VType.VIDEO, VType.FRAMES):
        return (torch.rand(frames, generator=rng) > 0.5).float()
    if vtype is VType.BOOL:
        return torch.randint(2, (), generator=rng).float()
    if vtype is VType.COUNT:
        return torch.randint(4, (), generator=rng)
    hot = torch.zeros(concepts)
    hot[torch.randint(concepts, (2,), generator=rng)] = 1.0
    return hot


def fake_batch(
    trees: Sequence[ModuleTree],
    vocabularies: dict[str, Any],
    num_videos: int | None = None,
    frames: int = 8,
    lengths: Sequence[int] | None = None,
    seed: int = 0,
    gold_rate: float = 0.9,
    missing_every: int = 3,
) -> QABatch:
    """A batch of ``trees`` over ``num_videos`` random videos (default: one per two questions).

    ``lengths``: real frames of each video (default all ``frames``); ``gold_rate``: share of
    nodes with a gold; every ``missing_every``-th phrase is left out of its question.
    """
    rng = torch.Generator().manual_seed(seed)
    pick = random.Random(seed)
    B = len(trees)
    V = num_videos or max(1, B // 2)
    words = WordVocabulary(vocabularies["words"])
    concepts = vocabularies["concepts"]
    answers = AnswerVocabulary(vocabularies["answers"], vocabularies["max_count"])
    text_index = TextIndex(trees)
    video_index = [b % V for b in range(B)]
    questions, spans = [], []
    for b in range(B):
        ids = words.encode(list(FILLER[:3]))
        for r in (r for r, t in enumerate(text_index.tree_of) if t == b):
            if r % missing_every == missing_every - 1:
                spans.append((-1, -1))
                continue
            phrase = words.encode(text_index.texts[r])
            spans.append((len(ids), len(ids) + len(phrase)))
            ids += [*phrase, *words.encode(["and"])]
        questions.append(ids)
    L = max(len(q) for q in questions)
    phrase_ids = [words.encode(t) for t in text_index.texts]
    Lp = max((len(p) for p in phrase_ids), default=1)
    lengths_t = torch.as_tensor(lengths if lengths is not None else [frames] * V)
    mask = torch.arange(frames)[None] < lengths_t[:, None]
    features = torch.randn(V, frames, vocabularies["feature_dim"], generator=rng) * mask[..., None]
    golds, options, answer_ids = [], [], []
    for tree in trees:
        golds.append({
            n.id: _random_gold(n.type, frames, len(concepts), rng)
            for n in tree.nodes
            if pick.random() < gold_rate
        })  # fmt: skip
        options.append({n.id: pick.randint(0, 1) for n in tree.nodes if _is_option(n)})
        answer_ids.append(_random_answer(tree, answers, pick))
    return QABatch(
        qids=[f"q{b}" for b in range(B)],
        trees=list(trees),
        questions=torch.tensor([q + [0] * (L - len(q)) for q in questions]),
        plan=Plan(trees, video_index, text_index),
        phrase_spans=torch.tensor(spans, dtype=torch.long).reshape(-1, 2),
        phrase_words=torch.tensor(
            [p + [0] * (Lp - len(p)) for p in phrase_ids], dtype=torch.long
        ).reshape(-1, Lp),
        video_ids=[f"v{v}" for v in range(V)],
        video_index=torch.tensor(video_index),
        features=features,
        frame_mask=mask,
        timestamps=torch.arange(frames).float()[None].expand(V, -1) * 0.5 * mask,
        answers=torch.tensor(answer_ids),
        golds=golds,
        options=options,
        metadata=[
            {"family": t.root.module.lower(), "steps": len(t), "split": "train"} for t in trees
        ],
    )


def _is_option(node: Node) -> bool:
    """Does the node answer with one of its two phrase arguments (``Choose``)?"""
    return node.signature.answer_as is AnswerAs.OPTION


def _random_answer(tree: ModuleTree, answers: AnswerVocabulary, pick: random.Random) -> int:
    root = tree.root
    if root.signature.answer_as is AnswerAs.BEFORE_AFTER:
        return answers.index[pick.choice(["before", "after"])]
    if tree.type is VType.BOOL:
        return answers.index[pick.choice(["yes", "no"])]
    if tree.type is VType.COUNT:
        return pick.choice(answers.count_ids)
    words = [a.text for a in root.args[:2] if isinstance(a, Phrase)]
    if _is_option(root) and len(words) == 2 and all(w in answers.index for w in words):
        return answers.index[pick.choice(words)]
    return pick.choice(answers.concept_ids)
