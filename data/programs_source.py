"""Where a dataset folder's programs come from, generated programs files, and the fallback.

``meta.json`` "programs" says where the programs of a folder's questions come from:

- ``annotated`` (also when the key is absent: the synthetic benchmark, AGQA): each record's
  ``program`` is its gold program;
- ``none``: no question has a program yet (a benchmark just prepared, ``program`` is "");
- ``generator:<id>``: written by ``stair generator predict`` into the folder's
  ``programs.jsonl`` (``<id>``: the first 12 hex digits of the generator file's SHA-256, or the
  folder's path for a saved generator folder); ``meta.json`` "generated" holds what that run
  found (questions, usable programs, golds per split).

**A programs file** has one JSON line per question: ``{"qid", "tokens", "text", "score",
"rank"}`` (prefix tokens of the kept program, its text, its log-probability, its place in the
n-best list) plus ``"golds"`` (node id -> gold value, where the folder's scene graph gave them)
and ``"nbest"``; a question none of whose candidates is usable has ``"tokens": null`` and
``"reason"``. Lines with ``"program"`` (AGQA syntax) or ``"tree"`` (JSON) are read too.

**Usable** means: the tokens make a well-typed tree (:func:`stair.programs.check`) whose root
is an answer type (:data:`ANSWER_ROOTS`: Bool, Count or Concept), which every answer mode reads.

**The fallback**: a question without a usable program is answered by :func:`fallback_tree`,
``Exists("<the question's words>", Filter[objects](video))``. It keeps the question on the
module network's own path: the phrase is the whole question, so the Exists step grounds the
question's words in the video, and the candidate head reads the Bool root together with the
encoded question (multiple choice and open answers) or as yes / no. The network and its loss
are unchanged (no second model), its step values have no golds, and the metrics count these
questions apart (``fallback``, ``fallback/acc``, ``program/acc``: :mod:`stair.engine.metrics`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stair.errors import DatasetFormatError
from stair.files import write_json
from stair.programs import (
    ModuleTree,
    ProgramError,
    SceneGraph,
    SymbolicError,
    VType,
    check,
    compile_program,
    evaluate,
    from_json,
    from_tokens,
    to_text,
)
from stair.programs.text import tokenize

__all__ = [
    "ANNOTATED", "ANSWER_ROOTS", "NONE", "PROGRAMS_FILE", "ProgramLine", "ProgramStats",
    "fallback_tree", "first_usable", "generator_source", "program_line", "program_source",
    "read_programs", "record_generated", "step_golds", "unusable",
]  # fmt: skip

ANNOTATED = "annotated"
NONE = "none"
GENERATOR = "generator:"
#: the programs file a folder's generated programs are written to
PROGRAMS_FILE = "programs.jsonl"
#: the root types an answer can be read from, in every answer mode
ANSWER_ROOTS = frozenset({VType.BOOL, VType.COUNT, VType.CONCEPT})


def program_source(meta: dict[str, Any]) -> str:
    """``meta.json`` "programs" (``annotated`` where absent)."""
    return str(meta.get("programs", ANNOTATED))


def generator_source(checkpoint: str | os.PathLike) -> str:
    """``generator:<id>`` for a generator file (its SHA-256, 12 digits) or saved folder (path)."""
    path = Path(checkpoint)
    if path.is_dir():
        return GENERATOR + str(path.resolve())
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return GENERATOR + digest.hexdigest()[:12]


def unusable(tree: ModuleTree) -> str | None:
    """Why ``tree`` cannot answer (None: it can): ill-typed, or a root no answer reads."""
    try:
        check(tree)
    except ProgramError as err:
        return f"does not compile ({err})"
    if tree.type not in ANSWER_ROOTS:
        return f"its root is {tree.type.value}, not an answer (Bool, Count or Concept)"
    return None


def first_usable(tokens_list: Sequence[Sequence[str]]) -> tuple[int, ModuleTree | None, str]:
    """The first usable program of an n-best list: ``(rank, tree, "")``, else
    ``(-1, None, why the best one is not)``."""
    first = "no program"
    for rank, tokens in enumerate(tokens_list):
        try:
            tree = from_tokens(list(tokens))
        except ProgramError as err:
            reason = f"does not compile ({err})"
        else:
            reason = unusable(tree)
            if reason is None:
                return rank, tree, ""
        first = reason if rank == 0 else first
    return -1, None, first


def fallback_tree(question: str) -> ModuleTree:
    """The declared fallback program of a question (see the module docstring)."""
    words = tokenize(question) or ["video"]
    return from_tokens(["Exists", '"', *words, '"', "Filter[objects]", "video", "_"])


def step_golds(tree: ModuleTree, graph: SceneGraph | None) -> dict[str, dict[str, Any]]:
    """The gold value of each step of ``tree`` on ``graph`` (the symbolic executor); ``{}`` where
    there is no graph or the program does not fit it (the run fails or reports an issue, e.g. an
    action that never happens), so that no step learns a value the graph does not support."""
    if graph is None:
        return {}
    try:
        result = evaluate(tree, graph)
    except SymbolicError:
        return {}
    return {} if result.issues else result.golds_json()


@dataclass(frozen=True)
class ProgramLine:
    """One question's line of a programs file: its usable tree (None: fallback), why not, golds."""

    tree: ModuleTree | None
    reason: str = ""
    golds: dict[str, dict[str, Any]] = field(default_factory=dict)


