"""Answer heads: the typed head answers exactly what the root says."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from stair.engine.executor import Plan, execute
from stair.engine.heads import AnswerVocabulary, TypedAnswerHead
from stair.modules import ConceptBank, build_modules
from stair.programs import compile_program
from stair.values import Video

D, T, K = 8, 5, 4
CONCEPTS = ["cup", "phone", "dish", "holding"]
PROGRAMS = [
    "Exists(cup, Iterate(video, Filter(frame, [objects])))",
    "Compare([before, after], Exists(cup, Iterate(Localize(temporal tag, a), Filter(frame, [objects]))))",
    "Count(a, Localize(after, b))",
    "Query(class, OnlyItem(Iterate(video, Filter(frame, [objects]))))",
    "Choose(cup, dish, Query(class, OnlyItem(Iterate(video, Filter(frame, [objects])))))",
    "Choose(cup, sofa, Query(class, OnlyItem(Iterate(video, Filter(frame, [objects])))))",
]


@pytest.fixture(scope="module")
def run():
    torch.manual_seed(0)
    trees = [compile_program(p) for p in PROGRAMS]
    modules = build_modules(dim=D, max_count=K)
    bank = ConceptBank(CONCEPTS, D)
    plan = Plan(trees, [0, 1, 0, 1, 0, 1])
    video = Video.from_lengths(torch.randn(2, T, D), [T, 3])
    text = torch.randn(len(plan.text_index), D, requires_grad=True)
    trace = execute(plan, modules, text, video, bank)
    vocab = AnswerVocabulary(CONCEPTS, max_count=K)
    head = TypedAnswerHead(vocab, bank.names)
    return trace, bank, vocab, head(trace, bank.embeddings), text


def test_vocabulary_layout():
    vocab = AnswerVocabulary(["cup", "yes", "cup", "3"], max_count=3)
    assert vocab.answers == ["yes", "no", "before", "after", "0", "1", "2", "3", "cup"]
    assert vocab.encode(["cup", "no"]).tolist() == [8, 1]
    assert vocab.decode(torch.eye(9)[[8, 2]]) == ["cup", "before"]


def test_bool_and_compare_roots_answer_with_their_own_probability(run):
    trace, _, vocab, (logits, valid), _ = run
    i = vocab.index
    p_yes = trace.root(0).prob[0]
    assert torch.allclose(logits[0].softmax(-1)[i["yes"]], p_yes, atol=1e-6)
    assert valid[0].nonzero().flatten().tolist() == [i["yes"], i["no"]]
    p_before = trace.root(1).prob[0]
    assert torch.allclose(logits[1].softmax(-1)[i["before"]], p_before, atol=1e-6)
    assert valid[1].nonzero().flatten().tolist() == [i["before"], i["after"]]


def test_count_root_answers_its_count(run):
    trace, _, vocab, (logits, valid), _ = run
    probs = logits[2].softmax(-1)[vocab.count_ids]
    assert torch.allclose(probs, trace.root(2).logits[0].exp(), atol=1e-6)
    assert valid[2].sum() == K + 1


def test_concept_root_is_scored_against_the_bank(run):
    trace, bank, vocab, (logits, valid), _ = run
    cos = F.cosine_similarity(trace.root(3).vector, bank.embeddings, dim=-1)
    best = CONCEPTS[int(cos.argmax())]
    assert vocab.decode(logits[3:4]) == [best]
    assert valid[3].sum() == len(CONCEPTS)


def test_choose_root_answers_with_its_option_probability(run):
    trace, _, vocab, (logits, valid), _ = run
    i = vocab.index
    option = trace.root(4).option.softmax(-1)[0]
    probs = logits[4].softmax(-1)
    assert torch.allclose(probs[[i["cup"], i["dish"]]], option, atol=1e-6)
    assert valid[4].nonzero().flatten().tolist() == [i["cup"], i["dish"]]
    assert valid[5].sum() == len(CONCEPTS)  # "sofa" is no answer: scored as a concept


def test_one_cross_entropy_trains_every_root_type(run):
    _, bank, vocab, (logits, _), text = run
    target = vocab.encode(["no", "after", "2", "dish", "cup", "cup"])
    loss = F.cross_entropy(logits, target)
    assert torch.isfinite(loss)
    loss.backward(retain_graph=True)
    assert text.grad is not None and text.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="missing from the concept bank"):
        TypedAnswerHead(AnswerVocabulary(["sofa"]), bank.names)
