"""The neural modules: shapes with padding, and semantics on crisp inputs (the registry and the
signatures: tests/test_registry.py)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from stair.modules import MODULES, ConceptBank, build_modules
from stair.programs import SIGNATURES
from stair.programs.signatures import VType
from stair.values import (
    Bool,
    Category,
    Concept,
    Count,
    Direction,
    Extreme,
    Frames,
    TemporalMode,
    Text,
    Video,
)

K = 6


# -- random inputs with padding -------------------------------------------------------------------
def _inputs(sig, B, T, D, switch, gen, n_cands=2):
    """Random arguments for a signature; returns (args, garbage_args) differing only in padding."""
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    lengths[0] = T  # one full row, the others may be padded
    mask = torch.arange(T)[None] < lengths[:, None]

    def noise(shape):
        return torch.randn(*shape, generator=gen) * 50

    def make(vtype):
        if vtype is VType.VIDEO:
            feats = torch.randn(B, T, D, generator=gen)
            weights = torch.rand(B, T, generator=gen) * mask
            clean = Video(feats, weights, mask)
            dirty = Video(
                torch.where(mask[..., None], feats, noise((B, T, D))),
                torch.where(mask, weights, noise((B, T))),
                mask,
            )
            return clean, dirty
        if vtype is VType.FRAMES:
            probs = torch.rand(B, T, generator=gen) * mask
            return Frames(probs, mask), Frames(torch.where(mask, probs, noise((B, T))), mask)
        if vtype is VType.CONCEPT:
            v = Concept(torch.randn(B, D, generator=gen))
            return v, v
        if vtype is VType.TEXT:
            v = Text(torch.randn(B, D, generator=gen))
            return v, v
        v = Bool(torch.randn(B, generator=gen) * 3)
        return v, v

    clean, dirty = [], []
    for p in sig.params:
        vtype = sorted(p.types, key=str)[0]
        if p.only_with is not None and (switch is None or switch.value not in p.only_with):
            pair = (None, None)
        elif p.variadic:
            pairs = [make(vtype) for _ in range(n_cands)]
            pair = (tuple(a for a, _ in pairs), tuple(b for _, b in pairs))
        else:
            pair = make(vtype)
        clean.append(pair[0])
        dirty.append(pair[1])
    return clean, dirty, mask


def _call(module, switch, args, actions=None):
    kwargs = {"actions": actions} if isinstance(module, MODULES["Superlative"]) else {}
    return module(switch, *args, **kwargs) if switch is not None else module(*args, **kwargs)


def _tensors(value):
    return {k: t for k, t in value._tensors().items() if t is not None}


CASES = [
    (name, switch)
    for name in sorted(MODULES)
    for switch in (list(SIGNATURES[name].switch) if SIGNATURES[name].switch else [None])
]


@pytest.mark.parametrize(("name", "switch"), CASES, ids=lambda x: str(x))
def test_shapes_and_padding_never_matter(name, switch):
    gen = torch.Generator().manual_seed(hash((name, str(switch))) % 1000)
    sig = SIGNATURES[name]
    for B, T, D in itertools.product((1, 3), (1, 8), (4, 16)):
        torch.manual_seed(0)
        module = build_modules([name], dim=D, max_count=K)[name]
        actions = torch.randn(5, D, generator=gen)
        for n_cands in (2, 0) if sig.params and sig.params[-1].variadic else (2,):
            clean, dirty, mask = _inputs(sig, B, T, D, switch, gen, n_cands)
            out = _call(module, switch, clean, actions)
            again = _call(module, switch, dirty, actions)
            for key, tensor in _tensors(out).items():
                other = _tensors(again)[key]
                if key in ("features", "frames"):  # padded frames are never read: real ones
                    tensor, other = tensor[mask], other[mask]
                assert torch.equal(tensor, other), (name, key, B, T, D)
                assert torch.isfinite(tensor.float()).all()
            expected = {
                VType.VIDEO: (B, T, D), VType.FRAMES: (B, T), VType.CONCEPT: (B, D),
                VType.BOOL: (B,), VType.COUNT: (B, K + 1),
            }[sig.returns]  # fmt: skip
            main = next(iter(_tensors(out).values()))
            assert tuple(main.shape) == expected and isinstance(out, type(out))
            if isinstance(out, (Frames, Video)):
                probs = out.probs if isinstance(out, Frames) else out.weights
                assert (probs >= 0).all() and (probs <= 1 + 1e-6).all()
                assert (probs[~mask] == 0).all()


@pytest.mark.parametrize("name", ["Filter", "Localize", "FilterFrame", "Exists", "Superlative"])
def test_outputs_change_with_the_text(name):
    gen = torch.Generator().manual_seed(1)
    sig = SIGNATURES[name]
    switch = next(iter(sig.switch)) if sig.switch else None
    module = build_modules([name], dim=16)[name]
    args, _, _ = _inputs(sig, 3, 8, 16, switch, gen)
    for i, p in enumerate(sig.params):
        if VType.TEXT in p.types or VType.CONCEPT in p.types:
            other = list(args)
            if p.variadic:
                other[i] = (Text(torch.randn(3, 16, generator=gen)), *args[i][1:])
            else:
                other[i] = Text(torch.randn(3, 16, generator=gen))
            a = next(iter(_tensors(_call(module, switch, args)).values()))
            b = next(iter(_tensors(_call(module, switch, other)).values()))
            assert not torch.allclose(a, b), (name, p.name)


# -- semantics on crisp inputs --------------------------------------------------------------------
def _frames(*rows, T=None):
    probs = torch.tensor(rows, dtype=torch.float32)
    return Frames(probs, torch.ones_like(probs, dtype=torch.bool))


def test_temporal_modes_on_crisp_anchors():
    temporal = MODULES["Temporal"]()
    video = Video.from_features(torch.randn(1, 8, 4))
    a = _frames([0, 0, 1, 1, 0, 0, 0, 0])
    b = _frames([0, 0, 0, 0, 0, 1, 0, 0])
    run = lambda mode, x, y=None: temporal(mode, video, x, y).weights[0].tolist()  # noqa: E731
    assert run(TemporalMode.BEFORE, a) == [1, 1, 0, 0, 0, 0, 0, 0]
    assert run(TemporalMode.AFTER, a) == [0, 0, 0, 0, 1, 1, 1, 1]
    assert run(TemporalMode.WHILE, a) == [0, 0, 1, 1, 0, 0, 0, 0]
    assert run(TemporalMode.BETWEEN, a, b) == [0, 0, 0, 0, 1, 0, 0, 0]
    assert run(TemporalMode.BETWEEN, b, a) == [0] * 8  # the order of the anchors matters


def test_relate_picks_first_and_last_and_count_counts_runs():
    frames = _frames([0, 1, 1, 0, 0, 1, 0, 1])
    relate = MODULES["Relate"]()
    assert relate(Direction.FORWARD, frames).probs[0].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    assert relate(Direction.BACKWARD, frames).probs[0].tolist() == [0, 0, 0, 0, 0, 0, 0, 1]
    count = MODULES["Count"](max_count=4)(frames)
    assert isinstance(count, Count) and int(count.logits.argmax()) == 3
    assert torch.allclose(count.logits.exp().sum(-1), torch.ones(1))
    assert int(MODULES["Count"](max_count=2)(frames).logits.argmax()) == 2  # bounded to K
    soft = MODULES["Count"](max_count=4)(_frames([0.5, 0.5, 0.0, 0.5]))
    assert torch.allclose(soft.logits.exp().sum(-1), torch.ones(1))


def test_count_reads_the_ramp_of_one_occurrence_as_one():
    # frames holding independently: one occurrence unless a frame is off between on-frames
    count = MODULES["Count"](max_count=4)(_frames([0.3, 0.6, 0.9, 0.0, 0.0]))
    want = torch.tensor([0.7 * 0.4 * 0.1, 0.0, 0.0, 0.0, 0.0])
    want[2] = 0.3 * 0.4 * 0.9  # on, off, on
    want[1] = 1 - want[0] - want[2]
    assert torch.allclose(count.logits.exp()[0], want, atol=1e-6)
    assert int(count.logits.argmax()) == 1
    # the top class absorbs: four separate hits with max_count 2 read "2 or more" for sure
    top = MODULES["Count"](max_count=2)(_frames([1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]))
    assert torch.allclose(top.logits.exp()[0], torch.tensor([0.0, 0.0, 1.0]), atol=1e-6)


def test_soft_logic_is_exact_probability():
    p = torch.tensor([0.9, 0.2, 0.5])
    q = torch.tensor([0.3, 0.6, 0.5])
    a, b = Bool(torch.logit(p)), Bool(torch.logit(q))
    cases = {
        "And": p * q, "Or": 1 - (1 - p) * (1 - q), "Xor": p * (1 - q) + (1 - p) * q,
        "Compare": p * (1 - q) / (p * (1 - q) + (1 - p) * q),
    }  # fmt: skip
    for name, want in cases.items():
        assert torch.allclose(MODULES[name]()(a, b).prob, want, atol=1e-6), name
    assert torch.allclose(MODULES["Not"]()(a).prob, 1 - p)
    assert torch.isfinite(
        MODULES["And"]()(Bool(torch.tensor([60.0])), Bool(torch.tensor([-60.0]))).logit
    ).all()
    fa, fb = _frames(p.tolist()), _frames(q.tolist())
    assert torch.allclose(MODULES["AndFrame"]()(fa, fb).probs[0], p * q)
    assert torch.allclose(MODULES["XorFrame"]()(fa, fb).probs[0], p + q - 2 * p * q)


def _bilinear(module, scale, bias):
    """Set a module's bilinear frame match to ``f . (scale * a) + bias`` (query = scaled eye)."""
    D = module.query.weight.shape[0]
    with torch.no_grad():
        module.query.weight.copy_(torch.eye(D) * scale)
        module.query.bias.zero_()
        module.bias.fill_(bias)


