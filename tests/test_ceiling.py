"""The benchmark's ceiling: visible graphs replay the renderer's drops exactly, and the bench runs.

``stair.data.synth.visible`` must reproduce the drop mask the symbolic renderer drew: re-rendered
from it, the features equal ``features.h5``. Without drops the visible graph is the scene graph
and the gold programs answer every question; a drop removes exactly its entity on its frame; the
bench (``bench/ceiling.py``) runs end to end, with and without a module network.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.data.synth.render import SymbolicRenderConfig
from stair.data.synth.visible import (
    RenderSetup,
    VisibleDataset,
    VisibleGraphError,
    detections,
    entity_scores,
    graph_from_mask,
    replay_features,
    visible_graph,
)
from stair.data.synth.vocab import WorldVocabulary
from stair.data.synth.world import WorldConfig, generate_world
from stair.data.video.store import FeatureStore
from stair.programs import ActionInstance
from tests.tiny_synth import one_torch_thread, tiny_trained  # noqa: F401  (one torch thread)

BENCH = Path(__file__).resolve().parents[1] / "bench" / "ceiling.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_ceiling", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny synthetic folder (miss_rate 0.05) and a module network trained a few steps on it."""
    return tiny_trained(tmp_path_factory.mktemp("ceiling"))


@pytest.fixture(scope="module")
def no_drops(tmp_path_factory) -> Path:
    """A tiny synthetic folder rendered with ``miss_rate`` 0."""
    out = tmp_path_factory.mktemp("no-drops") / "synth"
    config = SynthConfig(videos=16, questions_per_video=6, seed=2, workers=1,
                         symbolic=SymbolicRenderConfig(miss_rate=0.0))  # fmt: skip
    build_synth_dataset(out, config)
    return out


def test_replayed_features_equal_the_stored_ones(trained):
    data = VisibleDataset(trained[0])
    dropped = 0
    with FeatureStore(data.folder / "features.h5") as store:
        assert sorted(data.graphs) == store.ids()
        for video_id, graph in data.graphs.items():
            stored, _ = store.get(video_id)
            index = data.setup.index(video_id)
            np.testing.assert_allclose(replay_features(graph, data.setup, index), stored,
                                       rtol=0, atol=1e-6)  # fmt: skip
            dropped += int(detections(graph, data.setup, index).dropped.sum())
            # the test tells masks apart: another video's draw gives other features
            other = (index + 1) % len(data.graphs)
            assert not np.allclose(replay_features(graph, data.setup, other), stored, atol=1e-3)
    assert dropped > 0  # at miss_rate 0.05 some entity-frames are dropped


def test_generator_indices_regenerate_the_worlds(trained):
    folder = trained[0]
    meta = json.loads((folder / "meta.json").read_text())
    world = WorldConfig(**{k: tuple(v) if isinstance(v, list) else v
                           for k, v in meta["config"]["world"].items()})  # fmt: skip
    vocab = WorldVocabulary.from_json(json.loads((folder / "vocab.json").read_text()))
    data = VisibleDataset(folder)
    for video_id, graph in data.graphs.items():
        rng = np.random.default_rng([meta["seed"], 1, data.setup.index(video_id)])
        assert generate_world(video_id, rng, vocab, world).to_json() == graph.to_json()


def test_visible_graph_shows_exactly_the_kept_entities(trained):
    data = VisibleDataset(trained[0])
    for video_id, graph in data.graphs.items():
        kept = detections(graph, data.setup, data.setup.index(video_id)).kept
        visible = visible_graph(graph, data.setup)
        assert visible == data.visible(video_id)
        np.testing.assert_array_equal(data.setup.embeddings.presence(visible), kept)
    assert data.entity_frames > data.dropped > 0


def test_without_drops_the_visible_graph_is_the_scene_graph(no_drops):
    data = VisibleDataset(no_drops)
    assert data.setup.config.miss_rate == 0
    for video_id, graph in data.graphs.items():
        assert data.visible(video_id) == graph
    bench = _bench()
    for split in bench.SPLITS:
        result = bench.ceiling(data, split, progress=False)
        assert result.metrics["acc"] == 1.0 and result.unanswered["acc"] == 0, split
        assert result.sizes["acc"] == data.size(split)


def test_a_drop_removes_that_entity_on_that_frame_only(trained):
    data = VisibleDataset(trained[0])
    embeddings = data.setup.embeddings
    graph = next(g for g in data.graphs.values()
                 if any(a.end - a.start >= 3 for a in g.actions))  # fmt: skip
    act = next(a for a in graph.actions if a.end - a.start >= 3)
    f = next(i for i, frame in enumerate(graph.frames) if frame.objects and frame.relations)
    obj, pair = sorted(graph.frames[f].objects)[0], sorted(graph.frames[f].relations)[0]
    kept = embeddings.presence(graph)
    kept[f, embeddings.index["object", obj]] = False
    kept[f, embeddings.index["pair", pair]] = False
    middle = act.start + 1
    kept[middle, embeddings.index["action", act.phrase]] = False
    visible = graph_from_mask(graph, embeddings, kept)
    for i, (before, after) in enumerate(zip(graph.frames, visible.frames)):
        if i == f:
            assert after.objects == before.objects - {obj}
            assert after.relations == before.relations - {pair}
        else:
            assert after == before
    split = [ActionInstance(act.phrase, act.start, middle, act.verb, act.object),
             ActionInstance(act.phrase, middle + 1, act.end, act.verb, act.object)]  # fmt: skip
    others = [a for a in graph.actions if a != act]
    assert sorted(visible.actions, key=repr) == sorted([*others, *split], key=repr)
    # an action dropped on every frame is gone
    kept[act.start : act.end, embeddings.index["action", act.phrase]] = False
    assert graph_from_mask(graph, embeddings, kept).actions == tuple(others)


