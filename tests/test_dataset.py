"""The synthetic dataset format: read through the data module, typed errors, features, videos."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import decord
import numpy as np
import pytest

from stair.data.datamodule import QADataModule
from stair.data.dataset import DatasetFormatError, iter_questions
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.data.synth.render import EntityEmbeddings, SymbolicRenderConfig, render_features
from stair.data.synth.video import Stage, VideoRenderConfig, render_video
from stair.data.synth.vocab import DEFAULT_VOCAB
from stair.data.synth.world import generate_world
from stair.data.video.store import FeatureStore
from stair.errors import StairError
from stair.programs import load_scene_graphs


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "tiny"
    config = SynthConfig(
        videos=6, questions_per_video=4, seed=1, render=("symbolic", "video"), workers=1,
        symbolic=SymbolicRenderConfig(dim=16), video=VideoRenderConfig(size=(48, 64), fps=4.0),
    )  # fmt: skip
    build_synth_dataset(out, config)
    return out


def test_folder_layout(folder):
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"meta.json", "vocab.json", "scene_graphs.json", "features.h5"} <= names
    assert {f"questions/{s}.jsonl" for s in ("train", "val", "test")} <= names
    assert len([n for n in names if n.startswith("videos/")]) == 6
    assert not [n for n in names if ".tmp" in n or n.startswith(".")]


def test_reader_gives_typed_records(folder):
    data = QADataModule(str(folder))
    q = data.records("train")[0]
    assert q.qid.startswith(q.video_id) and q.question.endswith("?")
    assert isinstance(q.metadata.steps, int) and isinstance(q.metadata.compositions, tuple)
    assert q.video_id in load_scene_graphs(folder / "scene_graphs.json")
    assert "0" in q.golds and q.golds["0"]["type"] in {"Bool", "Concept", "Count"}
    assert json.loads(json.dumps(q.to_json())) == q.to_json()
    vocab = json.loads((folder / "vocab.json").read_text())
    assert len(vocab["actions"]) >= 20 and "yes" in data.vocabularies.answers
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["frames"] == 32 and meta["fps"] == 2.0


def test_features_are_a_feature_store(folder):
    feats = QADataModule(str(folder)).store.get("v00000")[0]
    assert feats.shape == (32, 16) and feats.dtype == np.float32
    with FeatureStore(folder / "features.h5") as store:
        assert store.ids() == [f"v0000{i}" for i in range(6)]
        _, attrs = store.get("v00003")
        assert attrs["backbone"] == "symbolic" and attrs["frames"] == 32
        assert attrs["fps"] == 2.0 and np.allclose(attrs["timestamps"], np.arange(32) / 2.0)


def test_rendered_mp4_decodes_to_the_expected_frames(folder):
    reader = decord.VideoReader(str(folder / "videos" / "v00002.mp4"))
    assert len(reader) == 64  # 32 frames at 2 fps = 16 s, drawn at 4 fps
    assert reader[0].shape == (48, 64, 3)


def test_video_frames_show_what_happens(tmp_path):
    graph = generate_world("v", np.random.default_rng(3))
    stage = Stage(DEFAULT_VOCAB, (96, 96))
    frames = stage.frames(graph)
    assert frames.shape == (32, 96, 96, 3) and frames.dtype == np.uint8
    busy = next(a for a in graph.actions)
    idle = [f for f in range(32) if not graph.actions_at(f)]
    if idle:  # the action band is drawn only while an action is under way
        assert not np.array_equal(frames[busy.start, -3:], frames[idle[0], -3:])
    path = render_video(graph, stage, tmp_path / "v.mp4", VideoRenderConfig(size=(96, 96)))
    assert len(decord.VideoReader(str(path))) == 32


def test_symbolic_features_follow_the_entities():
    graph = generate_world("v", np.random.default_rng(4))
    emb = EntityEmbeddings(DEFAULT_VOCAB, 64, np.random.default_rng(0))
    clean = SymbolicRenderConfig(dim=64, noise=0.0, miss_rate=0.0)
    feats = render_features(graph, emb, clean, np.random.default_rng(0))
    expected = emb.presence(graph).astype(np.float32) @ emb.table
    assert np.allclose(feats, expected, atol=1e-5)
    noisy = render_features(graph, emb, SymbolicRenderConfig(dim=64), np.random.default_rng(0))
    assert not np.allclose(noisy, feats)


def test_every_entity_can_be_told_apart():
    """Pairs and actions are bound, not just summed: with D >= entities the table has full rank,
    so clean features determine exactly which objects, pairs and actions a frame holds."""
    emb = EntityEmbeddings(DEFAULT_VOCAB, 320, np.random.default_rng(1))
    assert len(emb.table) <= 320 and np.linalg.matrix_rank(emb.table) == len(emb.table)
    graph = generate_world("v", np.random.default_rng(6))
    clean = SymbolicRenderConfig(dim=320, noise=0.0, miss_rate=0.0)
    feats = render_features(graph, emb, clean, np.random.default_rng(0))
    weights = np.linalg.lstsq(emb.table.T, feats.T, rcond=None)[0].T
    assert np.array_equal(weights > 0.5, emb.presence(graph))


def _corrupt(folder: Path, tmp_path: Path, line: str, at: int = 2) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    path = copy / "questions" / "train.jsonl"
    lines = path.read_text().splitlines()
    lines.insert(at - 1, line)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{not json", "invalid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"qid": "x"}', "'video_id' must be a string"),
    ],
)
def test_reader_errors_name_file_and_line(folder, tmp_path, line, reason):
    path = _corrupt(folder, tmp_path, line, at=3)
    with pytest.raises(DatasetFormatError) as info:
        QADataModule(str(path.parents[1])).records("train")
    assert isinstance(info.value, StairError)
    assert str(path) in str(info.value) and "line 3" in str(info.value)
    assert reason in str(info.value)


def test_reader_checks_metadata_types(folder, tmp_path):
    record = json.loads((folder / "questions" / "train.jsonl").read_text().splitlines()[0])
    record["metadata"]["steps"] = "four"
    path = _corrupt(folder, tmp_path, json.dumps(record), at=1)
    with pytest.raises(DatasetFormatError, match=r"line 1: metadata 'steps'"):
        list(iter_questions(path))


def test_missing_files_are_typed_errors(tmp_path):
    with pytest.raises(DatasetFormatError, match="no dataset here"):
        QADataModule(str(tmp_path / "nowhere")).prepare_data()
    with pytest.raises(DatasetFormatError, match=r"nowhere.*no 'train' split"):
        QADataModule(str(tmp_path / "nowhere")).records("train")
    with pytest.raises(DatasetFormatError, match=r"absent\.jsonl: cannot read"):
        list(iter_questions(tmp_path / "absent.jsonl"))


def test_bad_utf8_and_deep_json_name_file_and_line(folder, tmp_path):
    path = _corrupt(folder, tmp_path, "placeholder", at=2)
    lines = path.read_bytes().split(b"\n")
    lines[1] = b'{"qid": "caf\xe9"}'  # Latin-1, not UTF-8
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DatasetFormatError, match=r"train\.jsonl: line 2: not valid UTF-8 .*0xe9"):
        list(iter_questions(path))
    lines[1] = b"[" * 100_000 + b"]" * 100_000
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(DatasetFormatError, match=r"train\.jsonl: line 2: JSON nested too deep"):
        list(iter_questions(path))