def test_superlative_max_and_proper_min_and_every_action():
    D = 4
    sup = MODULES["Superlative"](dim=D)
    _bilinear(sup, 20, -5.0)
    with torch.no_grad():
        sup.log_tau.fill_(-1.0)
    e = torch.eye(D)
    frames = torch.stack([e[0]] * 6 + [e[1]] * 2)[None]  # action 0 lasts 6 frames, action 1 two
    video = Video.from_features(frames)
    cands = (Concept(e[0][None]), Concept(e[1][None]))
    longest = sup(Extreme.MAX, video, cands).vector[0]
    shortest = sup(Extreme.MIN, video, cands).vector[0]
    assert longest.argmax() == 0 and longest[0] > 0.99
    assert shortest.argmax() == 1 and shortest[1] > 0.99
    every = sup(Extreme.MIN, video, (), actions=e[:3]).vector[0]  # action 2 never happens:
    assert every.argmax() == 1  # the shortest of the actions that happen
    assert sup(Extreme.MAX, video, (), actions=e[:3]).vector[0].argmax() == 0


def test_superlative_min_is_not_fooled_by_an_action_that_half_matches_a_few_frames():
    D = 4
    sup = MODULES["Superlative"](dim=D)
    _bilinear(sup, 1, 0.0)
    with torch.no_grad():
        sup.log_tau.fill_(math.log(0.1))
    frames = torch.full((1, 10, D), -100.0)
    frames[0, :5, 0] = 100.0  # action 0 happens, 5 frames of 10
    frames[0, 5:7, 1] = 0.0  # action 1 never happens but reads p = 0.5 on two frames
    video = Video.from_features(frames)
    # P(never) of action 1 is 1 - 0.5 (not 0.5 ** 2): it lasts 1 + 0.5 * 10 > 5 frames
    shortest = sup(Extreme.MIN, video, (), actions=torch.eye(D)[:2]).vector[0]
    assert shortest.argmax() == 0 and shortest[0] > 0.99


