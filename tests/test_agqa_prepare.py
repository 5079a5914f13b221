"""AGQA files in their real formats -> `stair prepare-agqa` -> a folder QADataModule trains on."""

import json
import pickle

import h5py
import numpy as np

from stair.cli import main
from stair.data.datamodule import QADataModule
from tests.test_agqa_graph import NAMES, _agqa_video

HOLD = "Exists(cup, Iterate(Localize(while, drinking from a cup), Filter(frame, [relations, holding, objects])))"
QUERY = "Query(class, OnlyItem(Iterate(Localize(while, drinking from a cup), Filter(frame, [relations, holding, objects]))))"
LOOK = "Exists(table, Iterate(video, Filter(frame, [relations, looking at, objects])))"


def _record(question, answer, program, ans_type="binary", **extra):
    return {"question": question, "answer": answer, "video_id": "YSKX3", "global": ["obj-rel", "exists"],
            "local": "objrel-exists", "ans_type": ans_type, "steps": 3, "semantic": "object",
            "structural": "verify" if ans_type == "binary" else "query", "novel_comp": 0,
            "more_steps": 0, "program": program, "sg_grounding": {"0-4": ["o9"]}, **extra}  # fmt: skip


def _fixtures(tmp_path):
    train = {
        f"YSKX3-{i}": _record("Were they holding a cup while drinking from a cup?", "Yes", HOLD)
        for i in range(12)
    }
    train["YSKX3-99"] = _record(
        "broken", "Yes", "Exists(cup, Iterate(video, Filter(frame, [objects]))"
    )
    test_flags = {"nc_seq": 0, "nc_sup": 0, "nc_dur": 0, "nc_objrel": 1, "indirect": 0, "i_obj": 0,
                  "i_rel": 0, "i_act": 0, "i_temp": 0, "direct_equiv": None}  # fmt: skip
    test = {
        "YSKX3-t0": _record(
            "What were they holding while drinking?", "cup", QUERY, "open", **test_flags
        ),
        "YSKX3-t1": {
            **_record("Were they looking at a table?", "Yes", LOOK, **test_flags),
            "novel_comp": 1,
        },
    }
    (tmp_path / "train_balanced.txt").write_text(json.dumps(train))
    (tmp_path / "test_balanced.txt").write_text(json.dumps(test))
    with h5py.File(tmp_path / "rx.h5", "w") as f:
        f["ids"] = np.array([17])
        f["resnet_features"] = (
            np.random.default_rng(0).normal(size=(1, 8, 4, 2048)).astype(np.float32)
        )
        f["resnext_features"] = (
            np.random.default_rng(1).normal(size=(1, 8, 2048)).astype(np.float32)
        )
    (tmp_path / "strID2numID.json").write_text(json.dumps({"YSKX3": 17}))
    (tmp_path / "stsgs.pkl").write_bytes(pickle.dumps({"YSKX3": _agqa_video()}))
    (tmp_path / "IDX.txt").write_text("\n".join(NAMES) + "\n")
    (tmp_path / "ENG.txt").write_text("\n".join(NAMES.values()) + "\n")


def test_prepare_agqa_end_to_end(tmp_path, capsys):
    _fixtures(tmp_path)
    out = tmp_path / "agqa"
    args = ["prepare-agqa", "--train", str(tmp_path / "train_balanced.txt"), "--test",
            str(tmp_path / "test_balanced.txt"), "--rx", str(tmp_path / "rx.h5"), "--id-map",
            str(tmp_path / "strID2numID.json"), "--scene-graphs", str(tmp_path / "stsgs.pkl"),
            "--names", str(tmp_path / "IDX.txt"), str(tmp_path / "ENG.txt"), "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "1 programs skipped" in printed and "agree on 100.0%" in printed
    report = [json.loads(line) for line in (out / "prepare_report.jsonl").read_text().splitlines()]
    assert [r["qid"] for r in report] == ["YSKX3-99"]
    meta = json.loads((out / "meta.json").read_text())
    assert meta["sizes"]["test"] == 2 and meta["sizes"]["test_novel"] == 1
    assert meta["sizes"]["train"] + meta["sizes"].get("val", 0) == 12
    test = [
        json.loads(line) for line in (out / "questions" / "test.jsonl").read_text().splitlines()
    ]
    assert test[0]["golds"]["0"]["items"] == ["cup"]
    assert "global:obj-rel" in test[0]["metadata"]["compositions"]

    dm = QADataModule(str(out), eval_batch_size=4)
    voc = dm.vocabularies
    assert (voc.feature_dim, voc.num_frames) == (4096, 8)
    assert "cup" in voc.concepts and "cup" in voc.answers
    dm.setup("test")
    batch = next(iter(dm.test_dataloader()[0]))
    assert batch.features.shape == (1, 8, 4096)
    assert batch.answers.tolist() == [voc.answer_vocabulary().index[a] for a in ("cup", "yes")]
    # the 8 clips cover the 3 key frames: the gold window of 'while drinking' maps onto clips
    localize = batch.golds[0][2]
    assert localize.shape == (8,) and 0 < localize.sum() < 8

    assert main(args) == 0  # a rerun resumes: the features are already there
