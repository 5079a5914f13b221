"""Prompts from intermediate results: every value type in words, order, options, `stair prompt`."""

import json

import pytest

from stair.audit.prompt import FILTER_TOP1, PromptOptions, render_prompt, value_text
from stair.cli import main
from tests.tiny_synth import one_torch_thread, tiny_trained  # noqa: F401  (small models: one torch thread)

NEAREST = [{"name": "cup", "cosine": 0.91}, {"name": "mug", "cosine": 0.42},
           {"name": "sofa", "cosine": 0.1}]  # fmt: skip
FRAMES = {"type": "Frames", "spans": [[4, 9]], "spans_seconds": [[2.0, 4.5]], "num_frames": 16,
          "peak": {"frame": 6, "probability": 0.97, "seconds": 3.0}}  # fmt: skip
#: an explanation's JSON: Exists(cup, Iterate(Localize(after, ...), Filter[objects](frame)))
RECORD = {"steps": [
    {"id": 0, "module": "Exists", "depth": 0, "inputs": ['"cup"', "#1"],
     "output": {"type": "Bool", "probability": 0.93, "value": True}},
    {"id": 1, "module": "Iterate", "depth": 1, "inputs": ["#2", "#3"],
     "output": {"type": "Concept", "nearest": NEAREST}},
    {"id": 2, "module": "Localize", "depth": 2, "inputs": ["after", '"sitting on a chair"'],
     "output": {**FRAMES, "type": "Video"}},
    {"id": 3, "module": "Filter[objects]", "depth": 2, "inputs": [],
     "output": {"type": "Concept", "nearest": NEAREST}},
]}  # fmt: skip


@pytest.mark.parametrize(
    ("output", "with_scores", "plain"),
    [
        ({"type": "Concept", "nearest": NEAREST}, "cup (0.91), mug (0.42)", "cup, mug"),
        ({"type": "Text", "nearest": NEAREST}, "cup (0.91), mug (0.42)", "cup, mug"),
        ({"type": "Concept", "nearest": NEAREST, "option_probabilities": [0.8, 0.2]},
         "cup (0.91), mug (0.42) (options p=0.80/0.20)", "cup, mug"),
        (FRAMES, "2.0-4.5 s (peak 3.0 s, p=0.97)", "2.0-4.5 s"),
        ({**FRAMES, "type": "Video", "spans_seconds": []}, "never (peak 3.0 s, p=0.97)", "never"),
        ({"type": "Frames", "spans": [[1, 3]], "peak": {"frame": 2}}, "frames 1-2", "frames 1-2"),
        ({"type": "Bool", "probability": 0.2, "value": False}, "no (p=0.20)", "no"),
        ({"type": "Bool", "probability": 0.7, "value": True, "reads": "before"}, "before (p=0.70)",
         "before"),
        ({"type": "Count", "value": 2, "probability": 0.71, "expected": 2.1}, "2 (p=0.71)", "2"),
    ],
)  # fmt: skip
def test_every_value_type_reads_as_words(output, with_scores, plain):
    assert value_text(output, PromptOptions(k=2)) == with_scores
    assert value_text(output, PromptOptions(k=2, scores=False)) == plain


def test_an_unknown_value_type_is_refused():
    with pytest.raises(ValueError, match="Mystery"):
        value_text({"type": "Mystery"})


def test_steps_run_deepest_first_and_the_root_comes_last():
    text = render_prompt(RECORD, PromptOptions(k=1, budget=None))
    assert text == (
        'Localize "sitting on a chair": 2.0-4.5 s (peak 3.0 s, p=0.97). '
        "Filter[objects]: cup (0.91). Iterate: cup (0.91). "
        'Exists "cup": yes (p=0.93).'
    )


def test_the_budget_drops_the_deepest_steps_first():
    full = render_prompt(RECORD, PromptOptions(k=1, scores=False, budget=None))
    short = render_prompt(RECORD, PromptOptions(k=1, scores=False, budget=6))
    assert len(short.split()) <= 6 < len(full.split())
    assert short == 'Iterate: cup. Exists "cup": yes.'
    assert render_prompt(RECORD, PromptOptions(budget=1)) == ""


def test_module_choice_and_the_papers_filter_top1_preset():
    assert render_prompt(RECORD, FILTER_TOP1) == "Filter[objects]: cup."
    picked = PromptOptions(modules=("Exists", "Localize"), scores=False, budget=None)
    assert (
        render_prompt(RECORD, picked)
        == 'Localize "sitting on a chair": 2.0-4.5 s. Exists "cup": yes.'
    )
    assert render_prompt(RECORD, PromptOptions(modules=("Exists",), root=False)) == ""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data, ckpt, _ = tiny_trained(
        tmp_path_factory.mktemp("prompt"), videos=16, questions=5, seed=3, steps=2
    )
    return data, ckpt


def test_stair_prompt_writes_one_prompt_per_question(trained, tmp_path, capsys):
    data, ckpt = trained
    out = tmp_path / "prompts.jsonl"
    args = ["prompt", "--ckpt", str(ckpt), "--data", str(data), "--split", "val", "--out", str(out)]
    assert main([*args, "--preset", "filter-top1", "--limit", "5"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 5 and "wrote 5 prompts" in capsys.readouterr().out
    assert {"qid", "question", "prompt", "answer", "stair_answer"} <= set(rows[0])
    assert all(s.startswith("Filter") for r in rows for s in r["prompt"].split(". ") if s)
    assert main([*args, "--modules", "Exists", "Count", "--no-scores", "--budget", "0"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(r["prompt"] for r in rows) and "(p=" not in "".join(r["prompt"] for r in rows)
