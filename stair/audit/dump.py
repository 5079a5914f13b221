"""Audits: every step of every question of a split, dumped and summarised per module.

``records.jsonl`` holds one :class:`~stair.audit.explain.Explanation` (JSON) per question: the
program, each step's rendered output, its gold, whether it agrees with it, and the answer. The
dump is resumable: a rerun skips the questions already written (a last line cut short by a crash
is dropped and redone; a complete last record that lost only its newline is kept). ``run.json``
records what the dump was started with (split, a hash of the question file, of the model's
weights and of the generated programs); a rerun with anything else is refused with an
:class:`AuditError` rather than mixed into the same records. ``summary.json`` / ``summary.csv``
give, per module, how many supervised steps were seen, the share judged correct and the mean of
each quality measure (IoU for Frames and Video, top-1 and recall@5 for Concepts, accuracy for Bool
and Count) — how far each kind of step can be trusted — plus the answer accuracy and the
faithfulness check (a yes/no, count or before/after answer must be what the root step says).
``html/`` (optional) indexes the worst intermediate errors, each linked to a page explaining its
question; a page's file name is made from the question id (:func:`page_name`), so it always stays
inside ``html/`` whatever the id holds.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from stair.audit.explain import explain_batch
from stair.data.datamodule import GENERATED, QADataModule
from stair.data.qa_dataset import QADataset, VideoBatchSampler
from stair.errors import StairError
from stair.files import lock, write_json, write_text
from stair.programs import compile_program

log = logging.getLogger(__name__)
METRICS = ("iou", "top1", "recall@5", "acc")
_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,79}")


class AuditError(StairError):
    """An ``--out`` folder that holds another run's dump, or a dump that is not ours."""


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
        """Per module: supervised steps, then percentages (agreeing with the gold, each metric)."""
        head = f"{'module':<14}{'steps':>8}{'agree %':>9}" + "".join(f"{m:>10}" for m in METRICS)
        lines = [head, "-" * len(head)]
        for name, row in sorted(self.modules.items()):
            cells = "".join(f"{100 * row[m]:>10.1f}" if m in row else f"{'-':>10}" for m in METRICS)
            lines.append(f"{name:<14}{int(row['steps']):>8}{100 * row['correct']:>9.1f}{cells}")
        lines.append(f"answer accuracy {100 * self.accuracy:.1f} % over {self.questions} "
                     f"questions; {len(self.unfaithful)} unfaithful answers")  # fmt: skip
        return "\n".join(lines)


def read_records(path: Path) -> list[dict[str, Any]]:
    """The complete records of a dump.

    A last line cut short by a crash is cut off (it is redone); a complete last record that only
    lacks its newline gets one, so the next append starts a new line. A bad line before the last
    one was not written by a crash: :class:`AuditError` names it.
    """
    if not path.exists():
        return []
    records, good = [], 0
    with open(path, "rb") as handle:
        lines = handle.readlines()
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or "qid" not in record:
                raise ValueError("not a record")
        except (ValueError, RecursionError):
            if number < len(lines):
                raise AuditError(
                    f"{path}: line {number} is not an audit record; move the file away or audit "
                    "into another --out"
                ) from None
            break
        records.append(record)
        good += len(line)
    size = path.stat().st_size
    if good != size:
        with open(path, "r+b") as handle:
            handle.truncate(good)
        log.warning("%s: dropped a partial record at byte %d (it will be redone)", path, good)
    elif lines and not lines[-1].endswith(b"\n"):
        with open(path, "ab") as handle:
            handle.write(b"\n")
        log.warning("%s: the last record lacked its newline (kept)", path)
    return records


