"""AGQA's pickled vertex graphs (cyclic next/prev links) -> STAIR scene graphs."""

import itertools
import pickle

import pytest

from stair.data.agqa.graph import from_agqa, load_agqa_names, load_agqa_scene_graphs
from stair.programs import SceneGraphError, compile_program, evaluate


def _agqa_video() -> dict:
    """Three key frames; a person holds a cup (contact) in 105 and 130 while drinking (c106)."""
    graph: dict = {}
    frames = []
    for number, secs in (("000080", 3.2), ("000105", 4.2), ("000130", 5.2)):
        frame = {"secs": secs, "objects": [], "attention": [], "contact": [], "spatial": [],
                 "verb": [], "actions": [], "metadata": {"tag": "x"}}  # fmt: skip
        graph[number] = frame
        frames.append(frame)
        cup = {"class": "o9", "bbox": [1, 2, 3, 4], "visible": True, "secs": secs}
        table = {"class": "o31", "visible": True, "secs": secs}
        graph[f"o9/{number}"], graph[f"o31/{number}"] = cup, table
        frame["objects"] = [cup, table]
        look = {"type": "attention", "class": "r1", "objects": [table], "secs": secs}
        frame["attention"].append(look)
        graph[f"r1/{number}"] = look
        if number != "000080":
            hold = {"type": "contact", "class": "r17", "objects": [cup], "secs": secs}
            frame["contact"].append(hold)
            cup["contact"] = [hold]  # object -> relation -> object: a cycle
            graph[f"r17/{number}"] = hold
    for prev, nxt in itertools.pairwise(frames):
        prev["next"], nxt["prev"] = nxt, prev  # cyclic links, as in the real pickles
    action = {"charades": "c106", "phrase": "drinking from a cup", "start": 4.0, "end": 5.5,
              "length": 1.5, "all_f": [frames[1], "000130"], "verb": "v8", "object_id": "o9"}  # fmt: skip
    graph["c106/1"] = action
    for f in frames[1:]:
        f["actions"].append(action)
    return graph


NAMES = {"o9": "cup", "o31": "table", "r1": "looking at", "r17": "holding", "v8": "drinking from"}


def test_adapter_reads_frames_relations_and_actions(tmp_path):
    path = tmp_path / "AGQA_test_stsgs.pkl"
    path.write_bytes(pickle.dumps({"YSKX3": _agqa_video()}))
    graph = load_agqa_scene_graphs(path, NAMES)["YSKX3"]
    assert graph.num_frames == 3
    assert graph.times == (3.2, 4.2, 5.2)
    assert graph.frames[0].objects == {"cup", "table"}
    assert graph.frames[0].relations == {("looking at", "table")}
    assert graph.frames[1].relations == {("looking at", "table"), ("holding", "cup")}
    (action,) = graph.actions
    assert (action.phrase, action.start, action.end) == ("drinking from a cup", 1, 3)
    assert (action.verb, action.object) == ("drinking from", "cup")
    tree = compile_program(
        "Exists(cup, Iterate(Localize(while, drinking from a cup), Filter(frame, [relations, holding, objects])))"
    )
    assert evaluate(tree, graph).answer == "yes"


def test_adapter_without_names_keeps_ids():
    graph = from_agqa("YSKX3", _agqa_video())
    assert graph.frames[1].relations == {("r1", "o31"), ("r17", "o9")}


def test_names_files_and_errors(tmp_path):
    (tmp_path / "IDX.txt").write_text("o9\nr17\n")
    (tmp_path / "ENG.txt").write_text("cup\nholding\n")
    assert load_agqa_names(tmp_path / "IDX.txt", tmp_path / "ENG.txt") == {
        "o9": "cup",
        "r17": "holding",
    }
    path = tmp_path / "g.pkl"
    path.write_bytes(pickle.dumps({"YSKX3": _agqa_video()}))
    with pytest.raises(SceneGraphError, match=r"no scene graph for video\(s\) \['ZZZZZ'\]"):
        load_agqa_scene_graphs(path, video_ids=["ZZZZZ"])
    (tmp_path / "broken.pkl").write_bytes(b"not a pickle")
    with pytest.raises(SceneGraphError, match=r"broken\.pkl"):
        load_agqa_scene_graphs(tmp_path / "broken.pkl")
    with pytest.raises(SceneGraphError, match="no frame vertices"):
        from_agqa("EMPTY", {"c001/1": {"phrase": "x"}})
