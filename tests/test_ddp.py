"""Distributed training: a few steps with Lightning's DDP on CPU (2 processes, gloo), both ranks
reading one memory-mapped question index (its resident memory per process is printed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.tiny_synth import tiny_root

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import lightning as L
    import torch
    from stair.data.datamodule import QADataModule
    from stair.engine.network import Network
    from stair.train.system import LitSTAIR

    torch.set_num_threads(1)
    L.seed_everything(0, verbose=False)
    dm = QADataModule(sys.argv[1], batch_size=8, eval_batch_size=16)
    model = LitSTAIR(dm.vocabularies, network=Network(hidden=16))
    trainer = L.Trainer(
        accelerator="cpu", devices=2, strategy="ddp_find_unused_parameters_true", max_steps=3, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        num_sanity_val_steps=0, limit_val_batches=2, use_distributed_sampler=False,
    )
    trainer.fit(model, dm)
    trainer.validate(model, dm, verbose=False)
    checksum = sum(float(p.detach().double().sum()) for p in model.parameters())
    index = dm.datasets["train"].examples.records.index
    with open("/proc/self/maps") as maps:
        mapped = str(index.file) in maps.read()
    with open("/proc/self/status") as status:
        rss = next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) / 1024
    with open(f"result_{trainer.global_rank}.json", "w") as handle:
        json.dump({
            "rank": trainer.global_rank, "world": trainer.world_size, "steps": trainer.global_step,
            "checksum": checksum, "val_questions": model.sizes["val"]["val"]["acc"],
            "index": str(index.file), "memmap": index.mapped, "in_maps": mapped, "rss_mib": rss,
        }, handle)
    """
)


@pytest.mark.slow
def test_ddp_two_cpu_processes(tmp_path_factory, tmp_path):
    root = tiny_root(tmp_path_factory) / "synth_quick"
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PL_DISABLE_FORK": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(script), str(root)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("result_*.json"))]
    assert sorted(r["rank"] for r in results) == [0, 1]
    assert all(r["world"] == 2 and r["steps"] == 3 for r in results)
    # gradients were all-reduced: both replicas hold the same weights
    assert results[0]["checksum"] == pytest.approx(results[1]["checksum"], rel=1e-6)
    # evaluation counts were summed over both processes
    assert results[0]["val_questions"] == results[1]["val_questions"] > 16
    # both ranks map the one question index file (shared pages), neither holds a copy
    assert results[0]["index"] == results[1]["index"]
    assert all(r["memmap"] and r["in_maps"] for r in results)
    print(
        "resident per process: "
        + ", ".join(f"rank {r['rank']} {r['rss_mib']:.0f} MiB" for r in results)
    )
