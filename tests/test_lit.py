"""The LightningModule: overfitting one batch, lambda = 0, metrics, checkpoints, the baseline."""

from __future__ import annotations

import logging
from dataclasses import asdict, replace

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

import stair.train.system
from stair.engine.metrics import Tally, add_answers, gold_vs_generated, results_table
from stair.engine.network import Network
from stair.testing.batch import fake_batch, fake_vocabularies
from stair.testing.programs import sample_trees
from stair.train.system import LitSTAIR
from tests.tiny_synth import one_torch_thread, tiny_root  # noqa: F401

VOC = fake_vocabularies(feature_dim=12, max_count=4)
SMALL = Network(hidden=16)
SMALL_NO_DROPOUT = Network(hidden=16, dropout=0.0)
TREES = sample_trees(16, seed=5, cycle=True)


def _batch(seed=0):
    return fake_batch(
        TREES, VOC, num_videos=8, frames=6, lengths=[6, 5, 6, 4, 6, 6, 3, 6], seed=seed
    )


def _loader(batches):
    return DataLoader(batches, batch_size=None, collate_fn=lambda b: b)


def _overfit(architecture, steps=25, **kw):
    torch.manual_seed(0)
    lit = LitSTAIR(VOC, architecture=architecture, network=SMALL_NO_DROPOUT, **kw)
    opt = torch.optim.Adam(lit.parameters(), lr=1e-2)
    batch = _batch()
    losses = []
    for _ in range(steps):
        parts = lit.losses(batch, lit(batch))
        opt.zero_grad()
        parts["loss"].backward()
        opt.step()
        losses.append({k: float(v) for k, v in parts.items()})
    return losses


def test_loss_decreases_when_overfitting_one_batch():
    losses = _overfit("stair")
    # the random golds of parameter-free steps cannot be fitted: the answers can
    assert losses[-1]["loss"] < 0.7 * losses[0]["loss"]
    assert losses[-1]["answer"] < 0.5 * losses[0]["answer"]


def test_the_baseline_trains():
    losses = _overfit("baseline")
    assert losses[-1]["loss"] < 0.2 * losses[0]["loss"]


def test_intermediate_losses_enter_only_with_a_positive_lambda(monkeypatch):
    torch.manual_seed(0)
    lit = LitSTAIR(VOC, network=SMALL_NO_DROPOUT, intermediate_weight=0.0, grounding_weight=0.0)
    batch = _batch()
    out = lit(batch)

    def forbidden(*args, **kwargs):
        raise AssertionError("intermediate losses computed with lambda = 0")

    monkeypatch.setattr(stair.train.system, "intermediate_losses", forbidden)
    parts = lit.losses(batch, out)
    assert set(parts) == {"loss", "answer"}
    assert float(parts["loss"]) == float(parts["answer"])
    monkeypatch.undo()
    lit.hparams.intermediate_weight = 0.5
    supervised = lit.losses(batch, lit(batch))
    assert float(supervised["intermediate"]) > 0
    expected = supervised["answer"] + 0.5 * supervised["intermediate"]
    torch.testing.assert_close(supervised["loss"].detach(), expected)
    lit.hparams.grounding_weight = 0.25
    grounded = lit.losses(batch, lit(batch))
    expected = expected + 0.25 * grounded["grounding"]
    torch.testing.assert_close(grounded["loss"].detach(), expected)


def test_answer_metrics_by_metadata():
    tally = Tally()
    meta = [{"family": "exists", "steps": 3, "split": "test"}, {"family": "count", "steps": 3}]
    add_answers(tally, torch.tensor([True, False]), meta)
    out = tally.compute()
    assert out["acc"] == 0.5 and out["family/exists"] == 1.0 and out["family/count"] == 0.0
    assert out["steps/3"] == 0.5 and out["split/test"] == 1.0
    assert tally.sizes()["acc"] == 2


