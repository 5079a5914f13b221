"""A batch runs as its questions run one by one; plans, traces, text rows, sampling."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from stair.data.synth.questions import TEMPLATES
from stair.engine.executor import execute
from stair.engine.plan import Plan, TextIndex
from stair.modules import MODULES, ConceptBank, build_modules
from stair.programs import VIDEO, ModuleTree, Node, Phrase, compile_program
from stair.programs.signatures import VType
from stair.programs.switches import Category, Extreme
from stair.testing.programs import sample_programs, sample_trees
from stair.values import Bool, Concept, Count, ExecutionError, Frames, Value, Video
from tests import tree_strategies

D, T = 8, 6


def _setup(trees, num_videos=3, dtype=torch.float64, seed=0):
    torch.manual_seed(seed)
    modules = build_modules(dim=D, max_count=4).to(dtype)
    bank = ConceptBank([f"c{i}" for i in range(7)], D, {f"c{i}": "actions" for i in range(4)})
    bank = bank.to(dtype)
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, T + 1, (num_videos,), generator=gen)
    lengths[0] = T
    feats = torch.randn(num_videos, T, D, generator=gen, dtype=dtype)
    video_index = [b % num_videos for b in range(len(trees))]
    plan = Plan(trees, video_index)
    text = torch.randn(len(plan.text_index), D, generator=gen, dtype=dtype)
    return modules, bank, Video.from_lengths(feats, lengths), plan, text, video_index


def _summary(value: Value) -> torch.Tensor:
    """A scalar that depends on every real part of a value (padded features excluded)."""
    if isinstance(value, Video):
        return value.focus.sum() + (value.features * value.mask[..., None]).sin().sum()
    if isinstance(value, Frames):
        return value.masked.square().sum()
    if isinstance(value, Concept):
        extra = value.option.sin().sum() if value.option is not None else 0
        return value.vector.sin().sum() + extra
    if isinstance(value, Bool):
        return value.logit.tanh().sum()
    assert isinstance(value, Count)
    return value.logits.exp()[:, 1].sum()


def _single_values(trees, modules, bank, video, plan, text, video_index):
    """Every node's value of each question run alone: a batch of one, its own video and phrases."""
    out = []
    for b, tree in enumerate(trees):
        rows = [r for r, t in enumerate(plan.text_index.tree_of) if t == b]
        one = video.index(torch.tensor([video_index[b]]))
        trace = execute(Plan([tree], [0]), modules, text[rows], one, bank)
        out.append(trace.values_of(0))
    return out


def _all_fields_close(a: Value, b: Value, atol: float) -> None:
    for key, x in a._tensors().items():
        y = getattr(b, key)
        if x is None:  # in a batch, rows of a mixed group carry what the others have (zeros)
            continue
        assert y is not None, key
        if key == "features":
            x, y = x[a.mask], y[b.mask]
        torch.testing.assert_close(x, y, atol=atol, rtol=0)


# every template shape (twice or more), plus OR, NOT and the frame-wise logic no template uses
MIX = [
    *sample_trees(2 * len(TEMPLATES), seed=7, indirect=0.3, cycle=True),
    compile_program(
        "OR(Exists(cup, Iterate(Localize(before, opening a door), Filter(frame, [relation, "
        "holding, objects]))), Exists(dish, Iterate(video, Filter(frame, [relation, holding, "
        "objects]))))"
    ),
    compile_program("NOT(Exists(book, Iterate(video, Filter(frame, [objects]))))"),
    compile_program(
        "Query(class, OnlyItem(IterateUntil(forward, video, XOR(Exists(a, Filter(frame, "
        "[relations])), Exists(b, Filter(frame, [objects]))), Filter(frame, [objects]))))"
    ),
    compile_program(
        "Query(class, OnlyItem(IterateUntil(backward, video, AND(HasItem(Filter(frame, "
        "[actions])), Exists(b, Filter(frame, [objects]))), Filter(frame, [objects]))))"
    ),
]


