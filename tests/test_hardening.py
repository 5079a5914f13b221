"""Hostile and malformed input outside the program language: files written whole or not at all,
text read with errors naming the line, one writer per feature store, scene-graph pickles that
cannot run code, and `stair ask` inputs that are refused with a clear error."""

from __future__ import annotations

import builtins
import json
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from stair.api import STAIR, AskError
from stair.data.agqa.graph import load_agqa_scene_graphs
from stair.data.video.store import FeatureStore, FeatureStoreError, FeatureStoreWriter, lock_path
from stair.files import (
    AtomicFile,
    LockedError,
    TextFileError,
    lock,
    read_lines,
    replacing,
    write_json,
    write_lines,
)
from stair.programs import SceneGraphError
from stair.testing.batch import fake_vocabularies
from stair.train.system import LitSTAIR
from tests.test_agqa_graph import NAMES, _agqa_video


# -- stair.files --------------------------------------------------------------------------------
def test_atomic_writes_leave_the_old_file_on_an_error(tmp_path):
    path = tmp_path / "sub" / "a.json"
    write_json(path, {"x": 1})
    assert path.read_text() == '{\n "x": 1\n}\n'
    with pytest.raises(RuntimeError), AtomicFile(path) as out:
        out.write("half")
        raise RuntimeError("crash")
    assert json.loads(path.read_text()) == {"x": 1}
    with pytest.raises(RuntimeError), replacing(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert json.loads(path.read_text()) == {"x": 1}
    assert write_lines(path, ["a", "b"]) == 2 and path.read_text() == "a\nb\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["a.json"]  # no temporary file left


def test_read_lines_names_the_file_and_line_of_bad_bytes(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes("ok\ncafé\r\n".encode() + b"caf\xe9\n")
    lines = read_lines(path)
    assert next(lines) == (1, "ok") and next(lines) == (2, "café")
    with pytest.raises(
        TextFileError, match=r"t\.txt: line 3: not valid UTF-8 \(byte 0xe9 at column 4\)"
    ):
        next(lines)
    with pytest.raises(TextFileError, match=r"nope\.txt: cannot read"):
        list(read_lines(tmp_path / "nope.txt"))


def test_a_lock_has_one_holder_and_is_released(tmp_path):
    where = tmp_path / "x.lock"
    with (
        lock(where, "thing"),
        pytest.raises(LockedError, match=r"thing is in use by another writer"),
        lock(where, "thing"),
    ):
        pass
    with lock(where, "thing"):  # released: taken again
        pass
    assert not where.exists()


# -- feature store: one writer ------------------------------------------------------------------
META = {"backbone": "toy", "dim": 4}


def test_a_second_store_writer_fails_at_once_and_the_first_completes(tmp_path):
    path = tmp_path / "f.h5"
    first = FeatureStoreWriter(path, META, commit_every=1)
    first.add("a", np.zeros((2, 4)), [0.0, 1.0], 1.0)
    with pytest.raises(FeatureStoreError, match=r"f\.h5 is in use by another writer"):
        FeatureStoreWriter(path, META)
    first.add("b", np.ones((2, 4)), [0.0, 1.0], 1.0)
    first.close()
    with FeatureStore(path) as store:
        assert store.ids() == ["a", "b"]
    assert not lock_path(path).exists()
    with FeatureStoreWriter(path, META) as again:  # the lock was released
        assert again.done == {"a", "b"}


def test_a_store_writer_in_another_process_is_refused(tmp_path):
    path = tmp_path / "f.h5"
    child = textwrap.dedent(f"""
        import sys
        from stair.data.video.store import FeatureStoreWriter
        writer = FeatureStoreWriter({str(path)!r}, {META!r})
        print("locked", flush=True)
        sys.stdin.readline()
        writer.close()
    """)
    proc = subprocess.Popen([sys.executable, "-c", child], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FeatureStoreError, match="in use by another writer"):
            FeatureStoreWriter(path, META)
    finally:
        proc.communicate("\n", timeout=60)
    assert proc.returncode == 0
    FeatureStoreWriter(path, META).close()


def test_a_partial_video_is_flagged_and_listed_in_the_report(tmp_path):
    path = tmp_path / "f.h5"
    with FeatureStoreWriter(path, META) as writer:
        writer.add("cut", np.zeros((2, 4)), [0.0, 1.0], 1.0, partial="36 of 132 frames decode",
                   source="cut.mp4")  # fmt: skip
        writer.add("whole", np.zeros((2, 4)), [0.0, 1.0], 1.0)
    with FeatureStore(path) as store:
        assert store.get("cut")[1]["partial"] == "36 of 132 frames decode"
        assert "partial" not in store.get("whole")[1]
    report = [json.loads(line) for line in (tmp_path / "f.skipped.jsonl").open()]
    assert report == [{"video": "cut.mp4", "partial": "36 of 132 frames decode"}]


# -- AGQA scene-graph pickles -------------------------------------------------------------------
class _WritesMarker:
    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))


