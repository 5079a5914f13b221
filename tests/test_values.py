"""Value types: losses minimal at gold, padding ignored, audit renderings, gold tensors."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from stair.programs import ActionInstance, Frame, SceneGraph, compile_program, execute
from stair.programs.symbolic import SymBool, SymConcept, SymCount, SymFrames, SymVideo
from stair.values import (
    Bool,
    Concept,
    Count,
    Frames,
    GoldError,
    Text,
    Video,
    Vocabulary,
    choose_options,
    gold_tensor,
    tree_golds,
)

GEN = torch.Generator().manual_seed(0)


def _mask(B=3, T=8):
    lengths = torch.tensor([T, T - 3, 1][:B])
    return torch.arange(T)[None] < lengths[:, None]


# -- losses ---------------------------------------------------------------------------------------
def test_frame_losses_are_minimal_at_gold_and_ignore_padding():
    mask = _mask()
    gold = (torch.rand(3, 8, generator=GEN) > 0.5).float() * mask
    exact = Frames(gold.clone(), mask)
    near = Frames(gold * 0.8 + 0.1, mask)
    assert torch.allclose(exact.loss(gold), torch.zeros(3), atol=1e-6)
    assert (near.loss(gold) > exact.loss(gold)).all()
    garbage = Frames(torch.where(mask, gold, torch.rand(3, 8, generator=GEN)), mask)
    assert torch.equal(garbage.loss(torch.where(mask, gold, 1 - gold)), exact.loss(gold))
    video = Video(torch.randn(3, 8, 4), gold.clone(), mask)
    assert torch.allclose(video.loss(gold), torch.zeros(3), atol=1e-6)
    assert (Video(video.features, gold * 0.5 + 0.25, mask).loss(gold) > 1e-3).all()


def test_bool_and_count_losses_are_minimal_at_gold():
    gold = torch.tensor([1.0, 0.0, 1.0])
    sure, unsure = Bool((gold * 2 - 1) * 12), Bool((gold * 2 - 1) * 0.5)
    assert (sure.loss(gold) < unsure.loss(gold)).all() and (sure.loss(gold) < 1e-4).all()
    counts = torch.tensor([0, 2, 9])  # 9 is clamped to K = 4
    good = Count(F.one_hot(counts.clamp(max=4), 5).float().mul(30).log_softmax(-1))
    flat = Count(torch.zeros(3, 5).log_softmax(-1))
    assert (good.loss(counts) < flat.loss(counts)).all()
    assert good.max_count == 4


def test_concept_infonce_is_minimal_at_the_gold_set():
    bank = F.normalize(torch.randn(10, 16, generator=GEN), dim=-1)
    gold = torch.zeros(2, 10)
    gold[0, [1, 4]] = 1
    gold[1, 7] = 1
    best = Concept(gold @ bank)  # the sum of the positives' embeddings
    worse = Concept(best.vector + 0.8 * torch.randn(2, 16, generator=GEN))
    temperature = torch.tensor(0.05)
    assert (best.loss(gold, bank, temperature) < worse.loss(gold, bank, temperature)).all()
    empty = Concept(torch.randn(1, 16)).loss(torch.zeros(1, 10), bank, temperature)
    assert torch.equal(empty, torch.zeros(1))
    chose = Concept(best.vector, option=torch.tensor([[4.0, -4.0], [4.0, -4.0]]))
    with_option = chose.loss(gold, bank, temperature, option=torch.tensor([0, 1]))
    assert with_option[1] > with_option[0]
    unknown = chose.loss(gold, bank, temperature, option=torch.tensor([-1, -1]))
    assert torch.allclose(unknown, best.loss(gold, bank, temperature))


def test_temperature_gets_a_gradient():
    log_t = torch.zeros((), requires_grad=True)
    bank = torch.randn(5, 4)
    gold = torch.eye(5)[:2]
    Concept(torch.randn(2, 4)).loss(gold, bank, log_t.exp()).sum().backward()
    assert log_t.grad is not None and log_t.grad != 0


# -- rows, concatenation --------------------------------------------------------------------------
def test_index_narrow_cat():
    mask = _mask()
    video = Video(torch.randn(3, 8, 4), torch.rand(3, 8), mask)
    assert len(video) == 3 and len(video.index(torch.tensor([2, 0]))) == 2
    assert torch.equal(video.narrow(1, 2).features, video.features[1:])
    both = Concept.cat([Concept(torch.ones(1, 2), torch.ones(1, 2)), Concept(torch.zeros(2, 2))])
    assert len(both) == 3 and both.option is None
    assert torch.equal(video.focus, video.weights * mask)


# -- audit renderings -----------------------------------------------------------------------------
def test_explain_frames_and_video_in_frames_and_seconds():
    probs = torch.tensor([[0.1, 0.7, 0.9, 0.2, 0.6, 0.0]])
    mask = torch.tensor([[True] * 5 + [False]])
    out = Frames(probs, mask).explain(0, 2.0)
    json.dumps(out)
    assert out["spans"] == [[1, 3], [4, 5]] and out["spans_seconds"] == [[0.5, 1.5], [2.0, 2.5]]
    assert out["peak"] == {"frame": 2, "probability": 0.9, "seconds": 1.0}
    assert out["num_frames"] == 5
    stamps = Frames(probs, mask).explain(0, [0.0, 1.0, 2.0, 4.0, 5.0])
    assert stamps["spans_seconds"] == [[1.0, 4.0], [5.0, 6.0]]
    video = Video(torch.randn(1, 6, 2), probs, mask).explain(0)
    assert video["spans"] == [[1, 3], [4, 5]] and "spans_seconds" not in video


def test_explain_concept_bool_count_text():
    names = ["cup", "phone", "dish"]
    emb = torch.eye(3)
    vocab = Vocabulary(names, emb)
    concept = Concept(torch.tensor([[0.1, 2.0, 0.3]]), option=torch.tensor([[0.0, 2.0]]))
    out = concept.explain(0, vocabulary=vocab, top_k=2)
    json.dumps(out)
    assert [n["name"] for n in out["nearest"]] == ["phone", "dish"]
    assert out["option_probabilities"][1] > 0.8
    assert Bool(torch.tensor([2.0])).explain(0) == {
        "type": "Bool",
        "probability": 0.8808,
        "value": True,
    }
    count = Count(torch.tensor([[0.0, 3.0, 0.0]]).log_softmax(-1)).explain(0)
    assert count["value"] == 1 and count["probability"] > 0.9
    assert (
        Text(torch.tensor([[1.0, 0, 0]])).explain(0, vocabulary=vocab)["nearest"][0]["name"]
        == "cup"
    )


# -- gold tensors ---------------------------------------------------------------------------------
def _graph():
    frames = [Frame(frozenset({"cup"}), frozenset({("holding", "cup")}))] * 3
    frames += [Frame(frozenset({"phone", "dish"}), frozenset({("holding", "phone")}))] * 3
    acts = (
        ActionInstance("drinking from a cup", 0, 3, "drinking from", "cup"),
        ActionInstance("opening a door", 4, 6, "opening", "door"),
    )
    return SceneGraph("v1", 1.0, tuple(frames), acts)


VOCAB = {n: i for i, n in enumerate(["cup", "phone", "dish", "holding", "door"])}


def test_gold_tensor_synthetic_case():
    assert gold_tensor(SymFrames((True, False, True)), 3).tolist() == [1, 0, 1]
    assert gold_tensor(SymVideo((False, True, True)), 3).tolist() == [0, 1, 1]
    assert gold_tensor(SymBool(True), 3).item() == 1.0
    count = gold_tensor(SymCount(2), 3)
    assert count.dtype == torch.long and count.item() == 2
    hot = gold_tensor(SymConcept(frozenset({"cup", "dish"})), 3, VOCAB)
    assert hot.tolist() == [1, 0, 1, 0, 0]
    as_json = gold_tensor({"type": "Frames", "spans": [[1, 3]]}, 4)
    assert as_json.tolist() == [0, 1, 1, 0]
    with pytest.raises(GoldError, match="frame_map"):
        gold_tensor(SymFrames((True, False)), 3)
    with pytest.raises(GoldError, match="not in the concept vocabulary"):
        gold_tensor(SymConcept(frozenset({"sofa"})), 3, VOCAB)


def test_gold_tensor_with_a_frame_map():
    mask = SymFrames((False, True, True, False, False, True))  # 6 scene-graph frames
    assert gold_tensor(mask, 3, frame_map=[1, 3, 5]).tolist() == [1, 0, 1]
    soft = torch.tensor([[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0.5, 0.5, 0, 0], [0, 0, 0, 0, 0.5, 0.5]])
    assert gold_tensor(mask, 3, frame_map=soft).tolist() == [0.5, 0.5, 0.5]
    from_json = gold_tensor({"type": "Video", "spans": [[1, 3], [5, 6]]}, 3, frame_map=[1, 3, 5])
    assert from_json.tolist() == [1, 0, 1]
    with pytest.raises(GoldError, match="rows"):
        gold_tensor(mask, 4, frame_map=[1, 3, 5])


def test_tree_golds_and_choose_options_from_the_symbolic_executor():
    tree = compile_program(
        "Choose(cup, phone, Query(class, OnlyItem(Iterate(Localize(after, drinking from a cup), "
        "Filter(frame, [relations, holding, objects])))))"
    )
    result = execute(tree, _graph())
    golds = tree_golds(tree, result.values, 6, VOCAB)
    assert set(golds) == {n.id for n in tree.nodes}
    assert golds[0].tolist() == [0, 1, 0, 0, 0]  # phone
    from_json = tree_golds(tree, result.golds_json(), 6, VOCAB)
    assert all(torch.equal(golds[k], from_json[k]) for k in golds)
    assert choose_options(tree, result.values) == {0: 1}
    assert choose_options(tree, result.golds_json()) == {0: 1}
