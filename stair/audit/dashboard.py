"""The audit dashboard: one self-contained page telling how far each kind of step can be trusted.

:func:`dashboard` renders the records of an audit dump (:mod:`stair.audit.dump`) and their summary
in the style of the per-question pages (:mod:`stair.audit.report`): the answer accuracy, a chart of
per-module trust (the share of steps that agree with their gold, and each module's quality
measure: IoU, top-1, accuracy; with the number of steps), accuracy per family and per split, and
the worst steps, each distinct step once, ranked by how wrong they are (:func:`wrongness`) and
linked to the page of their question. The worst-steps table can be filtered by module and sorted
by any column with an inline script; nothing is fetched from elsewhere.
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from stair.audit.report import CSS, GOLD, PREDICTED, describe, png, pyplot

#: the quality measure of each kind of step, in the order they are shown
MEASURES = ("iou", "top1", "recall@5", "acc")

_SCRIPT = """
function filterModule(name){for(const r of document.querySelectorAll('#worst tbody tr'))
r.style.display=(!name||r.dataset.module===name)?'':'none';}
function sortBy(col){const b=document.querySelector('#worst tbody');const rows=[...b.rows];
const asc=b.dataset.col==col?b.dataset.asc!=='1':false;b.dataset.col=col;b.dataset.asc=asc?'1':'0';
const key=r=>{const c=r.cells[col];
return c.dataset.v!==undefined?parseFloat(c.dataset.v):c.textContent;};
rows.sort((x,y)=>{const a=key(x),c=key(y);return (a<c?-1:a>c?1:0)*(asc?1:-1);});
rows.forEach(r=>b.appendChild(r));}
"""


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"


def wrongness(step: Mapping[str, Any]) -> float:
    """How wrong a step judged wrong is, in [0, 1]: ``1 - IoU`` for a step over time; for a
    yes/no, a count or a concept, the model's confidence in its wrong output (the probability of
    the value it gave, or the cosine of its nearest concept)."""
    scores, shown = step.get("scores") or {}, step.get("output") or {}
    if "iou" in scores:
        return 1.0 - float(scores["iou"])
    if shown.get("type") == "Bool" and "probability" in shown:
        p = float(shown["probability"])
        return max(p, 1.0 - p)
    if "probability" in shown:
        return float(shown["probability"])
    nearest = shown.get("nearest") or []
    if nearest:
        return min(1.0, max(0.0, float(nearest[0].get("cosine", 0.0))))
    return 1.0 - min((float(v) for v in scores.values()), default=0.0)


def worst_steps(records: Sequence[Mapping[str, Any]]) -> list[tuple[float, Mapping, Mapping]]:
    """``(wrongness, record, step)`` of every wrong step, worst first; a subtree that a program
    holds twice (the same module, output and gold) is listed once."""
    out, seen = [], set()
    for rec in records:
        for step in rec["steps"]:
            if step.get("correct") is not False:
                continue
            key = (rec["qid"], step["module"], describe(step["output"]), describe(step["gold"]))
            if key in seen:
                continue
            seen.add(key)
            out.append((wrongness(step), rec, step))
    out.sort(key=lambda item: -item[0])
    return out


def trust_chart(modules: Mapping[str, Mapping[str, float]]) -> str:
    """A ``data:`` PNG: per module, the share of its steps that agree with the gold and its
    quality measure, as horizontal bars, with the number of steps."""
    plt = pyplot()
    names = sorted(modules)
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(names) + 0.9))
    y = list(range(len(names)))
    agree = [100 * modules[n].get("correct", 0.0) for n in names]
    measure = [next((m for m in MEASURES if m in modules[n]), None) for n in names]
    quality = [100 * modules[n][m] if m else 0.0 for n, m in zip(names, measure)]
    ax.barh([v - 0.2 for v in y], agree, height=0.38, color=GOLD, label="agrees with gold")
    ax.barh([v + 0.2 for v in y], quality, height=0.38, color=PREDICTED, alpha=0.7,
            label="quality measure")  # fmt: skip
    for i, name in enumerate(names):
        steps = int(modules[name]["steps"])
        label = f"{agree[i]:.0f}% · {measure[i] or '-'} {quality[i]:.0f}% · n={steps}"
        ax.text(101, i, label, va="center", fontsize=8)
    ax.set_yticks(y, names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the module's supervised steps")
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return png(fig)


def _accuracy_by(records: Sequence[Mapping[str, Any]], key: str) -> list[tuple[str, int, float]]:
    tally: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for rec in records:
        name = str((rec.get("metadata") or {}).get(key, "—"))
        tally[name][0] += 1
        tally[name][1] += bool(rec["answer"].get("correct"))
    return [(name, n, right / n) for name, (n, right) in sorted(tally.items())]


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cells = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _module_rows(modules: Mapping[str, Mapping[str, float]]) -> str:
    rows = []
    for name, row in sorted(modules.items()):
        cells = [f"<td>{html.escape(name)}</td>", f"<td class='num'>{int(row['steps'])}</td>",
                 f"<td class='num'>{_pct(row.get('correct'))}</td>",
                 *(f"<td class='num'>{_pct(row.get(m))}</td>" for m in MEASURES)]  # fmt: skip
        rows.append(f"<tr id='module-{html.escape(name)}'>{''.join(cells)}</tr>")
    cells = "".join(f"<th>{h}</th>" for h in ("module", "steps", "agree", *MEASURES))
    return (f"<table id='modules'><thead><tr>{cells}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")  # fmt: skip


def dashboard(
    records: Sequence[Mapping[str, Any]],
    summary: Any,
    worst: int,
    page_name: Callable[[str], str],
) -> tuple[str, list[Mapping[str, Any]]]:
    """The dashboard page of an audit, and the records its worst-steps table links to (their
    pages are ``page_name(qid)``, next to it). ``summary``: the dump's
    :class:`~stair.audit.dump.AuditSummary`."""
    ranked = worst_steps(records)
    shown = ranked[:worst]
    linked: dict[str, Mapping[str, Any]] = {}
    rows = []
    for score, rec, step in shown:
        linked.setdefault(rec["qid"], rec)
        link = f"{page_name(rec['qid'])}#step-{step['id']}"
        module = step["module"].split("[")[0]
        rows.append(
            f"<tr data-module='{html.escape(module)}'>"
            f"<td class='num' data-v='{score:.4f}'>{score:.2f}</td>"
            f"<td>{html.escape(step['module'])}</td>"
            f"<td><a href='{html.escape(link)}'>{html.escape(rec['question'])}</a></td>"
            f"<td>{html.escape(describe(step['output']))}</td>"
            f"<td>{html.escape(describe(step['gold']))}</td></tr>"
        )
    modules = summary.modules
    options = "".join(f"<option>{html.escape(m)}</option>" for m in sorted(modules))
    titles = ("how wrong", "step", "question", "output", "gold")
    head = "".join(f"<th onclick='sortBy({i})' style='cursor:pointer'>{h} ⇅</th>"
                   for i, h in enumerate(titles))  # fmt: skip
    groups = []
    for key in ("family", "split"):
        tallies = _accuracy_by(records, key)
        table = _table([key, "questions", "answer accuracy"],
                       [[f"<td>{html.escape(n)}</td>", f"<td class='num'>{c}</td>",
                         f"<td class='num'>{_pct(a)}</td>"] for n, c, a in tallies])  # fmt: skip
        groups.append(f"<div style='flex:1'><h3>per {key}</h3>{table}</div>")
    chart = trust_chart(modules) if modules else ""
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>STAIR audit</title>",
        f"<style>{CSS}</style><script>{_SCRIPT}</script></head><body>",
        "<h1>STAIR audit</h1>",
        f"<p><b>Answer accuracy:</b> {_pct(summary.accuracy)} over {summary.questions} questions"
        f" · {len(summary.unfaithful)} unfaithful answers (an answer that is not what the root "
        "step says)</p>",
        "<h2>How far each kind of step can be trusted</h2>",
        "<p class='muted'>agree: the share of a module's supervised steps judged right (IoU ≥ 0.5 "
        "over time, the nearest concept a gold one, the yes/no or count exact); the quality "
        "measure is the module's mean IoU, top-1, recall@5 or accuracy; n: its steps.</p>",
        f"<img class='plot' id='trust-chart' alt='per-module trust' src='{chart}'>"
        if chart
        else "",
        _module_rows(modules),
        "<h2>Answer accuracy</h2>",
        f"<div style='display:flex;gap:2em'>{''.join(groups)}</div>",
        f"<h2>Worst intermediate errors ({len(shown)} of {len(ranked)} distinct wrong steps)</h2>",
        "<p class='muted'>how wrong: 1 − IoU for a step over time; for a yes/no, a count or a "
        "concept, the model's confidence in its wrong output. Click a heading to sort.</p>",
        "<p>module: <select onchange='filterModule(this.value)'><option value=''>all</option>"
        f"{options}</select></p>",
        f"<table id='worst'><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>",
        "</body></html>",
    ]
    return "\n".join(parts), list(linked.values())