def test_a_malicious_scene_graph_pickle_runs_no_code(tmp_path):
    marker = tmp_path / "MARKER"
    path = tmp_path / "AGQA_test_stsgs.pkl"
    path.write_bytes(pickle.dumps({"YSKX3": {"000080": _WritesMarker(marker)}}))
    with pytest.raises(SceneGraphError, match=r"stsgs\.pkl: refused to load builtins\.exec"):
        load_agqa_scene_graphs(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "reason"),
    [(7, r"expected \{video_id: graph\}, found int"),
     ({"YSKX3": 7}, r"video 'YSKX3': malformed scene graph"),
     ({"YSKX3": {"000080": {"secs": "late", "objects": 3}}}, "video 'YSKX3'")],
)  # fmt: skip
def test_malformed_scene_graph_pickles_are_typed_errors(tmp_path, content, reason):
    path = tmp_path / "g.pkl"
    path.write_bytes(pickle.dumps(content))
    with pytest.raises(SceneGraphError, match=rf"g\.pkl: .*{reason}"):
        load_agqa_scene_graphs(path)


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_plain_scene_graph_pickles_with_sets_still_load(tmp_path, protocol):
    video = _agqa_video()
    video["000080"]["metadata"] = {"tags": {"a", "b"}, "frozen": frozenset({1})}
    path = tmp_path / "g.pkl"
    path.write_bytes(pickle.dumps({"YSKX3": video}, protocol=protocol))
    assert load_agqa_scene_graphs(path, NAMES)["YSKX3"].num_frames == 3


# -- stair ask: bad inputs ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def qa() -> STAIR:
    return STAIR(LitSTAIR(fake_vocabularies(feature_dim=12)))


def test_an_empty_question_is_refused(qa):
    with pytest.raises(AskError, match="the question is empty"):
        qa.ask(np.zeros((4, 12), np.float32), "  ", program="Exists(cup, Filter(video, [objects]))")


def test_missing_and_object_npy_files_are_clear_errors(qa, tmp_path):
    with pytest.raises(AskError, match=r"no such features file: .*absent\.npy"):
        qa.features(tmp_path / "absent.npy")
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(AskError, match=r"objects\.npy is not a \.npy array of numeric features"):
        qa.features(path)


# -- generated-program files --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "reason"),
    [(b'{"qid": "q1", "program": "caf\xe9"}', "can't decode byte 0xe9"),
     (b"[" * 100_000 + b"]" * 100_000, "maximum recursion depth"),
     (b'{"qid": "q1", "program": "' + b"NOT(" * 5_000 + b'"}', "nest deeper than 32")],
)  # fmt: skip
def test_bad_lines_of_a_generated_programs_file_name_the_line(tmp_path, line, reason):
    from stair.data.datamodule import QADataModule
    from stair.data.dataset import DatasetFormatError

    path = tmp_path / "programs.jsonl"
    path.write_bytes(b'{"qid": "q0", "program": "Exists(cup, Filter(video, [objects]))"}\n' + line)
    with pytest.raises(DatasetFormatError, match=rf"programs\.jsonl: line 2: .*{reason}"):
        _ = QADataModule(str(tmp_path), programs=str(path)).generated


# -- AGQA text files ----------------------------------------------------------------------------
def test_non_utf8_agqa_text_files_are_typed_errors(tmp_path):
    from stair.data.agqa.files import CSV_HEADER, DatasetFormatError, iter_balanced, iter_csv
    from stair.data.agqa.graph import load_agqa_names

    csv_path = tmp_path / "q.csv"
    csv_path.write_bytes(",".join(CSV_HEADER).encode() + b"\n0,k,caf\xe9?,yes,v,g,d\n")
    with pytest.raises(DatasetFormatError, match=r"q\.csv: line 2: not valid UTF-8"):
        list(iter_csv(csv_path))
    (tmp_path / "IDX.txt").write_bytes(b"o9\n")
    (tmp_path / "ENG.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(SceneGraphError, match=r"ENG\.txt: line 1: not valid UTF-8"):
        load_agqa_names(tmp_path / "IDX.txt", tmp_path / "ENG.txt")
    deep = tmp_path / "deep_balanced.txt"
    deep.write_text('{"q1": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(DatasetFormatError, match="JSON nested too deep"):
        list(iter_balanced(deep))
