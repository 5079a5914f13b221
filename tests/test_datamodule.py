"""QADataModule: batches in the QABatch contract, video grouping, phrase spans, golds, programs."""

import json

import pytest
import torch

from stair.data.datamodule import QADataModule
from stair.data.dataset import DatasetFormatError
from stair.data.qa_dataset import VideoBatchSampler
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.engine.plan import Plan
from stair.programs import compile_program, to_tokens
from stair.programs.text import WordVocabulary, tokenize


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    build_synth_dataset(root, SynthConfig(videos=40, questions_per_video=8, seed=3, workers=1))
    return root


def test_vocabularies_and_batches(synth):
    dm = QADataModule(str(synth), batch_size=16, eval_batch_size=32)
    voc = dm.vocabularies
    assert voc.feature_dim > 0 and voc.num_frames > 0
    assert len(voc.concepts) == len(voc.categories)
    assert set(voc.categories) == {"objects", "relations", "actions"}
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    assert sum(len(b) for b in batches) == len(dm.datasets["train"])
    words = WordVocabulary(voc.words)
    nonempty = 0
    for b in batches:
        n, v = len(b), len(b.video_ids)
        assert b.features.shape == (v, voc.num_frames, voc.feature_dim)
        assert b.frame_mask.all() and b.video_index.max() < v
        assert b.questions.shape[0] == n and b.answers.shape == (n,)
        assert (b.answers >= 0).all()
        assert b.phrase_spans.shape == (len(b.text_index), 2)
        for row, (start, end) in enumerate(b.phrase_spans.tolist()):
            question = b.questions[b.text_index.tree_of[row]].tolist()
            if start >= 0:
                assert question[start:end] == words.encode(tokenize(b.text_index.texts[row]))
        for tree, golds in zip(b.trees, b.golds):
            assert set(golds) == {node.id for node in tree.nodes}
            for node in tree.nodes:
                gold = golds[node.id]
                if str(node.type) in {"Frames", "Video"}:
                    assert gold.shape == (voc.num_frames,)
                if str(node.type) == "Concept":
                    assert gold.shape == (len(voc.concepts),)
                    assert set(gold.unique().tolist()) <= {0.0, 1.0}
                    nonempty += int(gold.sum() > 0)
    assert nonempty > 0


def test_held_examples_read_their_golds_once(synth):
    dm = QADataModule(str(synth), batch_size=16)
    dm.setup("fit")
    examples = [dm.datasets["train"][i] for i in range(12)]
    first, again = dm.collate(examples), dm.collate(examples)
    # the second epoch reuses the tensors read the first time
    assert all(a[k] is b[k] for a, b in zip(first.golds, again.golds) for k in a)
    assert first.options == again.options
    # another collation (e.g. other concepts) reads them anew, to the same values
    other = QADataModule(str(synth), batch_size=16)
    other.setup("fit")
    fresh = other.collate(examples)
    for a, b in zip(first.golds, fresh.golds):
        assert a.keys() == b.keys()
        assert all(a[k] is not b[k] and torch.equal(a[k], b[k]) for k in a)


def test_questions_of_a_video_share_its_encoding(synth):
    dm = QADataModule(str(synth), batch_size=16)
    dm.setup("fit")
    batches = list(dm.train_dataloader())
    videos = {v for b in batches for v in b.video_ids}
    # videos are served whole, in order: only a batch boundary can split one
    assert sum(len(b.video_ids) for b in batches) <= len(videos) + len(batches)
    ungrouped = QADataModule(str(synth), batch_size=16, group_by_video=False)
    ungrouped.setup("fit")
    assert sum(len(b.video_ids) for b in ungrouped.train_dataloader()) > sum(
        len(b.video_ids) for b in batches
    )


