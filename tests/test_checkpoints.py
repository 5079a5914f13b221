"""Checkpoints never run code: a crafted, garbage, foreign or missing file is a CheckpointError
naming it (one line, exit code 2 from the CLI), also when torch is told to load unsafely."""

from __future__ import annotations

import builtins
import logging

import lightning as L
import pytest
import torch

from stair.checkpoints import read_torch_file
from stair.cli import main
from stair.errors import CheckpointError, StairError
from stair.generator.system import load_generator
from stair.testing.batch import fake_vocabularies
from stair.train.system import LitSTAIR
from tests.tiny_synth import one_torch_thread, tiny_root  # noqa: F401

VOC = fake_vocabularies(feature_dim=12, max_count=4)


class _WritesMarker:
    """Unpickling this runs code: it creates the file ``marker``."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.fixture(params=["default", "forced unsafe"])
def unsafe_env(request, monkeypatch):
    """Every test runs twice: with torch's default, and with the old unsafe default forced."""
    if request.param == "forced unsafe":
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    return request.param


@pytest.fixture
def real_ckpt(tmp_path):
    path = tmp_path / "real.ckpt"
    _saved(LitSTAIR(VOC), path)
    return path


@pytest.fixture
def evil(tmp_path, real_ckpt):
    """A checkpoint like a real one, plus an object that writes a marker file when unpickled."""
    marker = tmp_path / "MARKER"
    checkpoint = torch.load(real_ckpt, weights_only=True)
    checkpoint["callbacks"] = {"evil": _WritesMarker(marker)}
    path = tmp_path / "evil.ckpt"
    torch.save(checkpoint, path)
    return path, marker


def test_a_real_checkpoint_needs_nothing_outside_the_allow_list(real_ckpt, unsafe_env):
    loaded = LitSTAIR.load_from_checkpoint(real_ckpt)
    assert loaded.hparams.vocabularies["concepts"] == VOC["concepts"]
    assert set(read_torch_file(real_ckpt)) >= {"state_dict", "hyper_parameters"}


def test_a_malicious_checkpoint_runs_no_code(evil, unsafe_env):
    path, marker = evil
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refused to load it: .*exec") as info:
        LitSTAIR.load_from_checkpoint(path)
    assert isinstance(info.value, StairError) and not marker.exists()
    with pytest.raises(CheckpointError, match=r"evil\.ckpt: refused"):
        load_generator(path)
    assert not marker.exists()


def test_cli_ask_and_audit_refuse_a_malicious_checkpoint(evil, unsafe_env, tmp_path, capsys):
    path, marker = evil
    ask = ["ask", "--ckpt", str(path), "--video", "v.npy", "--question", "Why?", "--program", "x"]
    audit = ["audit", "--ckpt", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    predict = ["generator", "predict", "--ckpt", str(path), "--data", str(tmp_path), "--out",
               str(tmp_path / "p.jsonl")]  # fmt: skip
    for argv in (ask, audit, predict):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and f"checkpoint {path}: refused" in err, argv
    assert not marker.exists()


def test_cli_test_ckpt_path_refuses_a_malicious_checkpoint(evil, unsafe_env, tmp_path_factory,
                                                           tmp_path, monkeypatch, capsys):  # fmt: skip
    path, marker = evil
    monkeypatch.chdir(tmp_path)
    data = tiny_root(tmp_path_factory) / "synth_quick"
    args = ["test", f"--data.data_dir={data}", "--model.network.hidden=16", "--trainer.logger=false",
            "--trainer.limit_test_batches=1", f"--ckpt_path={path}"]  # fmt: skip
    assert main(args) == 2
    assert f"checkpoint {path}: refused" in capsys.readouterr().err
    assert not marker.exists()


def _saved(lit: LitSTAIR, path) -> None:
    trainer = L.Trainer(accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.strategy.connect(lit)
    trainer.save_checkpoint(path)


def test_cli_test_reads_the_data_with_the_checkpoints_vocabularies(tmp_path_factory, tmp_path,
                                                                   monkeypatch, caplog):  # fmt: skip
    """``--data.synonyms true`` adds words to the folder's vocabulary: a model trained without
    them is still tested, each unseen word read as ``<unk>``."""
    from stair.data.datamodule import QADataModule
    from stair.engine.network import Network
    from stair.train.system import plain_vocabularies

    monkeypatch.chdir(tmp_path)
    data = tiny_root(tmp_path_factory) / "synth_quick"
    voc = QADataModule(str(data)).vocabularies
    assert len(QADataModule(str(data), synonyms=True).vocabularies.words) > len(voc.words)
    path = tmp_path / "trained.ckpt"
    _saved(LitSTAIR(plain_vocabularies(voc), network=Network(hidden=16)), path)
    args = ["test", f"--data.data_dir={data}", "--data.synonyms=true",
            "--trainer.limit_test_batches=1", f"--ckpt_path={path}"]  # fmt: skip
    with caplog.at_level(logging.INFO):
        assert main(args) == 0
    assert "test:synonyms" in caplog.text  # its row of the results table


def test_weights_of_other_vocabularies_are_refused(real_ckpt, tmp_path_factory, tmp_path,
                                                  monkeypatch, capsys):  # fmt: skip
    monkeypatch.chdir(tmp_path)
    data = tiny_root(tmp_path_factory) / "synth_quick"
    args = ["test", f"--data.data_dir={data}", "--trainer.limit_test_batches=1",
            f"--ckpt_path={real_ckpt}"]  # fmt: skip
    assert main(args) == 2  # its vocabularies do not fit this folder's features
    err = capsys.readouterr().err
    assert f"checkpoint {real_ckpt}: it was trained on 12-d features" in err
    assert "Traceback" not in err
    # in Python, a module built on other vocabularies refuses the weights
    voc = fake_vocabularies(feature_dim=12, max_count=4)
    other = LitSTAIR({**voc, "words": [*voc["words"], "zebra"]})
    with pytest.raises(CheckpointError, match="it was trained with other words"):
        other.on_load_checkpoint(torch.load(real_ckpt, weights_only=True))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"not a checkpoint at all", "cannot load it"),
        (None, "no such file"),
        ("tensors", "not a checkpoint of this model"),
    ],
)
def test_garbage_missing_and_foreign_files_are_typed_errors(tmp_path, content, reason, capsys):
    path = tmp_path / "model.ckpt"
    if content == "tensors":
        torch.save({"weights": torch.zeros(3)}, path)  # a torch file, but no checkpoint
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(CheckpointError, match=f"checkpoint {path}: {reason}"):
        LitSTAIR.load_from_checkpoint(path)
    with pytest.raises(CheckpointError, match=f"checkpoint {path}: {reason}"):
        load_generator(path)
    argv = ["audit", "--ckpt", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith(f"stair audit: error: checkpoint {path}: {reason}")


def test_a_saved_generator_folder_that_is_not_one_is_a_typed_error(tmp_path):
    (tmp_path / "gen").mkdir()
    with pytest.raises(CheckpointError, match=r"gen: not a saved program generator"):
        load_generator(tmp_path / "gen")