def test_superlative_localises_a_filters_candidate_by_the_phrase_it_read():
    D = 4
    sup = MODULES["Superlative"](dim=D)
    e = torch.eye(D)
    frames = torch.stack([e[0]] * 6 + [e[1]] * 2)[None]
    video = Video.from_features(frames)
    _bilinear(sup, 20, -5.0)
    with torch.no_grad():
        sup.log_tau.fill_(-1.0)
    # pooled vectors that point the wrong way; the cues name action 1 (2 frames) and 0 (6)
    cands = (Concept(e[0][None], cue=e[1][None]), Concept(e[1][None], cue=e[0][None]))
    longest = sup(Extreme.MAX, video, cands).vector[0]
    assert longest.argmax() == 1 and longest[1] > 0.99  # the second candidate's vector


def test_exists_reads_the_focused_frame_that_shows_the_item_best():
    D = 8
    exists = MODULES["Exists"](dim=D)
    feats = torch.randn(1, 6, D)
    window = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]])
    items = Concept(torch.randn(1, D), frames=feats, window=window, cue=torch.randn(1, D))
    item = Text(torch.randn(1, D))
    with torch.no_grad():
        base = exists(item, items).logit
        unfocused = feats.clone()
        unfocused[0, 3:] = 50 * torch.randn(3, D)  # frames outside the window do not count
        assert torch.equal(
            exists(item, Concept(items.vector, None, unfocused, window, items.cue)).logit, base
        )
        query = exists.item(item.vector) + exists.cue(items.cue)
        query = query + exists.bound(exists.cue_bind(items.cue) * exists.item_bind(item.vector))
        shown = feats.clone()
        shown[0, 1] = 10 * query[0] / query[0].norm()  # one focused frame shows it clearly
        seen = exists(item, Concept(items.vector, None, shown, window, items.cue)).logit
        similarity = exists.similarity(item, items.vector)
        assert seen > base and seen - similarity > 0  # the frame reading says "yes"
        # the summary vector's similarity adds to it: a set vector pointing at the item raises it
        named = exists.similarity.proj(item.vector)
        near = exists(item, Concept(named, None, shown, window, items.cue)).logit
        assert torch.allclose(near - seen, exists.similarity(item, named) - similarity)
        assert near > seen
        # every frame's own reading is kept, for its per-frame gold: the answer is the best
        # focused one, plus the similarity
        read = exists(item, Concept(items.vector, None, shown, window, items.cue))
        assert read.frame_logit.shape == (1, 6) and int(read.frame_logit[0, :3].argmax()) == 1
        assert torch.isclose(read.frame_logit[0, 1], read.logit[0] - similarity[0], atol=1e-5)
        # without evidence (a set from another module): the similarity to the summary vector
        plain = exists(item, Concept(items.vector))
        assert torch.equal(plain.logit, exists.similarity(item, items.vector))
        assert plain.frame_logit is None