def test_sampler_shards_and_reshuffles():
    ids = [f"v{i // 3}" for i in range(60)]
    shards = [list(VideoBatchSampler(ids, 4, seed=1, rank=r, world=2)) for r in range(2)]
    flat = [i for shard in shards for batch in shard for i in batch]
    assert len(flat) == len(set(flat)) and len(shards[0]) == len(shards[1])
    sampler = VideoBatchSampler(ids, 4, seed=1)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) != first
    assert sorted(i for b in first for i in b) == list(range(60))


def test_all_test_splits_load(synth):
    dm = QADataModule(str(synth), eval_batch_size=64)
    dm.setup("test")
    loaders = dm.test_dataloader()
    assert dm.test_splits == ["test", "test_novel", "test_more_steps"]
    assert len(loaders) == 3
    for split, loader in zip(dm.test_splits, loaders):
        assert all(m["split"] == split for b in loader for m in b.metadata)


def test_generated_programs_replace_gold_ones(synth, tmp_path):
    dm = QADataModule(str(synth))
    records = dm.records("test")[:3]
    wrong = compile_program("Exists(cup, Iterate(video, Filter(frame, [objects])))")
    lines = [{"qid": records[0].qid, "tokens": to_tokens(compile_program(records[0].program))},
             {"qid": records[1].qid, "tokens": to_tokens(wrong)},
             {"qid": records[2].qid, "program": records[2].program}]  # fmt: skip
    path = tmp_path / "generated.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    gen = QADataModule(str(synth), programs=str(path))
    assert gen.test_splits[:2] == ["test", "test:generated"]
    assert gen.val_splits == ["val", "val:generated"]
    assert gen.examples("test")[1].tree == compile_program(records[1].program)  # gold stays
    examples = {e.qid: e for e in gen.examples("test:generated")}
    assert examples[records[1].qid].metadata["split"] == "test:generated"
    assert examples[records[0].qid].metadata["program_match"] is True
    assert examples[records[1].qid].tree == wrong and examples[records[1].qid].golds == {}
    assert examples[records[1].qid].metadata["program_match"] is False
    assert examples[records[2].qid].golds == records[2].golds
    path.write_text('{"qid": "x", "tokens": ["Nope"]}\n')
    with pytest.raises(DatasetFormatError, match="line 1"):
        QADataModule(str(synth), programs=str(path)).examples("test:generated")
    with pytest.raises(DatasetFormatError, match="needs generated programs"):
        dm.examples("test:generated")


def test_errors_name_the_files(synth, tmp_path):
    with pytest.raises(DatasetFormatError, match="no dataset here"):
        _ = QADataModule(str(tmp_path / "nothing")).vocabularies
    dm = QADataModule(str(synth))
    with pytest.raises(DatasetFormatError, match="no 'nope' split"):
        dm.records("nope")


def test_batch_moves_to_a_device(synth):
    dm = QADataModule(str(synth), batch_size=8)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader())).to(torch.device("cpu"))
    assert batch.features.device.type == "cpu" and batch.golds[0][0].device.type == "cpu"


def test_batches_carry_their_plan_and_move_it(synth):
    dm = QADataModule(str(synth), batch_size=8)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    plan = batch.plan
    assert plan.trees == batch.trees and batch.text_index is plan.text_index
    assert plan.num_videos == len(batch.video_ids)
    covered = sorted((b, n) for g in plan.groups for b, n in zip(g.trees, g.nodes))
    assert covered == sorted((b, n.id) for b, t in enumerate(batch.trees) for n in t.nodes)
    moved = batch.to("meta")
    assert moved.plan.index.device.type == "meta" and plan.index.device.type == "cpu"


def test_plans_cross_from_loader_workers_intact(synth):
    dm = QADataModule(str(synth), batch_size=8, num_workers=1)
    dm.setup("fit")
    batch = next(iter(dm.loader("val")))
    local = Plan(batch.trees, batch.video_index.tolist())
    assert torch.equal(batch.plan.index, local.index)
    for got, want in zip(batch.plan.groups, local.groups):
        assert (got.module, got.trees, got.nodes) == (want.module, want.trees, want.nodes)
        assert torch.equal(got.tree_index, want.tree_index)