def _line(row: dict[str, Any]) -> ProgramLine:
    if "tokens" in row:
        if row["tokens"] is None:
            return ProgramLine(None, str(row.get("reason", "no usable program")))
        tree = from_tokens(row["tokens"])
    elif "tree" in row:
        tree = from_json(row["tree"])
    else:
        tree = compile_program(row["program"])
    golds = row.get("golds") or {}
    if not (isinstance(golds, dict) and all(isinstance(g, dict) for g in golds.values())):
        raise ValueError("'golds' must map node ids to typed values")
    reason = unusable(tree)
    return ProgramLine(None, reason, {}) if reason else ProgramLine(tree, "", golds)


def read_programs(path: str | os.PathLike) -> dict[str, ProgramLine]:
    """qid -> :class:`ProgramLine` of a programs file; a malformed line raises
    :class:`DatasetFormatError` naming the file and the line. A program that parses but is not
    usable is kept as a fallback line with its reason."""
    path, out = Path(path), {}
    try:
        lines = path.read_bytes().splitlines()  # json.loads decodes (UTF-8) and checks
    except OSError as err:
        raise DatasetFormatError(path, "", f"cannot read ({err})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[str(row["qid"])] = _line(row)
        except (ValueError, KeyError, TypeError, RecursionError, ProgramError) as err:
            raise DatasetFormatError(path, f"line {number}", str(err)) from err
    return out


@dataclass
class ProgramStats:
    """What one ``stair generator predict`` run found for one split."""

    questions: int = 0
    usable: int = 0
    with_golds: int = 0
    steps: int = 0
    steps_with_golds: int = 0

    def to_json(self) -> dict[str, Any]:
        n, steps = max(1, self.questions), max(1, self.steps)
        return {"questions": self.questions, "usable": self.usable,
                "fallback": self.questions - self.usable, "with_golds": self.with_golds,
                "question_gold_share": round(self.with_golds / n, 4),
                "step_gold_share": round(self.steps_with_golds / steps, 4)}  # fmt: skip


def program_line(
    qid: str, nbest: Sequence[tuple[Sequence[str], float]], graph: SceneGraph | None,
    stats: ProgramStats,
) -> dict[str, Any]:  # fmt: skip
    """A programs-file line for one question from its n-best ``(tokens, score)`` list, best
    first: the first usable one with its score, rank and step golds on ``graph``, else a
    ``"tokens": null`` line with the reason; ``stats`` counts it."""
    rank, tree, reason = first_usable([tokens for tokens, _ in nbest])
    stats.questions += 1
    if tree is None:
        return {"qid": qid, "tokens": None, "reason": reason}
    golds = step_golds(tree, graph)
    stats.usable += 1
    stats.steps += len(tree)
    stats.steps_with_golds += len(golds)
    stats.with_golds += bool(golds)
    tokens, score = nbest[rank]
    line = {"qid": qid, "tokens": list(tokens), "text": to_text(tree),
            "score": round(float(score), 5), "rank": rank}  # fmt: skip
    if golds:
        line["golds"] = golds
    return line


def record_generated(
    folder: str | os.PathLike, source: str, stats: dict[str, ProgramStats]
) -> None:
    """Mark ``folder``'s ``meta.json``: programs from ``source`` (:func:`generator_source`),
    and what was found per split (``generated``)."""
    path = Path(folder) / "meta.json"
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["programs"] = source
    meta["generated"] = {split: s.to_json() for split, s in stats.items()}
    write_json(path, meta)
