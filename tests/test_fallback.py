"""A question without a usable program still trains and answers, through the declared fallback
program, and the metrics count it as such (a NExT-QA folder, half its questions without one)."""

from __future__ import annotations

import json

import lightning as L

from stair.data.datamodule import QADataModule
from stair.data.programs_source import fallback_tree, record_generated
from stair.engine.network import Network
from stair.programs import compile_program, to_tokens
from stair.train.system import LitSTAIR
from tests.benchmark_folders import nextqa_folder

SMALL = Network(hidden=16, word_dim=8, dropout=0.0)
#: a usable program of no particular meaning for the even questions
PROGRAM = to_tokens(compile_program("Exists(boy, Iterate(video, Filter(frame, [objects])))"))


def _folder(tmp_path):
    folder = nextqa_folder(tmp_path)
    lines = []
    for split in ("train", "val"):
        for i, row in enumerate((folder / "questions" / f"{split}.jsonl").read_text().splitlines()):
            qid = json.loads(row)["qid"]
            lines.append({"qid": qid, "tokens": PROGRAM} if i % 2 == 0 else
                         {"qid": qid, "tokens": None, "reason": "no program"})  # fmt: skip
    (folder / "programs.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    record_generated(folder, "generator:test", {})
    return folder


def test_questions_without_programs_train_and_answer_as_fallback(tmp_path):
    dm = QADataModule(str(_folder(tmp_path)), batch_size=4, eval_batch_size=6)
    examples = dm.examples("val")
    fallback = [e for e in examples if e.metadata["fallback"]]
    assert len(fallback) == 6 and all(e.golds == {} for e in fallback)
    first = fallback[0]
    assert first.tree == fallback_tree(" ".join(first.words)) and len(first.options) == 5
    L.seed_everything(0, verbose=False)
    lit = LitSTAIR(dm.vocabularies, network=SMALL)
    trainer = L.Trainer(
        accelerator="cpu", max_steps=3, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(lit, dm)
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.validate(lit, dm, verbose=False)
    metrics = lit.results["val"]["val"]
    assert metrics["fallback"] == 0.5
    assert {"fallback/acc", "program/acc", "template/CW", "family/Causal"} <= set(metrics)
    sizes = lit.sizes["val"]["val"]
    assert sizes["fallback/acc"] == sizes["program/acc"] == 6 and sizes["acc"] == 12
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path)  # fmt: skip
    rows = [r for batch in trainer.predict(lit, dm.loader("val")) for r in batch]
    assert len(rows) == 12 and all(0 <= r["choice"] < 5 for r in rows)
