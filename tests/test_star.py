"""Hand-made STAR records in the published schema -> `prepare_star` -> records, clip videos and
scene graphs the symbolic executor runs on; malformed records name the file and the record."""

import json

import pytest

from stair.data.dataset import DatasetFormatError, iter_questions
from stair.data.json_stream import iter_json_list
from stair.data.star.classes import load_star_classes
from stair.data.star.files import iter_star
from stair.data.star.prepare import prepare_star
from stair.programs import compile_program, evaluate, load_scene_graphs

CLASSES = {  # a subset of STAR_classes, same ids and names
    "object_classes.txt": "o000 person\no003 closet/cabinet\no004 blanket\no006 table\no019 clothes\n",
    "relationship_classes.txt": "r002 in_front_of\nr009 holding\nr019 touching\nr023 near\n",
    "action_classes.txt": "a000 hold some clothes\na004 tidy some clothes\n",
    "verb_classes.txt": "v004 hold\nv012 tidy\n",
    "action_mapping.txt": "a000 v004 o019\na004 v012 o019\n",
}
CHOICES = ["The closet/cabinet.", "The blanket.", "The clothes.", "The table."]


def _situation(pairs, labels, actions, objects):
    return {"rel_pairs": pairs, "rel_labels": labels, "actions": actions,
            "bbox": [[0.0, 0.0, 10.0, 10.0] for _ in objects], "bbox_labels": objects}  # fmt: skip


def _record(qid="Interaction_T1_13", answer="The clothes.", **extra):
    """STAR's public example: video 6H78U, 11.1-19.6 s, the clothes were tidied up."""
    return {
        "question_id": qid, "question": "Which object was tidied up by the person?",
        "video_id": "6H78U", "start": 11.1, "end": 19.6, "answer": answer,
        "question_program": [{"function": "Situations", "value_input": []},
                             {"function": "Actions", "value_input": []}],
        "choices": [{"choice_id": i, "choice": c, "choice_program": []}
                    for i, c in enumerate(CHOICES)],
        "situations": {
            "000336": _situation([["o000", "o019"], ["o000", "o006"]], ["r009", "r002"],
                                 ["a000"], ["o000", "o019", "o006"]),
            "000360": _situation([["o000", "o019"], ["o019", "o006"]], ["r019", "r023"],
                                 ["a000", "a004"], ["o019", "o006"]),
            "000420": _situation([["o000", "o004"]], ["r023"], ["a004"], ["o004"]),
        },
        **extra,
    }  # fmt: skip


def _write(path, records):
    path.write_text(json.dumps(records, indent=1), encoding="utf-8")
    return path


@pytest.fixture
def classes(tmp_path):
    folder = tmp_path / "STAR_classes"
    folder.mkdir()
    for name, text in CLASSES.items():
        (folder / name).write_text(text)
    return folder


def test_records_keep_star_ids_choices_clip_and_type(tmp_path, classes):
    train = _write(tmp_path / "STAR_train.json",
                   [_record(), _record("Sequence_T3_7", "The blanket.")])  # fmt: skip
    test = {k: v for k, v in _record("Prediction_T4_2").items() if k != "answer"}
    summary = prepare_star(tmp_path / "out", [train, _write(tmp_path / "STAR_test.json", [test])],
                           classes, tmp_path / "Charades")  # fmt: skip
    assert summary.sizes == {"test": 1, "train": 2} and summary.scene_graphs == 1
    first, second = iter_questions(tmp_path / "out" / "questions" / "train.jsonl")
    assert first.qid == "Interaction_T1_13" and first.video_id == "6H78U_11.1_19.6"
    assert first.answer == "The clothes." and first.metadata.options == tuple(CHOICES)
    assert first.metadata.clip == (11.1, 19.6)
    assert (first.metadata.family, first.metadata.template) == ("Interaction", "T1")
    assert (second.metadata.family, second.answer) == ("Sequence", "The blanket.")
    (hidden,) = iter_questions(tmp_path / "out" / "questions" / "test.jsonl")
    assert hidden.answer == "" and hidden.metadata.family == "Prediction"
    videos = json.loads((tmp_path / "out" / "videos.json").read_text())
    assert videos["videos"] == {"6H78U_11.1_19.6": {"path": "6H78U.mp4", "video": "6H78U",
                                                    "start": 11.1, "end": 19.6}}  # fmt: skip
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["programs"] == "none" and meta["scene_graphs"] == 1


def test_situations_become_a_scene_graph_the_executor_runs_on(tmp_path, classes):
    path = _write(tmp_path / "STAR_val.json", [_record()])
    prepare_star(tmp_path / "out", [path], classes, fps=30.0)
    graph = load_scene_graphs(tmp_path / "out" / "scene_graphs.json")["6H78U_11.1_19.6"]
    assert graph.num_frames == 3
    assert [round(graph.time_of(i), 3) for i in range(3)] == [0.1, 0.9, 2.9]  # frame/30 - 11.1
    f0, f1, f2 = graph.frames
    assert f0.objects == {"clothes", "table"}  # the person is the relations' subject
    assert f0.relations == {("holding", "clothes"), ("in front of", "table")}
    assert f1.relations == {("touching", "clothes")}  # clothes-near-table has no subject person
    assert f2.objects == {"blanket"} and f2.relations == {("near", "blanket")}
    spans = {(a.phrase, a.verb, a.object, a.start, a.end) for a in graph.actions}
    assert spans == {("hold some clothes", "hold", "clothes", 0, 2),
                     ("tidy some clothes", "tidy", "clothes", 1, 3)}  # fmt: skip
    vocab = json.loads((tmp_path / "out" / "vocab.json").read_text())
    assert vocab["objects"] == ["blanket", "clothes", "table"]
    assert "in front of" in vocab["relations"]
    held = "Exists(clothes, Iterate(video, Filter(frame, [relations, holding, objects])))"
    result = evaluate(compile_program(held), graph)
    assert result.answer == "yes" and result.golds_json()
    blanket = "Exists(blanket, Iterate(Localize(while, hold some clothes), Filter(frame, [relations, near, objects])))"
    assert evaluate(compile_program(blanket), graph).answer == "no"