def test_exists_reads_every_concept_with_the_same_match_in_training_only():
    D, V = 8, 5
    exists = MODULES["Exists"](dim=D)
    feats, cue = torch.randn(2, 6, D), torch.randn(2, D)
    window = torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 1.0, 1.0, 0.0]])
    items = Concept(torch.randn(2, D), frames=feats, window=window, cue=cue)
    concepts = torch.randn(V, D)
    every = exists(Text(concepts[:2]), items, concepts=concepts).concept_frame_logit
    assert every.shape == (2, V, 6)
    for k in range(V):  # concept k as the item: the item's own frame reading
        alone = exists(Text(concepts[k].expand(2, D)), items).frame_logit
        torch.testing.assert_close(every[:, k], alone, atol=1e-5, rtol=1e-5)
    exists.eval()
    assert exists(Text(concepts[:2]), items, concepts=concepts).concept_frame_logit is None
    # and a row with no evidence next to one with it (a mixed group): that row is the similarity
    mixed = Concept(items.vector, frames=feats, window=window * torch.tensor([[1.0], [0.0]]),
                    cue=cue)  # fmt: skip
    read = exists(Text(concepts[:2]), mixed)
    torch.testing.assert_close(
        read.logit[1], exists.similarity(Text(concepts[:2]), mixed.vector)[1]
    )


