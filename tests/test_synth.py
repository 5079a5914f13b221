"""The synthetic benchmark: determinism, executor-made answers and golds, splits, balance."""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from stair.cli import main
from stair.data.datamodule import QADataModule
from stair.data.dataset import QuestionWriter, iter_questions
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.data.synth.questions import TEMPLATES, QuestionGenerator
from stair.data.synth.render import SymbolicRenderConfig
from stair.data.synth.splits import SPLITS, SplitConfig
from stair.data.synth.vocab import DEFAULT_VOCAB
from stair.data.synth.world import WorldConfig, generate_world
from stair.programs import (
    Node,
    Phrase,
    ProgramError,
    VideoInput,
    compile_program,
    evaluate,
    load_scene_graphs,
    save_scene_graphs,
)
from stair.programs.shapes import compile_by_shape
from stair.testing.programs import sample_programs

VIDEOS, K, SEED = 60, 10, 7


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    """A small dataset written by the CLI (two worker processes)."""
    out = tmp_path_factory.mktemp("synth") / "ds"
    argv = ["synth", "--out", str(out), "--videos", str(VIDEOS), "--questions-per-video", str(K),
            "--seed", str(SEED), "--dim", "32", "--workers", "2", "--test-fraction", "0.2"]  # fmt: skip
    assert main(argv) == 0
    return out


@pytest.fixture(scope="module")
def data(built) -> QADataModule:
    return QADataModule(str(built))


@pytest.fixture(scope="module")
def meta(built) -> dict:
    return json.loads((built / "meta.json").read_text())


def test_same_seed_gives_identical_question_files(built, tmp_path):
    config = SynthConfig(
        videos=VIDEOS, questions_per_video=K, seed=SEED, workers=1,
        splits=SplitConfig(test_fraction=0.2), symbolic=SymbolicRenderConfig(dim=32),
    )  # fmt: skip
    build_synth_dataset(tmp_path, config)
    for split in SPLITS:
        name = f"questions/{split}.jsonl"
        assert (built / name).read_bytes() == (tmp_path / name).read_bytes(), split
    assert (built / "scene_graphs.json").read_bytes() == (
        tmp_path / "scene_graphs.json"
    ).read_bytes()


def test_files_are_what_the_format_writers_write(built, tmp_path):
    """The build streams its files; they are byte for byte what QuestionWriter and
    save_scene_graphs write."""
    for split in SPLITS:
        path = built / "questions" / f"{split}.jsonl"
        with QuestionWriter(tmp_path / path.name) as writer:
            for record in iter_questions(path):
                writer.write(record)
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), split
    save_scene_graphs(load_scene_graphs(built / "scene_graphs.json"), tmp_path / "graphs.json")
    assert (tmp_path / "graphs.json").read_bytes() == (built / "scene_graphs.json").read_bytes()


def _same_tree(a, b) -> bool:
    """Equal including what equality leaves out: node ids and every origin."""
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(map(_same_tree, a, b))
    if isinstance(a, Node):
        return (a.module, a.switch, a.id, a.origin) == (b.module, b.switch, b.id, b.origin) and (
            _same_tree(a.args, b.args)
        )
    if isinstance(a, Phrase):
        return (a.text, a.origin) == (b.text, b.origin)
    if isinstance(a, VideoInput):
        return a.origin == b.origin
    return a == b


def test_compiling_by_shape_equals_compiling(data):
    programs = {q.program for s in SPLITS for q in data.records(s)}
    programs |= {p for _, p in sample_programs(400, seed=3, indirect=0.5)}
    programs |= {"Exists( cup ,Iterate(video,  Filter(frame, [objects]) ))"}  # odd spacing
    for program in sorted(programs):
        ours, theirs = compile_by_shape(program), compile_program(program)
        assert _same_tree(ours.root, theirs.root) and ours.source == theirs.source, program
    for bad in ("Exists(cup)", 'Exists("cup", video)', "Frobnicate(cup, video)", "cup", "Exists(,"):
        with pytest.raises(ProgramError) as expected:
            compile_program(bad)
        with pytest.raises(ProgramError) as got:
            compile_by_shape(bad)
        assert str(got.value) == str(expected.value), bad


def test_another_seed_gives_other_questions(built, tmp_path):
    config = SynthConfig(videos=8, questions_per_video=4, seed=SEED + 1, render=())
    build_synth_dataset(tmp_path, config)
    ours = (built / "questions/train.jsonl").read_text().splitlines()[:5]
    assert ours != (tmp_path / "questions/train.jsonl").read_text().splitlines()[:5]


def test_every_split_has_questions(data, built, meta):
    assert sorted(p.stem for p in (built / "questions").glob("*.jsonl")) == sorted(SPLITS)
    for split in SPLITS:
        assert data.records(split), split
    assert sum(meta["sizes"].values()) == sum(len(data.records(s)) for s in SPLITS)