def _sha256(path: Path | None) -> str | None:
    if path is None:
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _weights_hash(model: torch.nn.Module) -> str:
    """A hash of every parameter and buffer: the same weights give the same hash."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def run_identity(lit: Any, data: QADataModule, split: str) -> dict[str, Any]:
    """What a dump was started with: a resumed dump must match it (see the module docstring)."""
    questions = data.root / "questions" / f"{split.removesuffix(GENERATED)}.jsonl"
    return {
        "split": split,
        "questions": _sha256(questions) if questions.exists() else None,
        "model": _weights_hash(lit.model),
        "programs": _sha256(data.programs_path) if split.endswith(GENERATED) else None,
    }


def _check_same_run(out: Path, identity: dict[str, Any], records: list[dict[str, Any]],
                    qids: set[str]) -> None:  # fmt: skip
    """Refuse to resume a dump of another run; record this run's identity for the next one."""
    path = out / "run.json"
    if path.exists():
        try:
            old = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise AuditError(f"{path}: unreadable ({err}); audit into another --out") from None
        differ = [k for k in identity if old.get(k) != identity[k]]
        if "split" in differ:  # another split: of course its question file differs too
            differ = [k for k in differ if k != "questions"]
        if differ:
            shown = ", ".join(
                f"split {old.get('split')!r} there, {identity['split']!r} now" if k == "split"
                else "another question file" if k == "questions"
                else "other generated programs" if k == "programs" else "another model"
                for k in differ
            )  # fmt: skip
            raise AuditError(
                f"{out} holds the dump of another run ({shown}); audit into another --out or "
                "delete it"
            )
    foreign = [r["qid"] for r in records if r["qid"] not in qids]
    if foreign:
        raise AuditError(
            f"{out / 'records.jsonl'} holds {len(foreign)} question(s) that are not in split "
            f"{identity['split']!r} (e.g. {foreign[0]!r}); audit into another --out"
        )
    write_json(path, identity, indent=2)


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


def page_name(qid: str) -> str:
    """The file name of a question's page: the id itself when it is a plain name, else its
    plain characters and a hash of it (no ``/``, no leading dot: it stays in its folder)."""
    if _SAFE_NAME.fullmatch(qid):
        return f"{qid}.html"
    digest = hashlib.sha256(qid.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", qid).strip("_")[:60]
    return f"{stem}-{digest}.html" if stem else f"q-{digest}.html"


def _html(out: Path, records: list[dict[str, Any]], worst: int) -> Path:
    """The dashboard (:func:`stair.audit.dashboard.dashboard`) and the pages of the questions
    holding the worst step errors."""
    from stair.audit.dashboard import dashboard
    from stair.audit.report import to_html

    folder = out / "html"
    folder.mkdir(parents=True, exist_ok=True)
    index, linked = dashboard(records, summarise(records), worst, page_name)
    for rec in linked:
        write_text(folder / page_name(rec["qid"]), to_html(rec))
    write_text(folder / "index.html", index)
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
    data.read_with(lit.hparams["vocabularies"], "the model")
    dump = out / "records.jsonl"
    with lock(out / "records.lock", f"audit dump {dump}"):
        texts = {r.qid: r.question for r in data.records(split)}
        records = read_records(dump)
        _check_same_run(out, run_identity(lit, data, split), records, set(texts))
        done = {r["qid"] for r in records}
        examples = [e for e in data.examples(split) if e.qid not in done]
        if limit is not None:
            examples = examples[: max(0, limit - len(done))]
        _append(lit, data, examples, texts, dump, split)
        records = read_records(dump)
    summary = summarise(records)
    write_text(out / "summary.json", json.dumps(summary.to_json(), indent=2))
    write_text(out / "summary.csv", _csv(summary))
    if html:
        _html(out, records, worst)
    return summary


def _append(lit: Any, data: QADataModule, examples: list, texts: dict[str, str], dump: Path,
            split: str) -> None:  # fmt: skip
    """Explain ``examples`` batch by batch, appending one record a line to ``dump``."""
    dataset = QADataset(examples)
    sampler = VideoBatchSampler(dataset.video_ids(), data.eval_batch_size, shuffle=False)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=data.collate)
    model = lit.model.eval()
    # on generated programs, each record also shows the dataset's program
    gold = {r.qid: r.program for r in data.records(split)} if split.endswith(GENERATED) else {}
    with open(dump, "a", encoding="utf-8") as handle:
        for batch in tqdm(loader, desc=f"audit {split}", unit="batch", disable=not examples):
            batch = batch.to(lit.device)
            with torch.no_grad():
                output = model(batch)
            trees = [compile_program(gold[q]) if q in gold else None for q in batch.qids]
            questions = [texts[q] for q in batch.qids]
            for explanation in explain_batch(model, batch, output, questions, gold_trees=trees):
                handle.write(json.dumps(explanation.to_json()) + "\n")
            handle.flush()