def test_mix_covers_every_module_and_root_kind():
    assert {n.module for t in MIX for n in t.nodes} == set(MODULES)
    roots = {t.root.module for t in MIX}
    assert roots >= {"Exists", "And", "Or", "Xor", "Not", "Count", "Compare", "Choose", "Equals"}
    assert {n.args[1] for t in MIX for n in t.nodes if n.module == "Superlative"} >= {()}
    assert any(n.module == "ToAction" for t in MIX for n in t.nodes)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_batch_agrees_with_its_questions_run_alone_values_and_gradients(dtype):
    trees = MIX
    modules, bank, video, plan, text, vindex = _setup(trees, dtype=dtype)
    params = [*modules.parameters(), *bank.parameters()]
    feats = video.features.clone().requires_grad_(True)
    video = Video(feats, video.weights, video.mask)
    text = text.clone().requires_grad_(True)

    trace = execute(plan, modules, text, video, bank)
    loss = sum(_summary(out) for out in trace.outputs)
    batched_grads = torch.autograd.grad(loss, [*params, text, feats], allow_unused=True)

    singles = _single_values(trees, modules, bank, video, plan, text, vindex)
    atol = 1e-5 if dtype == torch.float32 else 1e-10
    for b, values in enumerate(singles):
        assert set(values) == {n.id for n in trees[b].nodes}
        for nid, value in values.items():
            _all_fields_close(value, trace.value(b, nid), atol)
    loss_single = sum(_summary(v) for values in singles for v in values.values())
    torch.testing.assert_close(loss, loss_single, atol=atol * 100, rtol=1e-6)
    single_grads = torch.autograd.grad(loss_single, [*params, text, feats], allow_unused=True)
    for g1, g2 in zip(batched_grads, single_grads):
        assert (g1 is None) == (g2 is None)
        if g1 is not None:
            torch.testing.assert_close(g1, g2, atol=atol * 10, rtol=1e-5)


def test_one_call_per_group_and_groups_cover_every_node_once():
    trees = MIX[:20]
    modules, bank, video, plan, text, _ = _setup(trees, dtype=torch.float32)
    calls = []
    for name, module in modules.items():
        module.register_forward_hook(lambda m, a, o, name=name: calls.append(name))
    execute(plan, modules, text.float(), video, bank)
    assert calls == [g.module for g in plan.groups]
    assert len(calls) < sum(len(t) for t in trees) / 2
    covered = sorted((b, n) for g in plan.groups for b, n in zip(g.trees, g.nodes))
    assert covered == sorted((b, n.id) for b, t in enumerate(trees) for n in t.nodes)
    heights = [g.height for g in plan.groups]
    assert heights == sorted(heights)


def test_phrase_layers_run_once_per_module_slot():
    modules, bank, video, plan, text, _ = _setup(MIX, dtype=torch.float32)
    filters = [g for g in plan.groups if g.module == "Filter" and g.args[1] is not None]
    phrases = [g for g in filters if g.args[1].vtype is VType.TEXT]
    assert len(phrases) >= 2 and all(g.args[1].union is not None for g in phrases)
    rows = []
    modules["Filter"].text_query.register_forward_hook(lambda m, a, o: rows.append(len(a[0])))
    execute(plan, modules, text.float(), video, bank)
    # one call over the phrases of every group, one per group that reads a computed concept
    assert len(rows) == 1 + len(filters) - len(phrases)
    assert sum(len(g.nodes) for g in phrases) in rows


def test_plan_moves_its_index_buffer_and_keeps_the_original():
    plan = Plan(MIX[:10], [b % 3 for b in range(10)])
    assert plan.to("cpu") is plan
    moved = plan.to("meta")
    assert moved.index.device.type == "meta" and plan.index.device.type == "cpu"
    for old, new in zip(plan.groups, moved.groups):
        assert new.tree_index.device.type == "meta" and old.tree_index.device.type == "cpu"
        assert new.tree_index.shape == old.tree_index.shape and new.trees == old.trees
    gathers = [a for g in moved.groups for a in g.args if hasattr(a, "rows") and a.rows is not None]
    assert gathers and all(a.rows.device.type == "meta" for a in gathers)
    assert all(rows.device.type == "meta" for rows, _ in moved.roots.values())


def test_trace_access_and_roots():
    trees = MIX[:12]
    modules, bank, video, plan, text, _ = _setup(trees, dtype=torch.float32)
    trace = execute(plan, modules, text.float(), video, bank)
    assert len(trace) == 12
    for vtype in (VType.BOOL, VType.CONCEPT, VType.COUNT):
        got = trace.roots(vtype)
        want = [b for b, t in enumerate(trees) if t.type is vtype]
        if not want:
            assert got is None
            continue
        idx, value = got
        assert idx.tolist() == want and len(value) == len(want)
        for row, b in enumerate(want):
            first = next(iter(value._tensors().values()))
            expect = next(iter(trace.root(b)._tensors().values()))
            assert torch.equal(first[row], expect[0])
    values = trace.values_of(3)
    assert set(values) == {n.id for n in trees[3].nodes}
    assert all(len(v) == 1 for v in values.values())
    assert sum(len(out) for _, out in trace.groups()) == sum(len(t) for t in trees)


