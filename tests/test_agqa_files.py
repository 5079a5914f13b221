"""AGQA file readers on fixture files written here in the documented formats."""

from __future__ import annotations

import json
import pickle

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stair.data.agqa.features import I3DFeatures, RXFeatures
from stair.data.agqa.files import (
    AGQACsvRow,
    DatasetFormatError,
    iter_balanced,
    iter_csv,
    load_balanced,
)
from stair.data.video.store import MissingFeaturesError

TRAIN = {
    "YSKX3-8": {
        "question": "Did they hold a phone before opening a closet?",
        "answer": "yes",
        "video_id": "YSKX3",
        "global": ["exists", "obj-act"],
        "local": "v023",
        "ans_type": "binary",
        "steps": 4,
        "semantic": "object",
        "structural": "verify",
        "novel_comp": 0,
        "more_steps": 0,
        "program": "Exists(phone, Iterate(Localize(before, opening a closet), "
        "Filter(frame, [objects])))",
        "sg_grounding": {"16-21": ["o4"], "29-44": ["c076/1"]},
    },
    "7UPGT-12": {
        "question": "What were they holding, a cup or a dish?",
        "answer": "cup",
        "video_id": "7UPGT",
        "global": ["obj-rel"],
        "local": "o1",
        "ans_type": "open",
        "steps": 3,
        "semantic": "object",
        "structural": "choose",
        "novel_comp": 1,
        "more_steps": 0,
        "program": "Choose(cup, dish, Query(class, OnlyItem(Iterate(video, "
        "Filter(frame, [relations, holding, objects])))))",
        "sg_grounding": {},
    },
}
TEST_EXTRA = {
    "nc_seq": 0,
    "nc_sup": 1,
    "nc_dur": 0,
    "nc_objrel": 0,
    "indirect": 1,
    "i_obj": 1,
    "i_rel": 0,
    "i_act": 0,
    "i_temp": 0,
    "direct_equiv": "YSKX3-8",
}


def write_json(path, obj, **kw):
    path.write_text(json.dumps(obj, **kw), encoding="utf-8")
    return path


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("chunk_size", [5, 1 << 20])
def test_balanced_records_are_typed(tmp_path, indent, chunk_size):
    path = write_json(tmp_path / "train_balanced.txt", TRAIN, indent=indent)
    records = list(iter_balanced(path, chunk_size=chunk_size))
    assert [r.qid for r in records] == ["YSKX3-8", "7UPGT-12"]
    q = records[0]
    assert (q.question, q.answer, q.video_id) == (TRAIN["YSKX3-8"]["question"], "yes", "YSKX3")
    assert q.global_ == ("exists", "obj-act") and q.steps == 4 and q.structural == "verify"
    assert q.novel_comp is False and records[1].novel_comp is True and q.more_steps is False
    assert q.program.startswith("Exists(phone,") and q.sg_grounding["29-44"] == ["c076/1"]
    assert q.nc_seq is None and q.direct_equiv is None  # test-only fields absent in train
    slim = next(iter_balanced(path, keep_grounding=False, chunk_size=chunk_size))
    assert slim.sg_grounding == {}


def test_test_split_fields(tmp_path):
    test = {qid: {**rec, **TEST_EXTRA} for qid, rec in TRAIN.items()}
    test["7UPGT-12"]["direct_equiv"] = None
    records = load_balanced(write_json(tmp_path / "test_balanced.txt", test))
    q = records["YSKX3-8"]
    assert (q.nc_sup, q.indirect, q.i_obj, q.i_rel, q.direct_equiv) == (1, 1, 1, 0, "YSKX3-8")
    assert records["7UPGT-12"].direct_equiv is None
    assert list(iter_balanced(write_json(tmp_path / "empty.txt", {}))) == []


