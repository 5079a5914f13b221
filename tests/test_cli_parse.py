"""``stair parse``: trees on stdout, one-line errors and exit code 2 for bad programs."""

import json
import subprocess
import sys

from stair.cli import main

PROGRAM = "Exists(phone, Iterate(Localize(before, opening a closet), Filter(frame, [objects])))"


def test_parse_prints_the_tree(capsys):
    assert main(["parse", PROGRAM]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (
        'Exists("phone", Filter[objects](Temporal[before](video, Localize(video, "opening a closet"))))'
    )
    assert "#3 Localize -> Frames" in out


def test_parse_json(capsys):
    assert main(["parse", "--json", PROGRAM]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["root"]["module"] == "Exists" and data["source"] == PROGRAM


def test_malformed_program_exits_2_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "stair", "parse", "Exists(phone, Iterate(video, Filter(frame, [objects]))"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "at position 54: expected ',' or ')'" in proc.stderr


def test_parse_file_reports_each_failure_with_its_line(tmp_path, capsys):
    path = tmp_path / "programs.txt"
    path.write_text(f"{PROGRAM}\n\nNope(x)\nCount(opening a door)\nExists(cup)\n")
    assert main(["parse", "--file", str(path)]) == 2
    captured = capsys.readouterr()
    assert f"{path}:3: at position 0: unknown function 'Nope'" in captured.err
    assert f"{path}:5: at position 0: Exists takes 2 argument(s), got 1" in captured.err
    assert "2 of 4 programs compiled" in captured.err
    assert captured.out.splitlines()[1] == '4: Count(Localize(video, "opening a door"))'


def test_parse_missing_file(capsys):
    assert main(["parse", "--file", "/nonexistent/programs.txt"]) == 2
    assert "/nonexistent/programs.txt: cannot read" in capsys.readouterr().err
