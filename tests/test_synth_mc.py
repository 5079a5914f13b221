"""The multiple-choice synthetic benchmark: options of the answer's own type, seeded, and a tiny
multiple-choice training run of the module network and the baseline, explained with its options."""

from __future__ import annotations

import json

import lightning as L
import pytest
import torch

from stair.audit.explain import explain_batch
from stair.data.datamodule import QADataModule
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.data.synth.vocab import DEFAULT_VOCAB
from stair.engine.network import Network
from stair.programs import VType, compile_program
from stair.train.system import LitSTAIR
from tests.tiny_synth import one_torch_thread  # noqa: F401

CHOICES = 4


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_mc")
    build_synth_dataset(out, SynthConfig(videos=24, questions_per_video=6, seed=2, workers=1,
                                         choices=CHOICES))  # fmt: skip
    return out


def _records(folder, split="train"):
    path = folder / "questions" / f"{split}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_options_hold_the_gold_and_distractors_of_its_type(folder):
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["answers"] == "multiple_choice" and meta["choices"] == CHOICES
    actions = [a.phrase for a in DEFAULT_VOCAB.actions]
    groups = (DEFAULT_VOCAB.objects, DEFAULT_VOCAB.relations, actions)
    kinds = set()
    for record in _records(folder):
        options, answer = record["metadata"]["options"], record["answer"]
        assert answer in options and len(set(options)) == len(options)
        kind = compile_program(record["program"]).type
        kinds.add(kind)
        if kind is VType.BOOL:
            assert sorted(options) in (["no", "yes"], ["after", "before"])
        elif kind is VType.COUNT:
            assert len(options) == CHOICES and all(o.isdigit() for o in options)
        else:
            group = next(g for g in groups if answer in g)
            assert len(options) == CHOICES and all(o in group for o in options)
    assert kinds == {VType.BOOL, VType.COUNT, VType.CONCEPT}


def test_options_are_seeded_and_shuffled(folder, tmp_path):
    again = tmp_path / "again"
    build_synth_dataset(again, SynthConfig(videos=24, questions_per_video=6, seed=2, workers=1,
                                           choices=CHOICES))  # fmt: skip
    assert (again / "questions" / "train.jsonl").read_bytes() == (
        folder / "questions" / "train.jsonl"
    ).read_bytes()
    places = {r["metadata"]["options"].index(r["answer"]) for r in _records(folder)}
    assert len(places) == CHOICES  # the gold is not always in the same place


def test_the_open_benchmark_is_unchanged(tmp_path):
    build_synth_dataset(tmp_path, SynthConfig(videos=12, questions_per_video=4, seed=2, workers=1))
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert "answers" not in meta and "choices" not in meta["config"]
    assert all("options" not in r["metadata"] for r in _records(tmp_path))


def test_one_option_is_refused():
    with pytest.raises(ValueError, match="choices"):
        SynthConfig(choices=1)


@pytest.mark.parametrize("architecture", ["stair", "baseline"])
def test_a_tiny_multiple_choice_run_trains_evaluates_and_explains(folder, tmp_path, architecture):
    L.seed_everything(0, verbose=False)
    data = QADataModule(str(folder), batch_size=16, eval_batch_size=64)
    voc = data.vocabularies
    assert voc.answer_mode == "multiple_choice" and voc.answer_vocabulary() is None
    lit = LitSTAIR(voc, architecture=architecture, network=Network(hidden=32, word_dim=16),
                   lr=3e-3)  # fmt: skip
    data.setup("fit")
    batch = next(iter(data.loader("train")))
    first = float(lit.losses(batch, lit(batch))["answer"])
    trainer = L.Trainer(
        accelerator="cpu", max_epochs=3, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(lit, data)
    lit.eval()
    with torch.no_grad():
        out = lit(batch)
    assert out.logits.shape == (len(batch), CHOICES) and out.candidates == batch.candidates.texts
    assert float(lit.losses(batch, out)["answer"]) < first
    trainer.test(lit, data, verbose=False)
    assert 0.0 <= lit.results["test"]["test"]["acc"] <= 1.0
    rows = lit.predict_step(batch, 0)
    assert all(r["answer"] in o and r["gold"] in o for r, o in zip(rows, batch.candidates.texts))
    if architecture == "stair":
        explained = explain_batch(lit.model, batch, out, ["q"] * len(batch))
        for e, options in zip(explained, batch.candidates.texts):
            shown = e.answer["options"]
            assert [o["text"] for o in shown] == options
            assert [o["text"] for o in shown if o["chosen"]] == [e.answer["text"]]
            assert e.faithful is not False
