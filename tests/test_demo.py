"""``stair demo --quick``: generate, train both models, evaluate every split, explain."""

from __future__ import annotations

import json

import pytest

from stair.cli import main
from tests.tiny_synth import one_torch_thread  # noqa: F401


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path, capsys):
    report_file = tmp_path / "report.json"
    args = ["demo", "--quick", "--data-root", str(tmp_path / "data"), "--no-progress"]
    assert main([*args, "--json", str(report_file)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "data" / "synth_quick" / "meta.json").exists()  # generated
    for text in ("answer accuracy", "NMN", "baseline", "test_novel", "test_more_steps",
                 "Localize/iou", "Filter/top1", "Walkthrough", "gold", "wall time"):  # fmt: skip
        assert text in out, text
    report = json.loads(report_file.read_text())
    assert set(report["results"]) == {"NMN", "baseline"}
    for model in report["results"].values():
        assert {"test", "test_novel", "test_more_steps", "val"} <= set(model)
        assert 0 <= model["test"]["acc"] <= 1
    assert len(report["walkthroughs"]) == 3
    for account in report["walkthroughs"]:
        assert account["steps"] and account["answer"] and account["gold"]
        assert [s["node"] for s in account["steps"]][-1] == 0  # the root answers last
        for step in account["steps"]:
            assert step["module"] and step["summary"] and step["gold"]