record_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=40, deadline=None)
@given(
    questions=st.dictionaries(st.text(min_size=1, max_size=8), record_text, max_size=6),
    chunk_size=st.integers(1, 64),
    indent=st.sampled_from([None, 0, 1, 4]),
)
def test_streaming_matches_json_load(tmp_path_factory, questions, chunk_size, indent):
    data = {qid: {**TRAIN["YSKX3-8"], "question": text} for qid, text in questions.items()}
    path = write_json(tmp_path_factory.mktemp("h") / "b.txt", data, indent=indent)
    got = {q.qid: q.question for q in iter_balanced(path, chunk_size=chunk_size)}
    assert got == {qid: rec["question"] for qid, rec in json.loads(path.read_text()).items()}


def test_malformed_balanced_files_name_file_and_question(tmp_path):
    bad = {**TRAIN, "BAD01-3": {k: v for k, v in TRAIN["YSKX3-8"].items() if k != "answer"}}
    path = write_json(tmp_path / "missing.txt", bad)
    with pytest.raises(DatasetFormatError, match=r"missing\.txt: question 'BAD01-3': .*answer"):
        list(iter_balanced(path))
    wrong = {"Q-1": {**TRAIN["YSKX3-8"], "steps": "many"}}
    with pytest.raises(DatasetFormatError, match=r"question 'Q-1': field 'steps'"):
        list(iter_balanced(write_json(tmp_path / "steps.txt", wrong)))
    text = json.dumps(TRAIN)
    cut = tmp_path / "cut.txt"
    cut.write_text(text[: len(text) - 40])
    with pytest.raises(DatasetFormatError, match=r"cut\.txt: after question 'YSKX3-8'"):
        list(iter_balanced(cut, chunk_size=16))
    broken = tmp_path / "broken.txt"
    broken.write_text(text.replace('"7UPGT-12": {', '"7UPGT-12": {"x" 1, ', 1))
    with pytest.raises(DatasetFormatError, match=r"broken\.txt: after question .*invalid JSON"):
        list(iter_balanced(broken))
    with pytest.raises(DatasetFormatError, match="one JSON object"):
        list(iter_balanced(write_json(tmp_path / "list.txt", [1, 2])))
    trailing = tmp_path / "trailing.txt"
    trailing.write_text(text + " {}")
    with pytest.raises(DatasetFormatError, match="after the closing"):
        list(iter_balanced(trailing))
    with pytest.raises(DatasetFormatError, match=r"absent\.txt: cannot read"):
        list(iter_balanced(tmp_path / "absent.txt"))


def test_csv_rows_and_errors(tmp_path):
    path = tmp_path / "Train_frameqa_question-balanced.csv"
    path.write_text(
        ",key,question,answer,vid_id,gif_name,description\n"
        '0,YSKX3-8,"Did they hold a phone, then a cup?",yes,17,YSKX3,"holding, phone"\n'
        "1,7UPGT-12,What did they hold?,cup,3,7UPGT,\n",
        encoding="utf-8",
    )
    rows = list(iter_csv(path))
    assert rows[0] == AGQACsvRow(
        0, "YSKX3-8", "Did they hold a phone, then a cup?", "yes", "17", "YSKX3", "holding, phone"
    )
    assert rows[1].gif_name == "7UPGT" and rows[1].description == ""
    path.write_text(path.read_text() + "2,X-1,too,few\n")
    with pytest.raises(DatasetFormatError, match=r"balanced\.csv: line 4: 4 columns"):
        list(iter_csv(path))
    header = tmp_path / "header.csv"
    header.write_text("key,question,answer\n")
    with pytest.raises(DatasetFormatError, match=r"header\.csv: line 1: header"):
        list(iter_csv(header))