def test_answers_and_golds_come_from_the_executor(data, built):
    graphs = load_scene_graphs(built / "scene_graphs.json")
    for split in SPLITS:
        for q in data.records(split):
            tree = compile_program(q.program)
            result = evaluate(tree, graphs[q.video_id])
            assert not result.issues, (q.qid, result.issues)
            assert result.answer == q.answer, q.qid
            assert result.golds_json() == q.golds, q.qid
            assert q.metadata.steps == len(tree), q.qid
            assert q.metadata.split == split


def test_videos_are_split_not_shared(data):
    owner: dict[str, str] = {}
    for split in SPLITS:
        home = "test" if split.startswith("test") else split
        for q in data.records(split):
            assert owner.setdefault(q.video_id, home) == home, q.qid


def test_no_held_out_composition_outside_test_novel(data, meta):
    held = set(meta["held_out"])
    assert len(held) >= 6
    for split in ("train", "val", "test", "test_more_steps"):
        for q in data.records(split):
            assert not held & set(q.metadata.compositions), q.qid
            assert not q.metadata.novel
    for q in data.records("test_novel"):
        assert held & set(q.metadata.compositions), q.qid
    for q in data.records("train"):
        family_time = f"family-time:{q.metadata.family}|{q.metadata.time_expr}"
        assert q.metadata.compositions[0] == family_time


def test_more_steps_exceed_every_train_question(data, meta):
    most = max(q.metadata.steps for q in data.records("train"))
    assert most <= meta["max_train_steps"]
    assert all(q.metadata.steps > most for q in data.records("test_more_steps"))


def test_metadata_covers_the_taxonomy(data):
    questions = [q for s in SPLITS for q in data.records(s)]
    families = {q.metadata.family for q in questions}
    assert families == {"exists", "query", "choose", "and", "xor", "first_last", "superlative",
                        "compare", "sequencing", "count"}  # fmt: skip
    assert {q.metadata.semantic for q in questions} == {"object", "relation", "action"}
    assert {q.metadata.structural for q in questions} == {
        "query", "verify", "logic", "choose", "compare"
    }  # fmt: skip
    assert {q.metadata.time_expr for q in questions} == {
        "video", "before", "after", "while", "between", "tag"
    }  # fmt: skip
    assert any(q.metadata.indirect for q in questions)
    assert any("ToAction(" in q.program for q in questions)
    assert any(q.program.startswith("Count(") for q in questions)
    answers = set(data.vocabularies.answers)
    assert all(q.answer in answers for q in questions)


def test_templates_have_three_phrasings_and_known_families():
    assert len(TEMPLATES) >= 15
    for template in TEMPLATES:
        assert len(set(template.phrasings)) >= 3, template.name
        assert template.structural in {"query", "verify", "logic", "choose", "compare"}
        assert template.semantic in {"object", "relation", "action"}


def test_answers_are_balanced():
    generator = QuestionGenerator()
    answers: Counter[str] = Counter()
    per_template: dict[str, Counter[str]] = {}
    for i in range(120):
        graph = generate_world(f"v{i}", np.random.default_rng([1, i]))
        for q in generator.generate(graph, [("iid", "train", 10)], random.Random(i)):
            answers[q.answer] += 1
            per_template.setdefault(q.metadata.template, Counter())[q.answer] += 1
    yes = answers["yes"] / (answers["yes"] + answers["no"])
    before = answers["before"] / (answers["before"] + answers["after"])
    assert 0.45 <= yes <= 0.55 and 0.45 <= before <= 0.55, (yes, before)
    for name, counts in per_template.items():
        if len(counts) > 3:  # open answers: no answer takes over a template
            assert counts.most_common(1)[0][1] <= 0.5 * sum(counts.values()), (name, counts)


def test_vocabulary_is_charades_like():
    vocab = DEFAULT_VOCAB
    assert len(vocab.objects) >= 15 and len(vocab.relations) >= 8 and len(vocab.actions) >= 20
    assert len({(a.verb, a.object) for a in vocab.actions}) == len(vocab.actions)
    for action in vocab.actions:
        assert action.verb in action.phrase and action.object in action.phrase
        assert action.object in vocab.objects
        assert all(r in vocab.relations and o in vocab.objects for r, o in action.relations)


def test_worlds_are_seeded_and_coherent():
    config = WorldConfig(frames=24, fps=4.0, max_duration=8)
    a = generate_world("v1", np.random.default_rng(5), config=config)
    b = generate_world("v1", np.random.default_rng(5), config=config)
    assert a == b and a.num_frames == 24 and a.fps == 4.0
    for seed in range(30):
        graph = generate_world("v", np.random.default_rng(seed))
        assert 1 <= len(graph.actions) <= 6
        for act in graph.actions:
            implied = DEFAULT_VOCAB.action(act.phrase).relations
            for f in range(act.start, act.end):
                assert set(implied) <= graph.frames[f].relations
        for frame in graph.frames:  # a related object is visible
            assert {o for _, o in frame.relations} <= frame.objects
        by_object: dict[str, list] = {}
        for act in graph.actions:
            by_object.setdefault(act.object, []).append(act)
        for acts in by_object.values():  # instances sharing an object never touch
            for x, y in itertools.pairwise(acts):
                assert x.end < y.start