def test_exists_frame_reads_a_crowded_frame_as_surely_as_a_sparse_one():
    D = 8
    exists = MODULES["ExistsFrame"](dim=D)
    _bilinear(exists, 4, -1.0)
    e = torch.eye(D)
    sparse, crowded = e[0], e[0] + e[1:6].sum(0)  # the item alone; the item and five others
    video = Video.from_features(torch.stack([sparse, crowded, e[1]])[None])
    probs = exists(Text(e[0][None]), video).probs[0]
    assert torch.allclose(probs[0], probs[1]) and probs[1] > 0.5 > probs[2]


def test_filter_frame_phrase_can_flip_a_feature():
    D = 4
    module = MODULES["FilterFrame"](dim=D)
    with torch.no_grad():
        module.frame[Category.RELATIONS.value].weight.copy_(torch.eye(D))
        module.frame[Category.RELATIONS.value].bias.zero_()
        module.film.weight.zero_()
        module.film.bias.zero_()
        module.film.weight[:D].copy_(-2 * torch.eye(D))  # scale -2 x text: 1 + s = -1 on e_0
    feats = torch.ones(1, 3, D)
    out = module(Category.RELATIONS, Video.from_features(feats), Text(torch.eye(D)[:1]))
    assert out.features[0, :, 0].tolist() == [-1.0, -1.0, -1.0]  # flipped by the phrase
    assert out.features[0, :, 1:].eq(1.0).all()  # the others kept


def test_superlative_puts_the_banks_actions_at_a_phrases_scale():
    D = 16
    sup = MODULES["Superlative"](dim=D)
    generator = torch.Generator().manual_seed(0)
    # orthonormal unit-norm action vectors: any mix of the three has norm >= 1 / sqrt(3)
    bank = torch.linalg.qr(torch.randn(D, 3, generator=generator)).Q.T
    video = Video.from_features(torch.randn(1, 5, D, generator=generator))
    out = sup(Extreme.MAX, video, (), actions=bank).vector[0]
    pick = torch.linalg.lstsq(bank.T, out[:, None]).solution[:, 0] / math.sqrt(D)
    assert torch.allclose(pick.sum(), torch.tensor(1.0), atol=1e-4)  # a mix, scaled by sqrt(D)
    assert out.norm() >= math.sqrt(D / 3) - 1e-4  # at a phrase's scale, not the bank's (~1)


def test_filter_reads_a_named_action_by_attention_alone():
    # the union of the window would mix in the other actions of the video (Superlative's
    # candidates are such Filters): under ``actions`` a phrase switches it off
    filt = MODULES["Filter"](dim=4)
    feats = torch.randn(2, 5, 4)
    video = Video(feats, torch.ones(2, 5), torch.ones(2, 5, dtype=torch.bool))
    text = Text(torch.randn(2, 4))
    with torch.no_grad():
        named = filt(Category.ACTIONS, video, text).vector
        objects = filt(Category.OBJECTS, video, text).vector
        filt.union_scale.mul_(3.0)  # what the union reads no longer matters
        assert torch.equal(filt(Category.ACTIONS, video, text).vector, named)
        assert not torch.allclose(filt(Category.OBJECTS, video, text).vector, objects)


def test_choose_is_soft_and_returns_its_option_probability():
    choose = MODULES["Choose"]()
    first, second = Text(torch.tensor([[1.0, 0, 0]])), Text(torch.tensor([[0, 1.0, 0]]))
    out = choose(first, second, Concept(torch.tensor([[0.1, 0.9, 0.0]])))
    probs = out.option.softmax(-1)[0]
    assert probs[1] > 0.9 and torch.allclose(
        out.vector[0], probs[0] * first.vector[0] + probs[1] * second.vector[0]
    )
    out.vector.sum().backward()
    assert choose.log_scale.grad is not None


def test_equals_resolves_a_soft_mix_against_the_bank():
    # a Superlative that picks the second of two candidates at 0.6 still lies near the first:
    # by similarity alone that reads "the same"; against the bank, the chance of naming it
    equals = MODULES["Equals"](dim=3)
    bank = torch.eye(3, requires_grad=True)
    first = Text(torch.tensor([[1.0, 0, 0]]))
    mix = Concept(torch.tensor([[0.4, 0.6, 0.0]]))
    assert equals(first, mix).logit.item() > 0
    out = equals(first, mix, bank=bank)
    assert out.logit.item() < 0
    assert equals(first, Concept(torch.tensor([[0.9, 0.1, 0.0]])), bank=bank).logit.item() > 0
    out.logit.sum().backward()
    assert bank.grad is None and equals.log_scale.grad is not None  # the bank is read, not moved