def test_noise_is_below_the_entity_margin(trained):
    data = VisibleDataset(trained[0])
    with FeatureStore(data.folder / "features.h5") as store:
        video_id, graph = next(iter(data.graphs.items()))
        kept = detections(graph, data.setup, data.setup.index(video_id)).kept
        scores = entity_scores(store.get(video_id)[0], data.setup.embeddings.table, kept)
    assert np.abs(scores["noise"]).max() < 0.2 < 0.8 < np.median(scores["present"])
    assert np.median(scores["absent"]) < 0.2


def test_a_folder_without_symbolic_settings_is_a_typed_error(trained, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(trained[0], folder)
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "config": {}}))
    with pytest.raises(VisibleGraphError, match="config"):
        VisibleDataset(folder)
    setup = RenderSetup.from_folder(trained[0])
    with pytest.raises(VisibleGraphError, match="v99999"):
        setup.index("v99999")


def test_the_bench_runs_end_to_end(trained, capsys):
    data, ckpt, _ = trained
    bench = _bench()
    results = bench.main(["--data", str(data), "--no-progress"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert re.fullmatch(r"test: NMN n/a, ceiling \d+\.\d %", lines[-1])
    assert set(results) == set(bench.SPLITS)
    assert all(r["nmn"] is None for r in results.values())
    assert 0.5 < results["test"]["ceiling"].metrics["acc"] <= 1.0
    assert any(line.startswith("features: ") for line in lines)

    results = bench.main(["--data", str(data), "--splits", "test", "test_novel", "--ckpt",
                          str(ckpt), "--no-progress"])  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    match = re.fullmatch(r"test: NMN (\d+\.\d) %, ceiling (\d+\.\d) %", lines[-1])
    assert match
    assert set(results) == {"test", "test_novel"}
    assert float(match[1]) == pytest.approx(100 * results["test"]["nmn"]["acc"], abs=0.05)
    assert all("family/" in " ".join(r["nmn"]) for r in results.values())


def test_the_bench_reads_another_folder_with_the_models_words(trained, tmp_path):
    """A checkpoint tested on a folder it was not trained on: the word ids follow the word counts
    of the training questions, so that folder's own vocabulary would number the words otherwise.
    The copy below keeps every test question, and the training questions without "holding"."""
    data, ckpt, _ = trained
    other = tmp_path / "synth"
    shutil.copytree(data, other)
    train = (other / "questions" / "train.jsonl").read_text().splitlines(keepends=True)
    kept = [line for line in train if "holding" not in line]
    (other / "questions" / "train.jsonl").write_text("".join(kept))
    from stair.data.datamodule import QADataModule

    assert QADataModule(str(other)).vocabularies.words != QADataModule(str(data)).vocabularies.words
    bench = _bench()
    here = bench.nmn_results(str(ckpt), str(data), ["test"], 64, False)["test"]
    there = bench.nmn_results(str(ckpt), str(other), ["test"], 64, False)["test"]
    assert there == pytest.approx(here)


def test_the_decodability_bench_reads_the_replayed_labels(trained, capsys):
    """``bench/decodability.py``: its labels are what the features hold (a frame is the sum of
    its kept entity rows, up to the noise), and both read-outs are scored on held-out frames."""
    spec = importlib.util.spec_from_file_location("bench_decodability", BENCH.with_name(
        "decodability.py"))  # fmt: skip
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    setup = RenderSetup.from_folder(trained[0])
    X, Y, videos, kinds = bench.frames_and_labels(trained[0], setup)
    table = torch.tensor(setup.embeddings.table, dtype=X.dtype)
    assert len(videos) == len(X) == len(Y) and set(kinds) == set(bench.KINDS)
    assert float((X - Y @ table).norm(dim=1).max()) < 0.6  # the noise alone: norm about 0.3
    assert float((X - Y.roll(1, 0) @ table).norm(dim=1).mean()) > 1.0  # another frame's labels
    results = bench.main(["--data", str(trained[0]), "--test-share", "0.25"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["least", "matched"]
    for err in results.values():
        assert 0.0 <= err["frames"] <= 1.0 and all(err[k] >= 0 for k in bench.KINDS)
    assert results["matched"]["pair"] > 0  # pairs share parts: matching a pair's row misreads
