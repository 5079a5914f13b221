"""NExT-QA's real CSV rows -> `prepare_nextqa` -> dataset-folder records; malformed rows name file and line."""

import json
import re
from pathlib import Path

import pytest

from stair.data.dataset import DatasetFormatError, iter_questions
from stair.data.nextqa.files import HEADER, iter_nextqa
from stair.data.nextqa.prepare import prepare_nextqa

#: the header and first 12 rows of NExT-QA's val.csv (DATASETS.md)
FIXTURE = Path(__file__).parent / "data" / "nextqa_val_head.csv"
ROWS = FIXTURE.read_text(encoding="utf-8").splitlines()


def _csv(tmp_path, name, lines):
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_fixture_rows_become_records_with_ids_options_type_and_answer(tmp_path):
    val = _csv(tmp_path, "val.csv", ROWS)
    summary = prepare_nextqa(tmp_path / "out", [val])
    assert summary.sizes == {"val": 12} and summary.skipped == 0 and summary.videos == 12
    records = list(iter_questions(tmp_path / "out" / "questions" / "val.jsonl"))
    assert len(records) == 12
    first = records[0]  # 4010069381,369,640,480,how do the two man play the instrument,0,6,CH,...
    assert first.qid == "4010069381_6" and first.video_id == "4010069381"
    assert first.question == "how do the two man play the instrument"
    assert first.metadata.options == ("roll the handle", "tap their feet", "strum the string",
                                      "hit with sticks", "pat with hand")  # fmt: skip
    assert first.answer == "roll the handle"
    assert (first.metadata.template, first.metadata.family) == ("CH", "Causal")
    assert first.metadata.answer_type == "multiple_choice" and first.metadata.clip is None
    assert first.program == "" and first.golds == {}
    second = records[
        1
    ]  # answer 2 of "share with the girl,approach lady sitting there,unwrap it,..."
    assert second.answer == "unwrap it" and second.metadata.family == "Causal"
    assert [r.metadata.template for r in records].count("TN") == 3
    assert records[-1].metadata.family == "Temporal"  # TC
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["programs"] == "none" and meta["benchmark"] == "nextqa"
    assert meta["sizes"] == {"val": 12} and meta["answers"] == "multiple_choice"
    videos = json.loads((tmp_path / "out" / "videos.json").read_text())["videos"]
    assert videos["2834146886"] == {"path": None, "frames": 1881, "width": 496, "height": 370}


def test_one_split_per_file_and_the_video_map(tmp_path):
    train = _csv(tmp_path, "train.csv", ROWS[:7])
    test = _csv(tmp_path, "test.csv", [ROWS[0], *ROWS[7:]])
    vmap = tmp_path / "map_vid_vidorID.json"
    vmap.write_text(json.dumps({r.split(",")[0]: f"10{i:02d}/{r.split(',')[0]}"
                                for i, r in enumerate(ROWS[1:])}))  # fmt: skip
    summary = prepare_nextqa(tmp_path / "out", [train, test], vmap, tmp_path / "vidor")
    assert summary.sizes == {"test": 6, "train": 6}
    videos = json.loads((tmp_path / "out" / "videos.json").read_text())
    assert videos["root"] == str((tmp_path / "vidor").resolve())
    assert videos["videos"]["4010069381"]["path"] == "1000/4010069381.mp4"
    with pytest.raises(DatasetFormatError, match="split 'train' already comes from"):
        prepare_nextqa(tmp_path / "again", [train, tmp_path / "other" / "train.csv"])


def test_a_video_missing_from_the_map_is_a_malformed_row(tmp_path):
    val = _csv(tmp_path, "val.csv", ROWS[:3])
    vmap = tmp_path / "map.json"
    vmap.write_text(json.dumps({"4010069381": "1000/4010069381"}))
    with pytest.raises(DatasetFormatError, match=r"val.csv: line 3: video 4882821564 is not in"):
        prepare_nextqa(tmp_path / "out", [val], vmap)