def test_questions_of_one_clip_share_a_graph_joining_their_situations(tmp_path, classes):
    other = _record("Interaction_T1_14")
    other["situations"] = {"000500": _situation([["o000", "o003"]], ["r019"], [], ["o003"])}
    prepare_star(
        tmp_path / "out", [_write(tmp_path / "STAR_val.json", [_record(), other])], classes
    )
    graph = load_scene_graphs(tmp_path / "out" / "scene_graphs.json")["6H78U_11.1_19.6"]
    assert graph.num_frames == 4 and graph.frames[3].relations == {("touching", "closet/cabinet")}


def test_without_class_lists_questions_are_written_and_no_graphs(tmp_path):
    summary = prepare_star(tmp_path / "out", [_write(tmp_path / "STAR_val.json", [_record()])])
    assert summary.sizes == {"val": 1} and summary.scene_graphs == 0
    assert not (tmp_path / "out" / "scene_graphs.json").exists()


BAD = [
    ({"answer": "The sofa."}, "answer 'The sofa.' is not one of the choices"),
    ({"start": "soon"}, "field 'start' must be a number of seconds"),
    ({"end": 3.0}, "clip ends (3.0) before it starts (11.1)"),
    (
        {"choices": [{"choice_id": 0, "choice": "a"}, {"choice_id": 2, "choice": "b"}]},
        "choice ids [0, 2] are not 0..1",
    ),
    ({"question_id": "Why_T1_1"}, "does not start with one of"),
    ({"situations": []}, "field 'situations' must be an object"),
]


@pytest.mark.parametrize(("change", "reason"), BAD)
def test_a_malformed_record_names_the_file_and_the_record(tmp_path, change, reason):
    path = _write(tmp_path / "STAR_val.json", [_record(), _record("Interaction_T1_2", **change)])
    with pytest.raises(DatasetFormatError, match=r"STAR_val.json: record 1 ") as err:
        list(iter_star(path))
    assert reason in err.value.reason


def test_malformed_situations_are_reported_with_their_frame(tmp_path, classes):
    bad = _record("Interaction_T1_2")
    bad["situations"]["000360"]["rel_labels"] = ["r009", "r777"]
    path = _write(tmp_path / "STAR_val.json", [_record(), bad])
    with pytest.raises(DatasetFormatError,
                       match=r"record 1 \(Interaction_T1_2\): situation of frame 000360: unknown relation id 'r777'"):  # fmt: skip
        prepare_star(tmp_path / "out", [path], classes)
    summary = prepare_star(tmp_path / "skip", [path], classes, skip_bad=True)
    assert summary.sizes == {"val": 1} and summary.skipped == 1
    (line,) = (tmp_path / "skip" / "prepare_report.jsonl").read_text().splitlines()
    assert json.loads(line)["where"] == "record 1 (Interaction_T1_2)"


def test_a_file_that_is_not_a_json_list_stops_with_where(tmp_path):
    whole = json.dumps([_record(), _record("Interaction_T1_2")])
    (tmp_path / "STAR_val.json").write_text(whole[: len(whole) // 2 + 40] + "}}]")
    with pytest.raises(DatasetFormatError, match=r"record 1 \(character \d+\): invalid JSON"):
        list(iter_star(tmp_path / "STAR_val.json"))
    (tmp_path / "STAR_val.json").write_text(json.dumps({"questions": []}))
    with pytest.raises(DatasetFormatError, match=r"record 0 .*expected a JSON list"):
        list(iter_star(tmp_path / "STAR_val.json"))


def test_the_list_is_streamed_in_small_chunks_as_json_load_reads_it(tmp_path):
    records = [_record(f"Interaction_T1_{i}") for i in range(5)] + [[], 3, "x", {"a": [1, {}]}]
    path = _write(tmp_path / "list.json", records)
    assert [v for _, v in iter_json_list(path, chunk_size=7)] == records
    (tmp_path / "empty.json").write_text(" [ ] \n")
    assert list(iter_json_list(tmp_path / "empty.json")) == []
    (tmp_path / "tail.json").write_text("[1, 2] 3")
    with pytest.raises(DatasetFormatError, match="unexpected data after the closing"):
        list(iter_json_list(tmp_path / "tail.json"))


def test_class_lists_name_their_file_and_line(tmp_path, classes):
    names = load_star_classes(classes)
    assert names.relations["r002"] == "in front of" and names.action("a004") == (
        "tidy some clothes", "tidy", "clothes")  # fmt: skip
    (classes / "verb_classes.txt").write_text("v004 hold\nv012\n")
    with pytest.raises(
        DatasetFormatError, match=r"verb_classes.txt: line 2: expected '<id> <name>'"
    ):
        load_star_classes(classes)
