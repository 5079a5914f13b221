"""Value types: golds read from JSON, losses minimal at gold, judgements, padding ignored, audit
renderings of values and golds."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from stair.programs import ActionInstance, Frame, SceneGraph, compile_program, evaluate
from stair.programs.signatures import AnswerAs
from stair.programs.switches import Category
from stair.programs.symbolic import (
    SymBool,
    SymConcept,
    SymCount,
    SymFrames,
    SymVideo,
    value_from_json,
)
from stair.values import (
    Bool,
    Concept,
    ConceptSpace,
    Count,
    Frames,
    GoldContext,
    GoldError,
    Moment,
    MomentVideo,
    Text,
    Value,
    Video,
    choose_options,
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
    space = ConceptSpace([f"c{i}" for i in range(10)], bank, torch.tensor(0.05))
    assert (best.loss(gold, space) < worse.loss(gold, space)).all()
    empty = Concept(torch.randn(1, 16)).loss(torch.zeros(1, 10), space)
    assert torch.equal(empty, torch.zeros(1))
    chose = Concept(best.vector, option=torch.tensor([[4.0, -4.0], [4.0, -4.0]]))
    with_option = chose.loss(gold, space, option=torch.tensor([0, 1]))
    assert with_option[1] > with_option[0]
    unknown = chose.loss(gold, space, option=torch.tensor([-1, -1]))
    assert torch.allclose(unknown, best.loss(gold, space))
    with pytest.raises(GoldError, match="concept bank"):
        best.loss(gold)


def test_temperature_gets_a_gradient():
    log_t = torch.zeros((), requires_grad=True)
    bank = torch.randn(5, 4)
    gold = torch.eye(5)[:2]
    space = ConceptSpace(list("abcde"), bank, log_t.exp())
    Concept(torch.randn(2, 4)).loss(gold, space).sum().backward()
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
    vocab = ConceptSpace(names, emb)
    concept = Concept(torch.tensor([[0.1, 2.0, 0.3]]), option=torch.tensor([[0.0, 2.0]]))
    out = concept.explain(0, concepts=vocab, top_k=2)
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
        Text(torch.tensor([[1.0, 0, 0]])).explain(0, concepts=vocab)["nearest"][0]["name"] == "cup"
    )


# -- judgements -----------------------------------------------------------------------------------
def test_frames_and_video_are_judged_by_iou_over_real_frames():
    mask = torch.tensor([[True] * 4 + [False] * 2, [True] * 6, [True] * 6])
    probs = torch.tensor([[0.9, 0.9, 0.1, 0.1, 0.9, 0.9], [0.1] * 6, [0.9, 0.1, 0, 0, 0, 0]])
    gold = torch.tensor([[1.0, 0, 0, 0, 1, 1], [0] * 6, [0, 1.0, 0, 0, 0, 0]])
    assert Frames(probs, mask).judge(gold)["iou"].tolist() == [0.5, 1.0, 0.0]
    video = Video(torch.zeros(3, 6, 2), probs, mask)
    assert torch.equal(video.judge(gold)["iou"], Frames(probs, mask).judge(gold)["iou"])


def test_one_frame_values_are_read_by_their_peak():
    """Relate's pick: sure there is a first hit (mass 0.8), unsure which frame: the peak (0.38,
    on the gold frame) is the reading, not "none" as a 0.5 threshold would say."""
    mask = torch.tensor([[True] * 5 + [False], [True] * 6, [True] * 6])
    probs = torch.tensor([[0.1, 0.38, 0.3, 0.02, 0.0, 0.9],  # padded frame 5 ignored
                          [0.1, 0.1, 0.1, 0.05, 0.0, 0.0],  # mass 0.35: no frame
                          [0.0, 0.2, 0.0, 0.0, 0.0, 0.45]])  # fmt: skip
    gold = torch.tensor([[0, 1.0, 0, 0, 0, 0], [0] * 6, [0, 1.0, 0, 0, 0, 0]])
    assert Frames(probs, mask).judge(gold)["iou"].tolist() == [0.0, 1.0, 0.0]
    assert Moment(probs, mask).judge(gold)["iou"].tolist() == [1.0, 1.0, 0.0]
    video = MomentVideo(torch.zeros(3, 6, 2), probs, mask)
    assert torch.equal(video.judge(gold)["iou"], Moment(probs, mask).judge(gold)["iou"])
    shown = Moment(probs, mask).explain(0, [0.0, 0.5, 1.0, 1.5, 2.0])
    assert shown["reading"] == "peak" and shown["spans"] == [[1, 2]]
    assert shown["spans_seconds"] == [[0.5, 1.0]] and shown["mass"] == pytest.approx(0.8)
    assert Moment(probs, mask).explain(1)["spans"] == []
    assert video.explain(0)["spans"] == [[1, 2]] and video.explain(0)["type"] == "Video"
    assert Moment.vtype is Frames.vtype and MomentVideo.vtype is Video.vtype


def test_bool_count_concept_judgements():
    gold = torch.tensor([1.0, 0.0, 0.0])
    assert Bool(torch.tensor([2.0, -1.0, 0.5])).judge(gold)["acc"].tolist() == [1, 1, 0]
    counts = Count(F.one_hot(torch.tensor([0, 4, 1]), 5).float().log_softmax(-1))
    assert counts.judge(torch.tensor([0, 9, 2]))["acc"].tolist() == [1, 1, 0]  # 9 is read as 4
    names = ["cup", "phone", "holding", "sitting"]
    space = ConceptSpace(names, torch.eye(4), categories=torch.tensor([0, 0, 1, 2]))
    concept = Concept(torch.tensor([[0.0, 1, 2, 0], [1.0, 0, 0, 0], [0, 0, 0, 1.0]]))
    gold = torch.tensor([[0.0, 1, 0, 0], [1.0, 0, 0, 0], [0, 0, 0, 0]])
    out = concept.judge(gold, space)  # row 0: the nearest *object* is phone
    assert out["top1"][:2].tolist() == [1.0, 1.0] and out["top1"][2].isnan()
    assert out["recall@5"][:2].tolist() == [1.0, 1.0]
    by_switch = concept.judge(gold, space, Category.RELATIONS)  # only "holding" is ranked
    assert by_switch["top1"][:2].tolist() == [0.0, 0.0]


def test_text_has_no_gold():
    with pytest.raises(GoldError, match="no gold"):
        Text(torch.zeros(1, 2)).judge(torch.zeros(1))
    with pytest.raises(GoldError, match="no gold"):
        Text.read_gold({"type": "Text"}, GoldContext(3))


# -- golds: read from the symbolic executor's JSON, rendered back -----------------------------
def _graph():
    frames = [Frame(frozenset({"cup"}), frozenset({("holding", "cup")}))] * 3
    frames += [Frame(frozenset({"phone", "dish"}), frozenset({("holding", "phone")}))] * 3
    acts = (
        ActionInstance("drinking from a cup", 0, 3, "drinking from", "cup"),
        ActionInstance("opening a door", 4, 6, "opening", "door"),
    )
    return SceneGraph("v1", 1.0, tuple(frames), acts)


VOCAB = {n: i for i, n in enumerate(["cup", "phone", "dish", "holding", "door"])}


def test_golds_are_read_from_the_symbolic_values_json():
    ctx = GoldContext(3, VOCAB)
    assert Frames.read_gold(SymFrames((True, False, True)).to_json(), ctx).tolist() == [1, 0, 1]
    assert Video.read_gold(SymVideo((False, True, True)).to_json(), ctx).tolist() == [0, 1, 1]
    assert Bool.read_gold(SymBool(True).to_json(), ctx).item() == 1.0
    count = Count.read_gold(SymCount(2).to_json(), ctx)
    assert count.dtype == torch.long and count.item() == 2
    hot = Concept.read_gold(SymConcept(frozenset({"cup", "dish"})).to_json(), ctx)
    assert hot.tolist() == [1, 0, 1, 0, 0]
    padded = Frames.read_gold({"type": "Frames", "spans": [[1, 3]]}, GoldContext(3, length=5))
    assert padded.tolist() == [0, 1, 1, 0, 0]  # zero past the video's frames
    with pytest.raises(GoldError, match="frame_map"):
        Frames.read_gold({"type": "Frames", "spans": [[2, 4]]}, ctx)
    with pytest.raises(GoldError, match="not in the concept vocabulary"):
        Concept.read_gold(SymConcept(frozenset({"sofa"})).to_json(), ctx)
    with pytest.raises(GoldError, match="concept vocabulary"):
        Concept.read_gold({"type": "Concept", "items": ["cup"]}, GoldContext(3))


def test_golds_with_a_frame_map():
    mask = SymFrames((False, True, True, False, False, True)).to_json()  # 6 scene-graph frames
    assert Frames.read_gold(mask, GoldContext(3, frame_map=[1, 3, 5])).tolist() == [1, 0, 1]
    soft = torch.tensor([[0.5, 0.5, 0, 0, 0, 0], [0, 0, 0.5, 0.5, 0, 0], [0, 0, 0, 0, 0.5, 0.5]])
    assert Frames.read_gold(mask, GoldContext(3, frame_map=soft)).tolist() == [0.5, 0.5, 0.5]
    video = {"type": "Video", "spans": [[1, 3], [5, 6]]}
    assert Video.read_gold(video, GoldContext(3, frame_map=[1, 3, 5])).tolist() == [1, 0, 1]
    with pytest.raises(GoldError, match="rows"):
        Frames.read_gold(mask, GoldContext(4, frame_map=[1, 3, 5]))
    with pytest.raises(GoldError, match="columns"):
        Frames.read_gold(mask, GoldContext(3, frame_map=soft[:, :4]))


def test_frame_golds_stack_to_the_batch_length():
    frames = Frames(torch.zeros(2, 4), torch.ones(2, 4, dtype=torch.bool))
    stacked = frames.stack_golds([torch.ones(6), torch.ones(3)])
    assert stacked.tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert Bool(torch.zeros(2)).stack_golds([torch.tensor(1.0), torch.tensor(0.0)]).shape == (2,)


def test_a_fact_read_off_frames_is_supervised_frame_by_frame():
    frames = (False, True, True, False)
    window = (True, True, True, False)
    gold = Bool.read_gold(SymBool(True, frames, window).to_json(), GoldContext(4))
    # value, length, frames, window, no category, no members
    assert gold.tolist() == [1, 4, 0, 1, 1, 0, 1, 1, 1, 0, -1]
    plain = Bool.read_gold(SymBool(False).to_json(), GoldContext(4))
    assert plain.shape == ()
    sure = torch.tensor([[-9.0, 9.0, 9.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
    value = Bool(torch.tensor([9.0, -9.0]), sure)
    stacked = value.stack_golds([gold, plain])
    assert stacked.shape == (2, 10) and stacked[1].tolist() == [0] + [0] * 8 + [-1]
    assert value.judge(stacked)["acc"].tolist() == [1, 1]
    loss = value.loss(stacked)
    # right frames, and the fourth (outside the window) not counted: near zero; the plain row
    # has only its value supervised
    assert loss[0] < 1e-3 and loss[1] < 1e-3
    wrong = Bool(torch.tensor([9.0, -9.0]), -sure).loss(stacked)
    assert wrong[0] > 5 and wrong[1] < 1e-3
    # without frame logits (a Bool of another module) only the values are stacked
    assert Bool(torch.zeros(2)).stack_golds([gold, plain]).tolist() == [1, 0]
    times = [0.0, 0.5, 1.0, 1.5]
    assert Bool.explain_gold(gold, times, []) == {
        "type": "Bool",
        "value": True,
        "frames": {"spans": [[1, 3]], "spans_seconds": [[0.5, 1.5]]},
        "window": {"spans": [[0, 3]], "spans_seconds": [[0.0, 1.5]]},
    }
    assert Bool.explain_gold(plain, times, []) == {"type": "Bool", "value": False}


def test_a_fact_read_off_frames_is_supervised_for_every_concept_of_the_set():
    # "were they holding the cup?" over frames 0-2: the cup held at 1-2, the phone at 0
    held = (frozenset({"phone"}), frozenset({"cup"}), frozenset({"cup"}), frozenset())
    window = (True, True, True, False)
    fact = SymBool(True, (False, True, True, False), window, held, Category.OBJECTS)
    data = fact.to_json()
    assert data["members"] == {"cup": [[1, 3]], "phone": [[0, 1]]}
    assert data["category"] == "objects"
    assert value_from_json(data, 4).members == held
    ctx = GoldContext(4, VOCAB)  # cup 0, phone 1, dish 2, holding 3 (a relation), door 4
    gold = Bool.read_gold(data, ctx)
    other = Bool.read_gold(SymBool(False, (False,) * 4, window).to_json(), ctx)
    kinds = [Category.OBJECTS] * 3 + [Category.RELATIONS, Category.OBJECTS]
    cats = torch.tensor([list(Category).index(c) for c in kinds])
    space = ConceptSpace(list(VOCAB), torch.zeros(len(VOCAB), 2), 1.0, cats)
    # the reading of every concept at 5 frames (the batch's length): right where it counts
    right = torch.full((2, len(VOCAB), 5), -9.0)
    right[0, 0, 1:3] = 9.0  # the cup at frames 1-2
    right[0, 1, 0] = 9.0  # the phone at frame 0
    right[0, 3] = 9.0  # "holding" is no object: not supervised
    right[:, 4, 3:] = 9.0  # the door outside the window: not supervised
    frame = torch.tensor([[-9.0, 9.0, 9.0, -9.0, 0.0], [-9.0] * 5])
    value = Bool(torch.tensor([9.0, -9.0]), frame, right)
    stacked = value.stack_golds([gold, other])
    assert stacked.shape == (2, 1 + 2 * 5 + 1 + 2 * 6)  # up to two members a row, 5 frames
    assert value.loss(stacked, space).max() < 1e-3
    wrong = right.clone()
    wrong[0, 1, 0] = -9.0  # misses the phone held at frame 0
    wrong[1, 4, 0] = 9.0  # sees a door in the second row's window
    loss = Bool(torch.tensor([9.0, -9.0]), frame, wrong).loss(stacked, space)
    assert loss[0] > 0.5 and loss[1] < 1e-3  # the second row has no category: values only
    # without the bank's categories, or without the reading, only value and frames count
    assert Bool(torch.tensor([9.0, -9.0]), frame, wrong).loss(stacked).max() < 1e-3
    assert Bool(torch.tensor([9.0, -9.0]), frame).stack_golds([gold, other]).shape == (2, 12)


def test_a_bool_read_frame_by_frame_shows_each_real_frame():
    logit = torch.tensor([[-3.0, 3.0, 3.0, -3.0, 5.0]])  # the fifth frame is padding
    shown = Bool(torch.tensor([2.0]), logit).explain(0, [0.0, 0.5, 1.0, 1.5])
    assert shown["value"] is True and shown["probability"] == pytest.approx(0.8808, abs=1e-4)
    frames = shown["frames"]
    assert frames["spans"] == [[1, 3]] and frames["spans_seconds"] == [[0.5, 1.5]]
    assert frames["num_frames"] == 4 and len(frames["probabilities"]) == 4
    assert frames["peak"]["frame"] == 1 and frames["probabilities"][0] < 0.05
    assert Bool.describe(shown) == "yes (p=0.88)"
    assert "frames" not in Bool(torch.tensor([2.0])).explain(0)  # a Bool of another module


def test_tree_golds_and_choose_options_from_the_symbolic_executor():
    tree = compile_program(
        "Choose(cup, phone, Query(class, OnlyItem(Iterate(Localize(after, drinking from a cup), "
        "Filter(frame, [relations, holding, objects])))))"
    )
    result = evaluate(tree, _graph())
    golds = tree_golds(tree, result.golds_json(), GoldContext(6, VOCAB))
    assert set(golds) == {n.id for n in tree.nodes}
    assert golds[0].tolist() == [0, 1, 0, 0, 0]  # phone
    assert choose_options(tree, result.golds_json()) == {0: 1}
    wrong = {**result.golds_json(), "0": {"type": "Bool", "value": True}}
    with pytest.raises(GoldError, match="not a Concept"):
        tree_golds(tree, wrong, GoldContext(6, VOCAB))


def test_golds_render_in_the_terms_of_the_outputs():
    times = [0.0, 0.5, 1.0, 1.5]
    gold = Frames.read_gold({"type": "Frames", "spans": [[1, 3]]}, GoldContext(4, length=6))
    shown = Frames.explain_gold(gold, times, [])
    assert shown == {"type": "Frames", "spans": [[1, 3]], "spans_seconds": [[0.5, 1.5]]}
    assert Video.explain_gold(gold, times, [])["type"] == "Video"
    assert Frames.describe(shown) == "0.5–1.5 s"
    names = list(VOCAB)
    concept = Concept.read_gold(
        {"type": "Concept", "items": ["phone", "door"]}, GoldContext(4, VOCAB)
    )
    assert Concept.explain_gold(concept, times, names) == {
        "type": "Concept",
        "items": ["phone", "door"],
    }
    assert Concept.describe(Concept.explain_gold(concept, times, names)) == "phone, door"
    assert Bool.explain_gold(torch.tensor(1.0), times, names) == {"type": "Bool", "value": True}
    assert Count.explain_gold(torch.tensor(3), times, names) == {"type": "Count", "value": 3}
    assert Count.describe({"type": "Count", "value": 3}) == "3"
    assert Bool.describe(Bool(torch.tensor([-2.0])).explain(0)) == "no (p=0.12)"
    assert Value.describe({"type": "Text", "norm": 1.0}) == "norm=1.0"


def test_root_values_say_their_answer_as_their_module_means_it():
    shown = Bool(torch.tensor([2.0])).explain(0)
    assert Bool.answer_shown(shown, AnswerAs.VALUE) == "yes"
    assert Bool.answer_shown(shown, AnswerAs.BEFORE_AFTER) == "before"
    assert Bool.answer_shown({"value": False}, AnswerAs.BEFORE_AFTER) == "after"
    assert Count.answer_shown({"type": "Count", "value": 2}, AnswerAs.VALUE) == "2"
    assert Concept.answer_shown({"type": "Concept"}, AnswerAs.OPTION) is None
