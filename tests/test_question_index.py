"""The question index: built once, reused, rebuilt when its question file changes, written safely
by concurrent processes; the lazy dataset it serves gives the examples the eager one gave."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import pickle
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from stair.data import question_index as qi
from stair.data.datamodule import GENERATED, QADataModule
from stair.data.dataset import DatasetFormatError, iter_questions
from stair.data.programs_source import fallback_tree, record_generated
from stair.data.qa_dataset import ProgramCache, QAExample, VideoBatchSampler
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.data.vocabularies import concepts_of
from stair.engine.options import OpenVocabulary
from stair.programs import compile_program, to_tokens
from stair.programs.text import WordVocabulary, tokenize
from tests.benchmark_folders import nextqa_folder


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("qindex") / "synth"
    build_synth_dataset(out, SynthConfig(videos=16, questions_per_video=6, seed=4, workers=1))
    return out


@pytest.fixture
def folder(built, tmp_path):
    """A fresh copy of the folder, without indexes."""
    copy = tmp_path / "synth"
    shutil.copytree(built, copy, ignore=shutil.ignore_patterns("*.index"))
    return copy


def eager_examples(dm: QADataModule, split: str) -> list[QAExample]:
    """The examples as the data module built them before it read them lazily (all at once)."""
    voc, out = dm.vocabularies, []
    path = dm.root / "questions" / f"{split.split(':')[0]}.jsonl"
    vocabulary = voc.answer_vocabulary()
    missing = (
        vocabulary.unknown if isinstance(vocabulary, OpenVocabulary) and split == "train" else -1
    )
    generated = dm.generated if split.endswith(GENERATED) or not dm.annotated else None
    for r in iter_questions(path):
        if voc.answer_mode == "multiple_choice":
            options = r.metadata.options
            answer = options.index(r.answer) if r.answer in options else -1
        else:
            answer, options = vocabulary.index.get(r.answer, missing), ()
        meta = {**r.metadata.to_json(), "split": split}
        words = tuple(tokenize(r.question))
        if not dm.annotated:
            line = (generated or {}).get(r.qid)
            fallback = line is None or line.tree is None
            tree = fallback_tree(r.question) if fallback else line.tree
            meta.update(fallback=fallback, steps=len(tree))
            out.append(QAExample(r.qid, r.video_id, tree, words, answer,
                                 {} if fallback else line.golds, meta, options))  # fmt: skip
            continue
        gold = compile_program(r.program)
        tree, golds = gold, r.golds
        if generated is not None:
            line = generated.get(r.qid)
            tree = line.tree if line is not None and line.tree is not None else gold
            meta["program_match"] = tree == gold
            golds = golds if tree == gold else {}
        out.append(QAExample(r.qid, r.video_id, tree, words, answer, golds, meta, options))
    return out


def eager_words(dm: QADataModule) -> list[str]:
    concepts, _ = concepts_of(json.loads((dm.root / "vocab.json").read_text()))
    records = list(iter_questions(dm.root / "questions" / "train.jsonl"))
    texts = [r.question for r in records] + concepts
    if dm.answer_mode == "multiple_choice":
        texts += [o for r in records for o in r.metadata.options]
    return WordVocabulary.build(texts).words[2:]


def test_index_is_built_once_reused_and_rebuilt_when_the_file_changes(folder, monkeypatch):
    jsonl = folder / "questions" / "train.jsonl"
    index = qi.open_index(jsonl)
    file = qi.index_path(jsonl)
    assert file == folder / "questions" / "train.index" and file.exists() and index.mapped
    records = list(iter_questions(jsonl))
    assert len(index) == len(records) and index.videos == list(
        dict.fromkeys(r.video_id for r in records)
    )
    assert [index.video_of(i) for i in range(len(index))] == [r.video_id for r in records]
    assert [index.record(i) for i in range(len(index))] == records
    assert not [p for p in file.parent.iterdir() if p.name.startswith(".")]

    def no_scan(*args):
        raise AssertionError("indexed again")

    with monkeypatch.context() as patch:
        patch.setattr(qi, "_scan", no_scan)
        again = qi.open_index(jsonl)  # current: reused as it is
    assert again.header == index.header and np.array_equal(again.offset, index.offset)

    lines = jsonl.read_text().splitlines()
    jsonl.write_text("\n".join(lines[:-1]) + "\n\n")  # one question fewer, a blank line
    assert len(qi.open_index(jsonl)) == len(records) - 1
    # the same size and modification time, other bytes: the digest tells
    stat = jsonl.stat()
    data = bytearray(jsonl.read_bytes())
    at = data.index(b'"question":"') + len(b'"question":"')
    data[at : at + 1] = b"Q"
    jsonl.write_bytes(bytes(data))
    os.utime(jsonl, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert jsonl.stat().st_size == stat.st_size
    assert qi.open_index(jsonl).record(0).question.startswith("Q")


def test_lazy_examples_are_the_eager_ones(folder):
    dm = QADataModule(str(folder), batch_size=8)
    assert dm.vocabularies.words == eager_words(dm)
    dm.setup("fit")
    for split in ("train", "val"):
        lazy = dm.datasets[split].examples
        eager = eager_examples(dm, split)
        assert len(lazy) == len(eager) and list(lazy) == eager and lazy[1:3] == eager[1:3]
        codes = dm.datasets[split].video_ids()
        assert isinstance(codes, np.memmap)
        ids = [e.video_id for e in eager]
        for shuffle in (False, True):
            assert list(VideoBatchSampler(codes, 8, shuffle=shuffle, seed=3)) == list(
                VideoBatchSampler(ids, 8, shuffle=shuffle, seed=3)
            )
    assert [r.qid for r in dm.records("val")[:2]] == [e.qid for e in eager_examples(dm, "val")[:2]]
    # a loader worker started by spawn gets the dataset pickled: the index file, mapped again
    copy = pickle.loads(pickle.dumps(dm.datasets["train"]))
    assert copy[3] == dm.datasets["train"][3] and copy.examples.records.index.mapped


def test_small_splits_keep_their_examples_large_ones_hold_nothing(folder):
    dm = QADataModule(str(folder), batch_size=8, keep_examples=30)
    dm.setup("fit")
    train, val = dm.datasets["train"].examples, dm.datasets["val"].examples
    assert len(val) <= 30 < len(train)
    assert val[2] is val[2] and val[2] == eager_examples(dm, "val")[2]  # built once, then held
    assert train[2] is not train[2] and train[2] == train[2]  # built anew each time
    assert not pickle.loads(pickle.dumps(val))._kept  # loader workers hold their own


def test_generated_multiple_choice_and_fallback_splits_match_eager(folder, tmp_path):
    records = list(iter_questions(folder / "questions" / "test.jsonl"))[:2]
    wrong = compile_program("Exists(cup, Iterate(video, Filter(frame, [objects])))")
    path = tmp_path / "generated.jsonl"
    path.write_text(json.dumps({"qid": records[0].qid, "tokens": to_tokens(wrong)}) + "\n"
                    + json.dumps({"qid": records[1].qid, "program": records[1].program}) + "\n")  # fmt: skip
    dm = QADataModule(str(folder), programs=str(path))
    assert list(dm.examples("test:generated")) == eager_examples(dm, "test:generated")
    mc = tmp_path / "mc"
    build_synth_dataset(
        mc, SynthConfig(videos=8, questions_per_video=4, seed=2, workers=1, choices=3)
    )
    dm = QADataModule(str(mc))
    assert dm.vocabularies.words == eager_words(dm)
    assert list(dm.examples("train")) == eager_examples(dm, "train")
    nextqa = nextqa_folder(tmp_path)
    programs = [{"qid": r.qid, "tokens": to_tokens(wrong)} if i % 2 else
                {"qid": r.qid, "tokens": None, "reason": "none"}
                for i, r in enumerate(iter_questions(nextqa / "questions" / "val.jsonl"))]  # fmt: skip
    (nextqa / "programs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in programs))
    record_generated(nextqa, "generator:test", {})
    dm = QADataModule(str(nextqa))
    lazy = list(dm.examples("val"))
    assert lazy == eager_examples(dm, "val") and {e.metadata["fallback"] for e in lazy} == {
        True,
        False,
    }


def test_programs_are_compiled_once_per_text(folder):
    cache = ProgramCache(size=2)
    program = "Exists(cup, Iterate(video, Filter(frame, [objects])))"
    first = cache(program)
    assert cache(program) is first and (cache.hits, cache.misses) == (1, 1)
    cache("Exists(box, Iterate(video, Filter(frame, [objects])))")
    cache("Exists(door, Iterate(video, Filter(frame, [objects])))")
    assert len(cache) == 2 and cache(program) is not first  # the least recent one was dropped
    assert len(pickle.loads(pickle.dumps(cache))) == 0
    examples = QADataModule(str(folder), keep_examples=0).examples("train")  # nothing held
    list(examples)
    misses = examples.build.programs.misses
    list(examples)
    assert examples.build.programs.misses == misses and examples.build.programs.hits >= len(
        examples
    )


def test_bad_lines_are_typed_errors_naming_file_and_line(folder, monkeypatch):
    jsonl = folder / "questions" / "train.jsonl"
    original = jsonl.read_text().splitlines()
    lines = [*original[:4], '{"qid": "x", "video_id": 3}', *original[4:]]
    jsonl.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetFormatError, match=r"train\.jsonl: line 5: field 'video_id'"):
        qi.open_index(jsonl)
    # the same in parallel parts: the line counts from the top of the file
    at = len(original) - 2
    jsonl.write_text("\n".join([*original[:at], "{not json", *original[at:]]) + "\n")
    with monkeypatch.context() as patch:
        patch.setattr(qi, "_workers", lambda size: 3)
        assert len(qi._parts(jsonl, jsonl.stat().st_size, 3)) == 3
        with pytest.raises(DatasetFormatError, match=rf"train\.jsonl: line {at + 1}: invalid JSON"):
            qi.open_index(jsonl)
    # a program that does not compile, and a line spoilt after it was indexed, fail when read
    record = json.loads(original[2])
    lines = [
        *original[:2],
        json.dumps({**record, "program": "Exists(cup, Nope(video))"}),
        *original[3:],
    ]
    jsonl.write_text("\n".join(lines) + "\n")
    examples = QADataModule(str(folder)).examples("train")
    assert examples[0].qid and examples[1].qid
    with pytest.raises(
        DatasetFormatError, match=rf"train\.jsonl: line 3 \(question {record['qid']}\)"
    ):
        examples[2]
    index = examples.records.index
    with open(jsonl, "r+b") as handle:
        handle.seek(int(index.offset[0]))
        handle.write(b"[")
    with pytest.raises(DatasetFormatError, match=r"train\.jsonl: line 1: invalid JSON"):
        index.record(0)


def test_parallel_parts_give_the_serial_index(folder, monkeypatch):
    jsonl = folder / "questions" / "train.jsonl"
    serial = qi.build_index(jsonl, "")
    monkeypatch.setattr(qi, "_workers", lambda size: 4)
    assert len(qi._parts(jsonl, jsonl.stat().st_size, 4)) == 4
    parallel = qi.build_index(jsonl, "")
    assert parallel.header == serial.header
    for name in qi.COLUMNS:
        assert np.array_equal(getattr(parallel, name), getattr(serial, name)), name


def _open_slowly(jsonl: str, out: str) -> None:
    scan = qi._scan

    def slow(*args):
        with open(out + ".scans", "a") as handle:
            handle.write("scan\n")
        time.sleep(0.5)
        return scan(*args)

    qi._scan = slow
    index = qi.open_index(jsonl, poll=0.05)
    with open(out, "w") as handle:
        json.dump({"count": len(index), "mapped": index.mapped, "file": str(index.file)}, handle)


def test_two_builders_make_one_index(folder, tmp_path):
    jsonl = folder / "questions" / "train.jsonl"
    context = multiprocessing.get_context("fork")
    outs = [str(tmp_path / f"out{i}.json") for i in range(2)]
    procs = [context.Process(target=_open_slowly, args=(str(jsonl), out)) for out in outs]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    results = [json.loads(Path(out).read_text()) for out in outs]
    assert results[0] == results[1] and results[0]["mapped"]
    # one scanned and wrote, the other waited for it (or came later) and read what it wrote
    scans = [Path(out + ".scans") for out in outs]
    scans = sum(len(p.read_text().split()) for p in scans if p.exists())
    assert scans == 1
    assert sorted(p.name for p in jsonl.parent.iterdir() if "train" in p.name) == [
        "train.index",
        "train.jsonl",
    ]
    # without the lock, two writers still leave one whole index (each renames a finished file)
    procs = [context.Process(target=qi.build_index, args=(jsonl,)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert qi.open_index(jsonl).header["count"] == results[0]["count"]
    assert not [p for p in jsonl.parent.iterdir() if p.name.startswith(".")]


def test_pickled_index_maps_the_same_file(folder, monkeypatch, caplog):
    jsonl = folder / "questions" / "val.jsonl"
    index = qi.open_index(jsonl)
    blob = pickle.dumps(index)
    assert np.asarray(index.offset).tobytes() not in blob  # its path and header, not its columns
    copy = pickle.loads(blob)
    assert copy.mapped and copy.record(1) == index.record(1)
    qi.index_path(jsonl).unlink()
    monkeypatch.setattr(qi.os, "access", lambda *args: False)
    with caplog.at_level(logging.WARNING):
        memory = qi.open_index(jsonl)
    assert not memory.mapped and "read-only" in caplog.text and not qi.index_path(jsonl).exists()
    assert pickle.loads(pickle.dumps(memory)).record(1) == index.record(1)
