"""`stair prepare nextqa|star|msrvtt|agqa`: one command per benchmark, `prepare-agqa` kept."""

import json
import shutil
from pathlib import Path

from stair.cli import COMMANDS, build_parser, main

FIXTURE = Path(__file__).parent / "data" / "nextqa_val_head.csv"


def test_prepare_nextqa_writes_one_split_per_csv(tmp_path, capsys):
    val, test = tmp_path / "val.csv", tmp_path / "test.csv"
    shutil.copy(FIXTURE, val)
    lines = FIXTURE.read_text().splitlines()
    test.write_text("\n".join(lines[:4]) + "\n")
    out = tmp_path / "nextqa"
    assert main(["prepare", "nextqa", "--csv", str(val), str(test), "--out", str(out)]) == 0
    assert "val 12" in capsys.readouterr().out
    assert json.loads((out / "meta.json").read_text())["sizes"] == {"test": 3, "val": 12}


def test_a_malformed_row_is_one_line_naming_file_and_line(tmp_path, capsys):
    lines = FIXTURE.read_text().splitlines()
    lines[4] = lines[4].replace(",TN,", ",ZZ,")
    (tmp_path / "val.csv").write_text("\n".join(lines) + "\n")
    argv = ["prepare", "nextqa", "--csv", str(tmp_path / "val.csv"), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("stair prepare: error: ")
    assert "val.csv: line 5: unknown question type 'ZZ'" in err
    assert main([*argv, "--skip-bad"]) == 0
    assert "1 records skipped (see" in capsys.readouterr().out


def test_prepare_star_and_msrvtt(tmp_path, capsys):
    star = [{"question_id": "Interaction_T1_13", "question": "Which object was tidied up by the person?",
             "video_id": "6H78U", "start": 11.1, "end": 19.6, "answer": "The clothes.",
             "choices": [{"choice_id": i, "choice": c} for i, c in enumerate(
                 ["The closet/cabinet.", "The blanket.", "The clothes.", "The table."])],
             "situations": {}}]  # fmt: skip
    (tmp_path / "STAR_val.json").write_text(json.dumps(star))
    star_file, star_out = str(tmp_path / "STAR_val.json"), str(tmp_path / "s")
    assert main(["prepare", "star", "--json", star_file, "--out", star_out]) == 0
    assert json.loads((tmp_path / "s" / "meta.json").read_text())["sizes"] == {"val": 1}
    qa = [{"id": 3, "video_id": 9, "question": "who sings?", "answer": "man", "category_id": 1}]
    (tmp_path / "train_qa.json").write_text(json.dumps(qa))
    qa_file, qa_out = str(tmp_path / "train_qa.json"), str(tmp_path / "m")
    assert main(["prepare", "msrvtt", "--json", qa_file, "--out", qa_out]) == 0
    assert "train 1; 1 videos" in capsys.readouterr().out


def test_prepare_agqa_is_the_prepare_agqa_command(monkeypatch):
    import stair.cli.prepare_agqa as agqa

    seen = []
    monkeypatch.setattr(agqa, "run", lambda args: seen.append(args) or 0)
    args = ["--train", "tr.txt", "--test", "te.txt", "--i3d", "i3d/", "--out", "o", "--hold-out"]
    assert "prepare-agqa" in COMMANDS
    assert main(["prepare", "agqa", *args]) == 0
    assert main(["prepare-agqa", *args]) == 0
    new, old = ({k: v for k, v in vars(a).items() if not k.startswith("_")} for a in seen)
    assert new.pop("benchmark") == "agqa" and new.pop("command") == "prepare"
    assert old.pop("command") == "prepare-agqa" and new == old
    assert new["hold_out"] is True and new["i3d"] == "i3d/"


def test_the_full_parser_lists_prepare():
    parser = build_parser()
    args = parser.parse_args(["prepare", "msrvtt", "--json", "a_qa.json", "--out", "o"])
    assert (args.command, args.benchmark, args.json) == ("prepare", "msrvtt", ["a_qa.json"])