def test_filter_attention_is_a_softmax_over_time():
    filt = MODULES["Filter"](dim=4)
    feats = torch.zeros(1, 5, 4)
    feats[0, 2] = torch.tensor([1.0, 0, 0, 0])
    window = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]])
    video = Video(feats, window, torch.ones(1, 5, dtype=torch.bool))
    with torch.no_grad():
        out = filt(Category.OBJECTS, video)
        union = torch.relu(feats[:, 2])  # the window is one frame; scale 1, shift 0 at first
        expect = filt.out["objects"](feats[:, 2] + 0.5 * union)  # the gate starts at 0.5
    assert torch.allclose(out.vector, expect, atol=1e-4)


def test_filter_keeps_an_item_seen_in_one_frame_of_a_wide_window():
    # attention settles on frame 0; the item of frame 3 still reaches the concept at full
    # strength through the window's union, and nothing comes from outside the window or padding
    filt = MODULES["Filter"](dim=4)
    with torch.no_grad():
        filt.out["objects"].weight.copy_(torch.eye(4))
        filt.out["objects"].bias.zero_()
        filt.queries.copy_(torch.tensor([[20.0, 0, 0, 0]] * len(Category)))
        filt.union_bias.fill_(30.0)  # the union's gate open
    feats = torch.zeros(1, 6, 4)
    feats[0, 0, 0] = 3.0  # what attention looks at
    feats[0, 3, 1] = 1.0  # seen once, elsewhere in the window
    feats[0, 4, 2] = 5.0  # outside the window
    feats[0, 5, 3] = 5.0  # padding
    window = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 1.0]])
    mask = torch.tensor([[True] * 5 + [False]])
    with torch.no_grad():
        out = filt(Category.OBJECTS, Video(feats, window, mask)).vector[0]
    assert out[1] >= 1.0 - 1e-5  # the union's max, undiluted by attention weights
    assert out[2].abs() < 1e-3 and out[3].abs() < 1e-6


def test_concept_bank_actions_and_vocabulary():
    bank = ConceptBank(
        ["cup", "run", "jump"], 8, {"cup": "objects", "run": "actions", "jump": "action"}
    )
    assert bank.actions().shape == (2, 8)
    assert torch.equal(bank.actions()[0], bank.embeddings[1])
    assert bank.space().names == ["cup", "run", "jump"]
    assert bank.rows(["jump", "cup"]).tolist() == [2, 0]
    assert torch.isclose(bank.temperature, torch.tensor(0.1))
    with pytest.raises(ValueError, match="unique"):
        ConceptBank(["a", "a"], 4)


def test_close_gaps_bridges_one_missed_frame_only():
    from stair.modules.common import close_gaps

    p = torch.tensor([[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]])
    out = close_gaps(p, torch.tensor(0.8))
    assert out[0, 2] == pytest.approx(0.8)  # one frame off between two on-frames
    assert out[0, 5] == 0 and out[0, 6] == 0  # a two-frame pause is real
    assert out[0, 8] == 0 and torch.equal(out[0, [0, 1, 3, 4, 7]], p[0, [0, 1, 3, 4, 7]])
    assert torch.equal(close_gaps(p, torch.tensor(0.0)), p)
    assert torch.equal(close_gaps(p[:, :2], torch.tensor(1.0)), p[:, :2])  # too short to bridge


def _localize(gap: float, gap_query: list[list[float]] | None = None) -> torch.nn.Module:
    """A 2-d Localize matching feature 0; its gap gate ``sigmoid(gap + f . gap_query a)``."""
    loc = MODULES["Localize"](dim=2)
    with torch.no_grad():
        loc.query.weight.copy_(torch.eye(2))
        loc.query.bias.zero_()
        loc.bias.fill_(-5.0)
        loc.gap_query.weight.copy_(torch.tensor(gap_query or [[0.0, 0.0], [0.0, 0.0]]))
        loc.gap_query.bias.zero_()
        loc.gap.fill_(gap)
    return loc


