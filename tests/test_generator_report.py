"""The generator's error analysis: exact match by size, first wrong token, the summary line."""

from __future__ import annotations

from stair.generator.report import SplitReport, first_difference, report_lines, summary_line


def test_first_difference_counts_a_short_or_long_program_as_different():
    assert first_difference(["a", "b", "c"], ["a", "x", "c"]) == 1
    assert first_difference(["a", "b"], ["a", "b", "c"]) == 2
    assert first_difference(["a", "b", "c"], ["a"]) == 1


def test_a_split_report_bins_lengths_depths_and_misses():
    report = SplitReport()
    slots = ["root", "Exists/0 phrase", "Exists/1"]
    report.add(["A", "b", "c"], ["A", "b", "c"], 2, True, True, slots)
    report.add(["A", "b", "c"], ["A", "b", "d"], 2, False, True, slots)
    report.add(["A"] * 20, ["A"] * 21, 5, False, True, ["root"] * 20)
    assert report.exact_match == 1 / 3
    assert report.by_length == {"0-15": 2, "16-31": 1} and report.exact_by_length["0-15"] == 1
    assert report.wrong_at == {"0-15": 1, "16-31": 1}
    assert report.wrong_slot == {"Exists/1": 1, "end": 1}
    text = "\n".join(report.lines("test", beams=1))
    assert "0-15: 50.0 % of 2" in text and "5: 0.0 % of 1" in text and "Exists/1: 1" in text


def test_the_report_ends_with_the_summary_line():
    right, wrong = SplitReport(), SplitReport()
    right.add(["A"], ["A"], 1, True, True, ["root"])
    wrong.add(["A"], ["B"], 1, False, True, ["root"])
    reports = {"test": right, "test:unseen": right, "test_more_steps": wrong}
    assert summary_line(reports) == "exact match: test 100.0 %, test_more_steps 0.0 %"
    reports["test_novel"] = right
    lines = report_lines(reports, beams=4)
    assert lines[-1] == "exact match: test 100.0 %, test_novel 100.0 %, test_more_steps 0.0 %"
    assert any(line.startswith("test:unseen: 1 questions") for line in lines)
