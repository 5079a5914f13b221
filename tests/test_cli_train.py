"""``stair fit | test | predict`` through ``stair.cli.main``: Lightning CLI, configs, checkpoints."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from stair.cli import main
from stair.train.system import LitSTAIR
from tests.tiny_synth import one_torch_thread, tiny_root  # noqa: F401

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture
def data(tmp_path_factory, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs/ is written here
    return str(tiny_root(tmp_path_factory) / "synth_quick")


def test_fit_fast_dev_run(data):
    args = ["--model.network.hidden=16", f"--data.data_dir={data}", "--trainer.fast_dev_run=true"]
    assert main(["fit", "--config", str(CONFIGS / "synth.yaml"), *args]) == 0


def test_baseline_config_fast_dev_run(data):
    args = ["--model.network.hidden=16", f"--data.data_dir={data}", "--trainer.fast_dev_run=true"]
    assert main(["fit", "--config", str(CONFIGS / "baseline_synth.yaml"), *args]) == 0


@pytest.mark.slow
def test_fit_checkpoint_test_predict(data, tmp_path, caplog, capsys):
    config = ["--config", str(CONFIGS / "synth.yaml"), f"--data.data_dir={data}"]
    small = ["--model.network.hidden=16", "--trainer.max_epochs=1", "--trainer.limit_train_batches=2",
             "--trainer.limit_val_batches=1", "--trainer.limit_test_batches=1"]  # fmt: skip
    with caplog.at_level(logging.INFO):
        assert main(["fit", *config, *small]) == 0
    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("validation results (last epoch):") and "acc" in m for m in said)
    assert not any(m.startswith(("GPU available", "TPU available", "💡 Tip")) for m in said)
    caplog.clear()
    ckpt = tmp_path / "runs" / "synth" / "version_0" / "checkpoints" / "last.ckpt"
    assert ckpt.exists()
    saved = (tmp_path / "runs" / "synth" / "version_0" / "config.yaml").read_text()
    assert "intermediate_weight" in saved

    model = LitSTAIR.load_from_checkpoint(ckpt).eval()  # the checkpoint alone
    assert model.hparams.network["hidden"] == 16 and model.hparams.vocabularies["words"]
    assert model.model.hidden == 16

    with caplog.at_level(logging.INFO, logger="stair.train.system"):
        assert main(["test", *config, *small, f"--ckpt_path={ckpt}"]) == 0
    tables = [r.getMessage() for r in caplog.records if r.getMessage().startswith("test results")]
    assert len(tables) == 1 and "acc" in tables[0]  # one table, a column per split
    assert "Test metric" not in capsys.readouterr().out  # not Lightning's, once per split
    assert [p.name for p in (tmp_path / "runs" / "synth").iterdir()] == ["version_0"]  # no new
    args = [*small, "--trainer.limit_predict_batches=1", f"--ckpt_path={ckpt}"]
    assert main(["predict", *config, *args]) == 0
    (out,) = (tmp_path / "runs" / "synth").glob("version_*/predictions.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {"qid", "answer", "probability", "gold"} <= set(rows[0])
    assert all(0 <= r["probability"] <= 1 for r in rows)
    assert torch.isfinite(torch.tensor([r["probability"] for r in rows])).all()


def test_help_shows_the_typed_options(capsys):
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--model.intermediate_weight" in out and "--data.data_dir" in out
    assert "weight of the intermediate losses" in out
    assert "--model.network.hidden" in out and "size of frame states" in out


def test_progress_bars_show_no_version_number(tmp_path):
    import lightning as L

    from stair.train.callbacks import hide_version

    trainer = L.Trainer(default_root_dir=tmp_path, logger=L.pytorch.loggers.CSVLogger(tmp_path),
                        enable_checkpointing=False)  # fmt: skip
    bar = trainer.progress_bar_callback
    hide_version(trainer)
    assert trainer.progress_bar_callback is bar  # the same bar, with its settings
    module = L.LightningModule()
    module.trainer = trainer
    assert "v_num" not in bar.get_metrics(trainer, module)