@pytest.mark.parametrize("architecture", ["stair", "baseline"])
def test_checkpoint_reloads_with_no_other_file(tmp_path, architecture):
    L.seed_everything(0, verbose=False)
    lit = LitSTAIR(VOC, architecture=architecture, network=SMALL)
    trainer = L.Trainer(
        accelerator="cpu", max_steps=2, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(lit, _loader([_batch(0), _batch(1)]))
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=False)
    assert ckpt["hyper_parameters"]["vocabularies"]["concepts"] == VOC["concepts"]
    assert ckpt["hyper_parameters"]["network"] == asdict(SMALL)  # a plain dict, no object
    loaded = LitSTAIR.load_from_checkpoint(path)
    assert loaded.hparams.architecture == architecture and loaded.hparams.network["hidden"] == 16
    lit.eval(), loaded.eval()
    batch = _batch(2)
    with torch.no_grad():
        torch.testing.assert_close(loaded(batch).logits, lit(batch).logits, rtol=0, atol=0)


def test_evaluation_fills_results_per_split_with_module_metrics():
    L.seed_everything(0, verbose=False)
    lit = LitSTAIR(VOC, network=SMALL)
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    trainer.test(lit, _loader([_batch(3)]), verbose=False)
    metrics = lit.results["test"]["train"]  # the fake batch's metadata says split "train"
    assert 0 <= metrics["acc"] <= 1
    assert any(k.startswith("module/Filter/") for k in metrics)
    assert any(k.startswith("module/Localize/iou") for k in metrics)
    assert "family/exists" in metrics
    predictions = trainer.predict(lit, _loader([_batch(3)]))
    assert {"qid", "answer", "probability", "gold"} <= set(predictions[0][0])


def test_gold_and_generated_programs_are_reported_side_by_side(caplog):
    """A test run over a split and its ``:generated`` twin logs one table of both accuracies."""
    L.seed_everything(0, verbose=False)
    lit = LitSTAIR(VOC, network=SMALL)
    gold = _batch(3)
    generated = replace(gold, metadata=[
        {**m, "split": "test:generated", "program_match": i % 2 == 0}
        for i, m in enumerate(gold.metadata)
    ])  # fmt: skip
    gold = replace(gold, metadata=[{**m, "split": "test"} for m in gold.metadata])
    trainer = L.Trainer(
        accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False,
    )  # fmt: skip
    with caplog.at_level(logging.INFO, logger="stair.train.system"):
        trainer.test(lit, [_loader([gold]), _loader([generated])], verbose=False)
    results = lit.results["test"]
    assert results["test:generated"]["program/exact"] == 0.5
    assert results["test"]["acc"] == results["test:generated"]["acc"]  # same programs here
    table = gold_vs_generated(results)
    row = next(line for line in table.splitlines() if line.startswith("test "))
    assert row.split()[-1] == "50.00%" and "+0.00%" in row
    assert table in caplog.text
    assert gold_vs_generated({"test": results["test"]}) == ""
    table = results_table(results).splitlines()
    assert table[0].split()[1:] == ["test", "test:generated"]
    acc = next(line for line in table if line.startswith("acc "))
    assert acc.split()[1] == f"{100 * results['test']['acc']:.1f}"


def test_exists_reads_every_concept_of_its_set_in_training(tmp_path_factory):
    """On real golds (the symbolic executor's "members"), training adds the reading of every
    concept of a set's category to Exists's loss; evaluation computes none of it."""
    from stair.data.datamodule import QADataModule
    from stair.engine.losses import concept_space, supervised
    from stair.train.system import plain_vocabularies

    data = tiny_root(tmp_path_factory) / "synth_quick"
    dm = QADataModule(str(data), batch_size=64)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    torch.manual_seed(0)
    lit = LitSTAIR(plain_vocabularies(dm.vocabularies), network=Network(hidden=16))
    lit.train()
    space = concept_space(lit.model.bank, lit.categories)
    read = [s for s in supervised(lit(batch).trace, batch.golds) if s.group.module == "Exists"]
    dense = [s for s in read if s.value.concept_frame_logit is not None]
    assert dense and dense[0].value.concept_frame_logit.shape[1] == len(lit.model.bank)
    # some rows name the members of their set (bank rows >= 0) and its category
    length = dense[0].value.frame_logit.shape[1]
    assert any(bool((s.gold[:, 1 + 2 * length] >= 0).any()) for s in dense)
    with_every = sum(float(s.value.loss(s.gold, space).sum()) for s in dense)
    without = sum(float(s.value.loss(s.gold, space._replace(categories=None)).sum()) for s in dense)
    assert with_every > without
    lit.eval()
    with torch.no_grad():
        evaluated = supervised(lit(batch).trace, batch.golds)
        assert all(
            s.value.concept_frame_logit is None for s in evaluated if s.group.module == "Exists"
        )