def test_text_index_shares_rows_within_a_question():
    trees = [
        compile_program("Count(a, Localize(between, [b, a]))"),
        compile_program("Exists(a, Iterate(video, Filter(frame, [objects])))"),
    ]
    index = TextIndex(trees)
    assert index.texts == ["a", "b", "a"] and index.tree_of == [0, 0, 1]
    assert index.row(0, 1, 1) == index.row(0, 4, 1) == 0
    assert index.row(1, 0, 0) == 2
    assert len(TextIndex(trees, share=False)) == 4


def test_errors_are_typed():
    trees = [
        compile_program(
            "Superlative(max, Filter(video, [actions]), Subtract(Query(end, action), Query(start, action)))"
        )
    ]
    modules, bank, video, plan, text, _ = _setup(trees, dtype=torch.float32)
    with pytest.raises(ExecutionError, match="concept bank"):
        execute(plan, modules, text.float(), video)
    with pytest.raises(ExecutionError, match="phrase rows"):
        execute(Plan(MIX[:3], [0, 0, 0]), modules, torch.zeros(0, D), video, bank)
    with pytest.raises(ExecutionError, match="videos"):
        execute(Plan(trees, [5]), modules, text.float(), video, bank)
    with pytest.raises(ExecutionError, match="video rows"):
        Plan(trees, [0, 1])


def test_sampler_is_seeded_and_covers_every_template():
    drawn = sample_programs(len(TEMPLATES), seed=3, cycle=True)
    assert drawn == sample_programs(len(TEMPLATES), seed=3, cycle=True)
    assert [name for name, _ in drawn] == [t.name for t in TEMPLATES]
    assert sample_trees(5, seed=1) == sample_trees(5, seed=1)
    assert sample_trees(5, seed=1) != sample_trees(5, seed=2)
    assert {t.root.module for t in sample_trees(len(TEMPLATES), cycle=True)} >= {"Superlative"}
    indirect = sample_trees(40, seed=0, indirect=1.0)
    assert any(n.module == "ToAction" for t in indirect for n in t.nodes)


def test_benchmark_runs_at_a_tiny_size():
    path = Path(__file__).resolve().parents[1] / "bench" / "executor.py"
    spec = importlib.util.spec_from_file_location("bench_executor", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    row = bench.bench_setting(8, 4, 6, repeats=1, device=torch.device("cpu"))
    assert set(row) == {"D", "T", "B", "inference", "training"}
    assert all(q > 0 for mode in ("inference", "training") for q in row[mode])


def test_a_group_of_sets_with_and_without_their_evidence_reads_each_as_alone():
    """One Exists over a Filter's set (frame evidence), one over ToAction's (none), one group;
    likewise Superlative candidates, one read by a Filter (by its phrase) and one not."""
    objects = Node("Filter", (VIDEO, None), Category.OBJECTS)
    held = Node("Filter", (VIDEO, objects), Category.OBJECTS)  # both of height 2
    acted = Node("ToAction", (Phrase("opening"), objects))
    trees = [
        ModuleTree(Node("Exists", (Phrase("cup"), held))),
        ModuleTree(Node("Exists", (Phrase("cup"), acted))),
        ModuleTree(Node("Superlative", (VIDEO, (acted, held)), Extreme.MAX)),
        ModuleTree(Node("Superlative", (VIDEO, (held, acted)), Extreme.MAX)),
    ]
    modules, bank, video, plan, text, vindex = _setup(trees)
    trace = execute(plan, modules, text, video, bank)
    for b, values in enumerate(_single_values(trees, modules, bank, video, plan, text, vindex)):
        for nid, value in values.items():
            _all_fields_close(value, trace.value(b, nid), 1e-10)


@settings(max_examples=8, deadline=None)
@given(st.lists(tree_strategies.trees(max_depth=4), min_size=2, max_size=6))
def test_batched_agrees_on_arbitrary_well_typed_trees(roots):
    """Any well-typed trees (odd shapes: Localize over FilterFrame features, mixed chunks)."""
    trees = [ModuleTree(r) for r in roots]
    modules, bank, video, plan, text, vindex = _setup(trees, dtype=torch.float64)
    trace = execute(plan, modules, text, video, bank)
    for b, values in enumerate(_single_values(trees, modules, bank, video, plan, text, vindex)):
        for nid, value in values.items():
            _all_fields_close(value, trace.value(b, nid), 1e-10)
