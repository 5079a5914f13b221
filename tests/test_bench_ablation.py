"""``bench/ablation.py``: runs already on disk are reused (resumable), tables side by side."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "ablation.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_ablation", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(weight, seed, acc):
    split = {"acc": acc, "family/count": acc / 2, "module/Relate/iou": 0.9}
    return {"weight": weight, "seed": seed, "epochs": 9,
            "results": {s: split for s in ("test", "test_novel", "test_more_steps", "val")}}  # fmt: skip


def test_finished_runs_are_reused_and_printed_side_by_side(tmp_path, monkeypatch, capsys):
    (tmp_path / "data" / "synth").mkdir(parents=True)
    (tmp_path / "data" / "synth" / "meta.json").write_text("{}")  # the benchmark is there
    out = tmp_path / "out"
    out.mkdir()
    for weight, seed, acc in ((1.0, 0, 0.9), (1.0, 1, 0.92), (0.0, 0, 0.8), (0.0, 1, 0.8)):
        (out / f"w{weight:g}-s{seed}.json").write_text(json.dumps(_run(weight, seed, acc)))
    argv = ["ablation.py", "--data-root", str(tmp_path / "data"), "--out", str(out),
            "--weights", "1", "0", "--seeds", "0", "1"]  # fmt: skip
    monkeypatch.setattr(sys, "argv", argv)
    _bench().main()  # trains nothing: every run is on disk
    printed = capsys.readouterr().out
    assert "training" not in printed
    header = next(line for line in printed.splitlines() if line.startswith("test (%)"))
    assert header.split()[2:] == ["w1-s0", "w1-s1", "w0-s0", "w0-s1"]
    row = next(line for line in printed.splitlines() if line.startswith("Relate/iou"))
    assert row.split()[1:] == ["90.0"] * 4
    assert "intermediate weight 1: test 91.0 % +- 1.4 over 2 seed(s) (range 90.0-92.0)" in printed
    assert "intermediate weight 0: test 80.0 % +- 0.0" in printed