def test_localize_closes_a_missed_frame_and_not_across_padding():
    loc = _localize(20.0)  # gate ~1
    feats = torch.zeros(1, 6, 2)
    feats[0, [0, 2, 3, 5], 0] = 30.0  # on at 0, 2-3, and at 5 (padding)
    mask = torch.tensor([[True] * 5 + [False]])
    video = Video(feats, torch.ones(1, 6), mask)
    with torch.no_grad():
        probs = loc(video, Text(torch.tensor([[1.0, 0.0]]))).probs[0]
    assert probs[1] > 0.99  # missed between two detections: bridged
    assert probs[4] < 0.01  # between an on-frame and padding: not bridged
    assert probs[5] == 0


def test_localize_tells_a_missed_detection_from_a_pause_by_the_frame_itself():
    # frames 1 and 3 both sit between two detections; only frame 1 still shows what goes with
    # the action (feature 1), so only frame 1 is bridged
    loc = _localize(-10.0, [[0.0, 0.0], [30.0, 0.0]])
    feats = torch.zeros(1, 5, 2)
    feats[0, [0, 2, 4], 0] = 30.0
    feats[0, 1, 1] = 1.0
    video = Video(feats, torch.ones(1, 5), torch.ones(1, 5, dtype=torch.bool))
    with torch.no_grad():
        probs = loc(video, Text(torch.tensor([[1.0, 0.0]]))).probs[0]
    assert probs[1] > 0.99 and probs[3] < 0.01


def test_to_action_names_the_nearest_bank_concept_as_its_phrase():
    """``named`` mixes the concepts' phrases by how near the vector lies to each bank row: a
    vector near row 1 names phrase 1; without the contexts there is no ``named``."""
    to_action = MODULES["ToAction"](dim=4)
    bank = torch.eye(4)
    phrases = torch.arange(16.0).reshape(4, 4)  # the concepts' names as phrases, any vectors
    with torch.no_grad():
        to_action.log_scale.fill_(math.log(50.0))
        to_action.out.weight.zero_()
        to_action.out.bias.copy_(torch.tensor([0.1, 1.0, 0.0, 0.2]))  # nearest bank row: 1
        verb, obj = Text(torch.randn(2, 4)), Concept(torch.randn(2, 4))
        alone = to_action(verb, obj)
        out = to_action(verb, obj, bank=bank, concepts=phrases)
    assert alone.named is None and torch.equal(out.vector, alone.vector)
    torch.testing.assert_close(out.named, phrases[1].expand(2, 4), atol=1e-3, rtol=0)
    with torch.no_grad():
        to_action.log_scale.fill_(0.0)  # a soft reading: a proper mix of the phrases, not one
        soft = to_action(verb, obj, bank=bank, concepts=phrases).named
    assert not torch.allclose(soft, phrases[1].expand(2, 4), atol=0.5)


def test_localize_matches_a_named_action_as_the_phrase_and_zero_rows_by_their_vector():
    loc = _localize(-10.0)
    feats = torch.zeros(2, 4, 2)
    feats[:, [1, 2], 0] = 30.0  # feature 0 (the phrase's action) at frames 1-2
    feats[:, 3, 1] = 30.0  # feature 1 (what the vector alone is near) at frame 3
    video = Video(feats, torch.ones(2, 4), torch.ones(2, 4, dtype=torch.bool))
    vector = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    named = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # row 1: a group row without a name
    with torch.no_grad():
        probs = loc(video, Concept(vector, named=named)).probs
        first = Video(feats[:1], torch.ones(1, 4), torch.ones(1, 4, dtype=torch.bool))
        by_phrase = loc(first, Text(named[:1])).probs[0]
    assert torch.equal(probs[0], by_phrase) and probs[0, [1, 2]].min() > 0.99
    assert probs[0, 3] < 0.01  # not what the vector alone points at
    assert probs[1, 3] > 0.99 and probs[1, :3].max() < 0.01  # no name: its vector