BAD = [
    (ROWS[1].replace(",0,6,CH,", ",7,6,CH,"), "answer index 7 is not one of 0..4"),
    (ROWS[1].replace(",0,6,CH,", ",0,6,XX,"), "unknown question type 'XX'"),
    (ROWS[1].replace(",0,6,CH,", ",0,six,CH,"), "column 'qid' must be a whole number"),
    (ROWS[1].rsplit(",", 1)[0], "fewer columns than the header's 13"),
    (ROWS[1] + ",extra", "more columns than the header's 13"),
    (ROWS[1].replace(",pat with hand", ","), "option 'a4' is empty"),
]


@pytest.mark.parametrize(("row", "reason"), BAD)
def test_a_malformed_row_names_the_file_and_the_line(tmp_path, row, reason):
    path = _csv(tmp_path, "val.csv", [ROWS[0], ROWS[2], row, ROWS[3]])
    with pytest.raises(DatasetFormatError, match=r"val\.csv: line 3: ") as err:
        list(iter_nextqa(path))
    assert reason in str(err.value) and err.value.where == "line 3"


def test_a_bad_header_and_a_missing_file_stop_the_read(tmp_path):
    path = _csv(tmp_path, "val.csv", [ROWS[0].replace("qid", "question_id"), ROWS[1]])
    with pytest.raises(DatasetFormatError, match="line 1: header lacks column"):
        list(iter_nextqa(path))
    with pytest.raises(DatasetFormatError, match="cannot read"):
        list(iter_nextqa(tmp_path / "absent.csv"))
    latin = tmp_path / "latin.csv"
    latin.write_bytes((",".join(HEADER) + "\n").encode() + b"1,2,3,4,caf\xe9,0,1,CW,a,b,c,d,e\n")
    with pytest.raises(DatasetFormatError, match="not UTF-8"):
        list(iter_nextqa(latin))


def test_skip_bad_reports_malformed_and_repeated_rows_and_keeps_the_rest(tmp_path):
    bad = ROWS[1].replace(",0,6,CH,", ",9,6,CH,")
    path = _csv(tmp_path, "val.csv", [*ROWS, bad, ROWS[2]])
    with pytest.raises(DatasetFormatError, match="line 14: answer index 9"):
        prepare_nextqa(tmp_path / "stop", [path])
    assert not (tmp_path / "stop" / "questions" / "val.jsonl").exists()  # nothing half-written
    summary = prepare_nextqa(tmp_path / "out", [path], skip_bad=True)
    assert summary.sizes == {"val": 12} and summary.skipped == 2
    report = [json.loads(line) for line in (tmp_path / "out" / "prepare_report.jsonl").open()]
    assert [r["where"] for r in report] == ["line 14", "line 15"]
    assert "answer index 9" in report[0]["reason"] and report[0]["file"] == str(path)
    assert "question id '4882821564_1' repeats" in report[1]["reason"]


def test_options_and_clip_round_trip_and_are_checked(tmp_path):
    val = _csv(tmp_path, "val.csv", ROWS[:2])
    prepare_nextqa(tmp_path / "out", [val])
    path = tmp_path / "out" / "questions" / "val.jsonl"
    line = json.loads(path.read_text())
    assert "clip" not in line["metadata"]  # unset optional fields are not written
    line["metadata"]["clip"] = [1.5, 4]
    path.write_text(json.dumps(line) + "\n")
    (record,) = iter_questions(path)
    assert record.metadata.clip == (1.5, 4) and record.to_json()["metadata"]["clip"] == [1.5, 4]
    for field, value, reason in (("clip", [1.5], "'clip' must be [start, end]"),
                                 ("options", "a,b", "'options' must be a list of strings")):  # fmt: skip
        line["metadata"][field] = value
        path.write_text(json.dumps(line) + "\n")
        with pytest.raises(
            DatasetFormatError, match=r"val\.jsonl: line 1: metadata " + re.escape(reason)
        ):
            list(iter_questions(path))
        line["metadata"][field] = [1.5, 4] if field == "clip" else []
