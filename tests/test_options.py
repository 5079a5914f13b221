"""Answering among candidates: the candidate batch, the candidate head's shapes and masks, the
open vocabulary, and the baseline over options."""

from __future__ import annotations

import pytest
import torch

from stair.engine.executor import Plan, execute
from stair.engine.heads import INVALID
from stair.engine.options import CandidateHead, Candidates, OpenVocabulary, candidate_mode
from stair.modules import ConceptBank, build_modules
from stair.programs import compile_program
from stair.programs.text import WordVocabulary
from stair.values import Video

D, T, K = 8, 5, 4
CONCEPTS = ["cup", "phone", "dish", "holding"]
PROGRAMS = [
    "Exists(cup, Iterate(video, Filter(frame, [objects])))",
    "Compare([before, after], Exists(cup, Iterate(Localize(temporal tag, a), Filter(frame, [objects]))))",
    "Count(a, Localize(after, b))",
    "Query(class, OnlyItem(Iterate(video, Filter(frame, [objects]))))",
    "Choose(cup, dish, Query(class, OnlyItem(Iterate(video, Filter(frame, [objects])))))",
]
OPTIONS = [
    ["no", "yes"],
    ["after", "before"],
    ["3", "0", "seven", "1"],
    ["phone", "a red cup", "dish"],
    ["dish", "phone", "cup"],
]
WORDS = WordVocabulary(["no", "yes", "after", "before", "3", "0", "1", "seven", "phone", "a", "red",
                   "cup", "dish"])  # fmt: skip


@pytest.fixture(scope="module")
def run():
    torch.manual_seed(0)
    trees = [compile_program(p) for p in PROGRAMS]
    modules = build_modules(dim=D, max_count=K)
    bank = ConceptBank(CONCEPTS, D)
    plan = Plan(trees, [0, 1, 0, 1, 0])
    video = Video.from_lengths(torch.randn(2, T, D), [T, 3])
    text = torch.randn(len(plan.text_index), D)
    trace = execute(plan, modules, text, video, bank)
    candidates = Candidates.build(OPTIONS, WORDS)
    head = CandidateHead(D, K, bank.names)
    vectors = torch.randn(len(candidates.distinct), D, requires_grad=True)
    sentence = torch.randn(len(trees), D)
    out = head(trace, bank.embeddings, candidates, vectors, sentence)
    return trace, bank, head, candidates, vectors, out


def test_candidates_pad_and_share_texts():
    candidates = Candidates.build([["yes", "no"], ["a red cup", "no", "cup"], []], WORDS)
    assert candidates.rows.shape == (3, 3)
    assert candidates.distinct == ["yes", "no", "a red cup", "cup"]
    assert candidates.rows.tolist() == [[0, 1, -1], [2, 1, 3], [-1, -1, -1]]
    assert candidates.mask.tolist() == [[True, True, False], [True] * 3, [False] * 3]
    assert candidates.words.shape == (4, 3)  # the longest text, "a red cup"
    assert WORDS.decode(candidates.words[2].tolist()) == ["a", "red", "cup"]
    expanded = Candidates.build([["yes", "no"]], WORDS).expand(4)
    assert expanded.rows.shape == (4, 2) and len(expanded.texts) == 4


def test_shapes_and_padding_masks(run):
    *_, candidates, _, (logits, valid) = run
    assert logits.shape == valid.shape == (5, 4)
    # padding candidates are never valid, and get the invalid logit
    assert not valid[~candidates.mask].any()
    assert (logits[~candidates.mask] == INVALID).all()
    assert valid.sum(-1).tolist() == [2, 2, 4, 3, 2]


def test_bool_roots_answer_their_own_words_with_their_probability(run):
    trace, *_, (logits, _) = run
    p_yes = trace.root(0).prob[0]
    probs = logits[0, :2].softmax(-1)  # options "no", "yes"
    assert torch.allclose(probs[1], p_yes, atol=1e-6)
    p_before = trace.root(1).prob[0]  # Compare: options "after", "before"
    assert torch.allclose(logits[1, :2].softmax(-1)[1], p_before, atol=1e-6)


def test_count_root_reads_its_counts_and_scores_other_texts(run):
    trace, *_, vectors, (logits, _) = run
    log_probs = trace.root(2).logits[0]
    assert torch.allclose(logits[2, [0, 1, 3]], log_probs[[3, 0, 1]])
    # "seven" is not one of the counts 0..K: the learned reading scores it, and trains
    (grad,) = torch.autograd.grad(logits[2, 2], vectors, retain_graph=True)
    assert grad.abs().sum() > 0


def test_concept_root_scores_bank_concepts_and_encoded_texts(run):
    trace, bank, head, candidates, vectors, (logits, _) = run
    root = torch.nn.functional.normalize(trace.root(3).vector[0], dim=-1)
    scale = head.log_scale.exp()
    phone = torch.nn.functional.normalize(bank.embeddings[bank.names.index("phone")], dim=-1)
    assert torch.allclose(logits[3, 0], root @ phone * scale, atol=1e-5)
    red_cup = torch.nn.functional.normalize(vectors[candidates.distinct.index("a red cup")], dim=-1)
    assert torch.allclose(logits[3, 1], root @ red_cup * scale, atol=1e-5)


def test_choose_root_answers_with_its_option_probabilities(run):
    trace, *_, (logits, valid) = run
    option = trace.root(4).option[0].softmax(-1)  # cup, dish
    assert valid[4].tolist() == [True, False, True, False]  # dish, phone, cup, (padding)
    probs = logits[4].softmax(-1)
    assert torch.allclose(probs[[2, 0]], option, atol=1e-6)


def test_open_vocabulary_has_an_unknown_bucket():
    vocabulary = OpenVocabulary(["man", "dog", "man", "<unk>"])
    assert vocabulary.answers == ["man", "dog", "<unk>"] and vocabulary.unknown == 2
    voc, fixed = candidate_mode("open", {"answers": ["man", "dog"], "words": ["man", "dog"]})
    assert fixed is not None and fixed.texts == [voc.answers]
    assert candidate_mode("multiple_choice", {}) == (None, None)
    with pytest.raises(ValueError, match="unknown answer mode"):
        candidate_mode("ranked", {})
