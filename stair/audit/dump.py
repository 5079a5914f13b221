"""Audits: every step of every question of a split, dumped and summarised per module.

``records.jsonl`` holds one :class:`~stair.audit.explain.Explanation` (JSON) per question: the
program,
each step's rendered output, its gold, whether it agrees with it, and the answer. The dump is
resumable: a rerun skips the questions already written (a line cut short by a crash is dropped and
redone). ``summary.json`` / ``summary.csv`` give, per module, how many supervised steps were seen,
the share judged correct and the mean of each quality measure (IoU for Frames and Video, top-1 and
recall@5 for Concepts, accuracy for Bool and Count) — how far each kind of step can be trusted —
plus the answer accuracy and the faithfulness check (a yes/no, count or before/after answer must
be what the root step says). ``html/`` (optional) indexes the worst intermediate errors, each
linked to a page explaining its question.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from stair.audit.explain import explain_batch
from stair.data.datamodule import QADataModule, Vocabularies
from stair.data.qa_dataset import QADataset, VideoBatchSampler

log = logging.getLogger(__name__)
METRICS = ("iou", "top1", "recall@5", "acc")


@dataclass
class AuditSummary:
    questions: int
    accuracy: float
    modules: dict[str, dict[str, float]]
    unfaithful: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"questions": self.questions, "accuracy": self.accuracy, "modules": self.modules,
                "unfaithful": self.unfaithful}  # fmt: skip

    def table(self) -> str:
        head = f"{'module':<14}{'steps':>8}{'correct':>9}" + "".join(f"{m:>10}" for m in METRICS)
        lines = [head, "-" * len(head)]
        for name, row in sorted(self.modules.items()):
            cells = "".join(f"{row[m]:>10.3f}" if m in row else f"{'-':>10}" for m in METRICS)
            lines.append(f"{name:<14}{int(row['steps']):>8}{row['correct']:>9.3f}{cells}")
        lines.append(f"answer accuracy {self.accuracy:.3f} over {self.questions} questions; "
                     f"{len(self.unfaithful)} unfaithful answers")  # fmt: skip
        return "\n".join(lines)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The complete records of a dump; a torn last line (a crash mid-write) is cut off."""
    if not path.exists():
        return []
    records, good = [], 0
    with open(path, "rb") as handle:
        for line in handle:
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                break
            good += len(line)
    if good != path.stat().st_size:
        with open(path, "r+b") as handle:
            handle.truncate(good)
        log.warning("%s: dropped a partial record at byte %d (it will be redone)", path, good)
    return records


def summarise(records: list[dict[str, Any]]) -> AuditSummary:
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    unfaithful, right = [], 0
    for rec in records:
        right += bool(rec["answer"].get("correct"))
        if rec.get("faithful") is False:
            unfaithful.append(rec["qid"])
        for step in rec["steps"]:
            if step.get("correct") is None:
                continue
            module = step["module"].split("[")[0]
            sums[module]["correct"].append(float(step["correct"]))
            for metric, value in step.get("scores", {}).items():
                sums[module][metric].append(value)
    modules = {
        name: {
            "steps": len(parts["correct"]),
            **{k: sum(v) / len(v) for k, v in parts.items() if v},
        }
        for name, parts in sums.items()
    }
    accuracy = right / len(records) if records else 0.0
    return AuditSummary(len(records), accuracy, modules, unfaithful)


def _csv(summary: AuditSummary) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["module", "steps", "correct", *METRICS])
    for name, row in sorted(summary.modules.items()):
        writer.writerow([name, int(row["steps"]), f"{row['correct']:.4f}",
                         *(f"{row[m]:.4f}" if m in row else "" for m in METRICS)])  # fmt: skip
    return buf.getvalue()


def _html(out: Path, records: list[dict[str, Any]], worst: int) -> Path:
    """Per-question pages for the questions holding the worst step errors, and their index."""
    from html import escape

    from stair.audit.report import describe, to_html

    errors = []
    for rec in records:
        for step in rec["steps"]:
            if step.get("correct") is False:
                score = min(step["scores"].values()) if step.get("scores") else 0.0
                errors.append((score, rec, step))
    errors.sort(key=lambda e: e[0])
    folder = out / "html"
    folder.mkdir(parents=True, exist_ok=True)
    rows, written = [], set()
    for score, rec, step in errors[:worst]:
        page = f"{rec['qid']}.html"
        if rec["qid"] not in written:
            _write_atomic(folder / page, to_html(rec))
            written.add(rec["qid"])
        rows.append(
            f"<tr><td>{score:.2f}</td><td>{escape(step['module'])}</td>"
            f"<td><a href='{escape(page)}#step-{step['id']}'>{escape(rec['question'])}</a></td>"
            f"<td>{escape(describe(step['output']))}</td><td>{escape(describe(step['gold']))}</td></tr>"
        )
    index = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>STAIR audit</title></head><body>"
        f"<h1>Worst intermediate errors ({len(rows)} of {len(errors)})</h1><table border='1'>"
        "<tr><th>score</th><th>step</th><th>question</th><th>output</th><th>gold</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
    _write_atomic(folder / "index.html", index)
    return folder / "index.html"


def audit(
    lit: Any,
    data: QADataModule,
    split: str,
    out: str | Path,
    html: bool = False,
    worst: int = 50,
    limit: int | None = None,
) -> AuditSummary:
    """Dump and summarise ``split`` (see the module docstring); resumes an earlier dump."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # the checkpoint's vocabularies, so words and concepts have the ids the model was trained on
    data.__dict__["vocabularies"] = Vocabularies.from_dict(dict(lit.hparams["vocabularies"]))
    dump = out / "records.jsonl"
    done = {r["qid"] for r in read_records(dump)}
    texts = {r.qid: r.question for r in data.records(split)}
    examples = [e for e in data.examples(split) if e.qid not in done]
    if limit is not None:
        examples = examples[: max(0, limit - len(done))]
    dataset = QADataset(examples)
    sampler = VideoBatchSampler(dataset.video_ids(), data.eval_batch_size, shuffle=False)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=data.collate)
    model = lit.model.eval()
    with open(dump, "a", encoding="utf-8") as handle:
        for batch in tqdm(loader, desc=f"audit {split}", unit="batch", disable=not examples):
            batch = batch.to(lit.device)
            with torch.no_grad():
                output = model(batch)
            for explanation in explain_batch(model, batch, output, [texts[q] for q in batch.qids]):
                handle.write(json.dumps(explanation.to_json()) + "\n")
            handle.flush()
    records = read_records(dump)
    summary = summarise(records)
    _write_atomic(out / "summary.json", json.dumps(summary.to_json(), indent=2))
    _write_atomic(out / "summary.csv", _csv(summary))
    if html:
        _html(out, records, worst)
    return summary
