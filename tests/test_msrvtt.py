"""Hand-made MSRVTT-QA records in the published schema -> `prepare_msrvtt` -> records, the
answer vocabulary by training frequency, the video files; malformed records name file and record."""

import json

import pytest

from stair.data.dataset import DatasetFormatError, iter_questions
from stair.data.msrvtt.files import iter_msrvtt
from stair.data.msrvtt.prepare import prepare_msrvtt


def _q(id, video, question, answer, category=0):
    return {"id": id, "video_id": video, "question": question, "answer": answer,
            "category_id": category}  # fmt: skip


TRAIN = [
    _q(0, 0, "what is a man doing?", "sing"),
    _q(1, 0, "who is singing?", "man", 1),
    _q(2, 1, "what is a woman doing?", "cook"),
    _q(3, 1, "how many people are in the kitchen?", "two", 2),
    _q(4, 2, "what is a band doing?", "sing"),
    _q(5, 2, "where are the people?", "stage", 4),
]
TEST = [_q(6, 7010, "when does the man sing?", "night", 3), _q(7, 7010, "is this a song?", "yes")]


def _write(path, records):
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def test_records_videos_and_the_answer_vocabulary(tmp_path):
    files = [_write(tmp_path / "train_qa.json", TRAIN), _write(tmp_path / "test_qa.json", TEST)]
    summary = prepare_msrvtt(tmp_path / "out", files, tmp_path / "videos")
    assert summary.sizes == {"test": 2, "train": 6} and summary.videos == 4
    records = list(iter_questions(tmp_path / "out" / "questions" / "train.jsonl"))
    assert [r.qid for r in records] == ["0", "1", "2", "3", "4", "5"]
    assert records[0].video_id == "video0" and records[0].answer == "sing"
    assert [r.metadata.family for r in records] == ["what", "who", "what", "how", "what", "where"]
    assert records[3].metadata.template == "category:2"
    assert records[0].metadata.answer_type == "open" and records[0].metadata.options == ()
    test = list(iter_questions(tmp_path / "out" / "questions" / "test.jsonl"))
    assert [r.metadata.family for r in test] == ["when", "other"]
    vocab = json.loads((tmp_path / "out" / "vocab.json").read_text())
    assert vocab["answers"] == ["sing", "cook", "man", "stage", "two"]  # by count, then name
    videos = json.loads((tmp_path / "out" / "videos.json").read_text())
    assert videos["videos"]["video7010"] == {"path": "video7010.mp4"}
    assert videos["root"] == str((tmp_path / "videos").resolve())
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["programs"] == "none" and meta["answers"] == "open"


BAD = [
    ({"id": "8"}, "field 'id' must be a non-negative integer"),
    ({"video_id": -1}, "field 'video_id' must be a non-negative integer"),
    ({"answer": ""}, "field 'answer' must be a non-empty string"),
    ({"question": None}, "field 'question' must be a non-empty string"),
    ({"category_id": True}, "field 'category_id' must be a non-negative integer"),
]


@pytest.mark.parametrize(("change", "reason"), BAD)
def test_a_malformed_record_names_the_file_and_the_record(tmp_path, change, reason):
    path = _write(tmp_path / "val_qa.json", [TRAIN[0], TRAIN[1], {**TRAIN[2], **change}])
    with pytest.raises(DatasetFormatError, match=r"val_qa.json: record 2") as err:
        list(iter_msrvtt(path))
    assert reason in err.value.reason


def test_skip_bad_lists_the_records_and_keeps_the_rest(tmp_path):
    path = _write(tmp_path / "val_qa.json", [TRAIN[0], "not a record", TRAIN[1], TRAIN[1]])
    with pytest.raises(DatasetFormatError, match="record 1: record is a str"):
        prepare_msrvtt(tmp_path / "stop", [path])
    summary = prepare_msrvtt(tmp_path / "out", [path], skip_bad=True)
    assert summary.sizes == {"val": 2} and summary.skipped == 2
    report = [json.loads(x) for x in (tmp_path / "out" / "prepare_report.jsonl").open()]
    assert [r["where"] for r in report] == ["record 1", "record 3 (id 1)"]
    assert "question id '1' repeats" in report[1]["reason"]


def test_a_file_that_is_not_one_json_list_stops(tmp_path):
    (tmp_path / "val_qa.json").write_text("\n".join(json.dumps(q) for q in TRAIN))  # JSON lines
    with pytest.raises(DatasetFormatError, match=r"record 0 .*expected a JSON list"):
        prepare_msrvtt(tmp_path / "out", [tmp_path / "val_qa.json"], skip_bad=True)
    assert not (tmp_path / "out" / "meta.json").exists()
    (tmp_path / "val_qa.json").write_text(json.dumps(TRAIN)[:-1] + " {")
    with pytest.raises(DatasetFormatError, match=r"record 6 \(character \d+\)"):
        list(iter_msrvtt(tmp_path / "val_qa.json"))
    (tmp_path / "val_qa.json").write_bytes(b'[{"id": 1, "question": "caf\xe9"}]')
    with pytest.raises(DatasetFormatError, match="not UTF-8"):
        list(iter_msrvtt(tmp_path / "val_qa.json"))
