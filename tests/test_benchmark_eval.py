"""Evaluation in each benchmark's terms: accuracy per type code and group, the fallback share,
the printed tables, STAR's evaluation-server JSON; STAR golds from its situation graphs reach
the batch and supervise the program's steps."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from stair.data.datamodule import QADataModule
from stair.data.programs_source import ProgramStats, program_line, record_generated
from stair.data.star.prepare import prepare_star
from stair.data.star.submission import star_submission
from stair.engine.metrics import Tally, add_answers, benchmark_table
from stair.engine.network import Network
from stair.errors import DatasetFormatError
from stair.programs import compile_program, load_scene_graphs, to_tokens
from stair.train.callbacks import PredictionWriter
from stair.train.system import LitSTAIR
from tests.benchmark_folders import add_features
from tests.test_star import CLASSES, _record, _write

META = [{"template": "CW", "family": "Causal", "fallback": False},
        {"template": "CH", "family": "Causal", "fallback": True},
        {"template": "TN", "family": "Temporal", "fallback": False}]  # fmt: skip


def test_nextqa_accuracy_per_type_code_group_and_fallback():
    tally = Tally()
    add_answers(tally, torch.tensor([True, False, True]), META)
    out = tally.compute()
    assert out["acc"] == pytest.approx(2 / 3) and out["template/CW"] == 1.0
    assert out["family/Causal"] == 0.5 and out["template/CH"] == 0.0
    assert out["fallback"] == pytest.approx(1 / 3)
    assert out["fallback/acc"] == 0.0 and out["program/acc"] == 1.0
    table = benchmark_table({"val": out}, "nextqa").splitlines()
    assert [line.split()[0] for line in table[1:]] == [
        "CW",
        "CH",
        "Causal",
        "TN",
        "Temporal",
        "acc",
        "fallback",
        "fallback/acc",
        "program/acc",
    ]
    assert table[3].split() == ["Causal", "50.00"]
    assert benchmark_table({"val": out}, "agqa") == ""


def test_star_submission_groups_choices_by_question_type(tmp_path):
    rows = [{"qid": "Interaction_T1_13", "choice": 2, "answer": "The clothes."},
            {"qid": "Feasibility_T5_1", "choice": 0, "answer": "x"}]  # fmt: skip
    writer = PredictionWriter(str(tmp_path / "p.jsonl"), str(tmp_path / "star.json"))
    trainer = SimpleNamespace(log_dir=str(tmp_path), default_root_dir=str(tmp_path),
                              world_size=1, global_rank=0)  # fmt: skip
    writer.write_on_epoch_end(trainer, None, [[rows]], None)
    server = json.loads((tmp_path / "star.json").read_text())
    assert server == {"Interaction": [{"question_id": "Interaction_T1_13", "answer": 2}],
                      "Sequence": [], "Prediction": [],
                      "Feasibility": [{"question_id": "Feasibility_T5_1", "answer": 0}]}  # fmt: skip
    with pytest.raises(DatasetFormatError, match="row 1"):
        star_submission([{"qid": "what_1", "choice": 0}])


@pytest.fixture
def star(tmp_path):
    classes = tmp_path / "STAR_classes"
    classes.mkdir()
    for name, text in CLASSES.items():
        (classes / name).write_text(text)
    records = [_record(), _record("Interaction_T1_14", "The blanket.")]
    for split in ("train", "val"):
        _write(tmp_path / f"STAR_{split}.json", records)
    out = tmp_path / "star"
    prepare_star(out, [tmp_path / "STAR_train.json", tmp_path / "STAR_val.json"], classes)
    return out


def test_star_golds_from_the_situation_graph_supervise_the_steps(star):
    graph = load_scene_graphs(star / "scene_graphs.json")["6H78U_11.1_19.6"]
    held = to_tokens(
        compile_program(
            "Exists(clothes, Iterate(video, Filter(frame, [relations, holding, objects])))"
        )
    )
    unknown = to_tokens(
        compile_program(  # the clip has no kite flying: the run reports it
            "Exists(clothes, Iterate(Localize(before, flying a kite), Filter(frame, [objects])))"
        )
    )
    stats, lines = {}, []
    for split in ("train", "val"):
        for qid, tokens in (("Interaction_T1_13", held), ("Interaction_T1_14", unknown)):
            found = stats.setdefault(split, ProgramStats())
            lines.append(program_line(qid, [(tokens, -0.2)], graph, found))
    (star / "programs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    record_generated(star, "generator:test", stats)
    shares = json.loads((star / "meta.json").read_text())["generated"]["val"]
    assert shares["question_gold_share"] == 0.5 and shares["step_gold_share"] == 0.3333
    # held in the first of the clip's three graph frames: the Exists gold says where, too
    assert lines[0]["golds"]["0"] == {
        "type": "Bool",
        "value": True,
        "frames": [[0, 1]],
        "window": [[0, 3]],
        "category": "objects",
        "members": {"clothes": [[0, 1]]},
    }
    add_features(star, ["6H78U_11.1_19.6"])
    dm = QADataModule(str(star), batch_size=2)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch.golds[0] and not batch.golds[1]  # the second program does not fit the graph
    lit = LitSTAIR(dm.vocabularies, network=Network(hidden=16, word_dim=8, dropout=0.0))
    parts = lit.losses(batch, lit(batch))
    assert parts["intermediate"] > 0