def write_rx(folder, split: bool):
    """An HCRN-layout feature set: 3 videos, 8 clips, 4 frames per clip."""
    rng = np.random.default_rng(0)
    ids = np.array([17, 3, 42])
    resnet = rng.standard_normal((3, 8, 4, 2048)).astype(np.float32)
    resnext = rng.standard_normal((3, 8, 2048)).astype(np.float32)
    appearance = folder / "agqa_appearance_feat.h5"
    motion = folder / "agqa_motion_feat.h5" if split else appearance
    with h5py.File(appearance, "w") as f:
        f["ids"], f["resnet_features"] = ids, resnet
    with h5py.File(motion, "a") as f:
        if split:
            f["ids"] = ids[::-1]  # the motion file may list the videos in another order
            f["resnext_features"] = resnext[::-1]
        else:
            f["resnext_features"] = resnext
    id_map = write_json(folder / "strID2numID.json", {"YSKX3": 17, "7UPGT": "3", "NOFT1": 99})
    return appearance, (motion if split else None), id_map, resnet, resnext


@pytest.mark.parametrize("split", [False, True])
def test_rx_features(tmp_path, split):
    appearance, motion, id_map, resnet, resnext = write_rx(tmp_path, split)
    rx = RXFeatures(appearance, id_map, motion=motion)
    assert rx.ids() == ["7UPGT", "YSKX3"] and "YSKX3" in rx and "NOFT1" not in rx
    x = rx.get("YSKX3")
    assert x.shape == (8, 4096) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, :2048], resnet[0].mean(axis=1), rtol=1e-6)
    np.testing.assert_allclose(x[:, 2048:], resnext[0])
    np.testing.assert_allclose(rx.get("7UPGT")[:, 2048:], resnext[1])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(rx)).get("YSKX3"), x)
    with pytest.raises(MissingFeaturesError, match=r"'ABCDE' in .*strID2numID\.json"):
        rx.get("ABCDE")
    with pytest.raises(MissingFeaturesError, match=r"'NOFT1' in .*appearance_feat\.h5"):
        rx.get("NOFT1")


def test_rx_layout_errors(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["ids"] = np.arange(2)
        f["resnet_features"] = np.zeros((2, 8, 2048), np.float32)  # frames axis missing
    id_map = write_json(tmp_path / "map.json", {"A": 0})
    with pytest.raises(DatasetFormatError, match=r"bad\.h5: resnet_features: shape"):
        RXFeatures(tmp_path / "bad.h5", id_map)
    with h5py.File(tmp_path / "noids.h5", "w") as f:
        f["resnet_features"] = np.zeros((2, 8, 4, 2048), np.float32)
    with pytest.raises(DatasetFormatError, match=r"noids\.h5: no dataset 'ids'"):
        RXFeatures(tmp_path / "noids.h5", id_map)
    with pytest.raises(DatasetFormatError, match=r"map2\.json: .*integers"):
        RXFeatures(tmp_path / "bad.h5", write_json(tmp_path / "map2.json", {"A": "x"}))


def test_i3d_features(tmp_path):
    rng = np.random.default_rng(0)
    long = rng.standard_normal((150, 1024)).astype(np.float32)
    np.save(tmp_path / "YSKX3.npy", long)
    np.save(tmp_path / "7UPGT.npy", long[:9])
    np.save(tmp_path / "BAD00.npy", np.zeros(1024, np.float32))
    i3d = I3DFeatures(tmp_path)
    assert i3d.ids() == ["7UPGT", "BAD00", "YSKX3"] and "YSKX3" in i3d and "NOPE1" not in i3d
    np.testing.assert_array_equal(i3d.get("YSKX3"), long[::2][:64])
    assert i3d.get("YSKX3").shape == (64, 1024) and i3d.get("7UPGT").shape == (5, 1024)
    assert I3DFeatures(tmp_path, subsample=False).get("YSKX3").shape == (150, 1024)
    with pytest.raises(MissingFeaturesError, match=r"'NOPE1' in .*NOPE1\.npy"):
        i3d.get("NOPE1")
    with pytest.raises(DatasetFormatError, match=r"BAD00\.npy: shape \(1024,\)"):
        i3d.get("BAD00")
