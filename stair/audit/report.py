"""Render an explanation (the JSON of :class:`stair.audit.explain.Explanation`) as text or HTML.

The HTML page is self-contained — styles inline, plots and thumbnails embedded as ``data:`` URIs,
no script and no external resource — so it can be mailed, archived or opened offline. Per step it
shows the module, its inputs, its typed output (time spans in seconds, top-k concepts,
probabilities, counts), the gold when known and, for steps over time, a timeline plot of the
per-frame values with the predicted and gold spans marked, plus thumbnails of the video's frames
at those spans when frames are given.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from stair.programs.signatures import VType
from stair.values import VALUE_TYPES, Value

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}
h1{font-size:1.4em} code{background:#f4f4f4;padding:.1em .3em;border-radius:3px}
.ok{color:#17803d}.bad{color:#c0262d}.step{border:1px solid #ddd;border-radius:6px;
padding:.8em 1em;margin:1em 0}.step h3{margin:.2em 0}.muted{color:#777}
table{border-collapse:collapse}
td,th{padding:.15em .6em;border-bottom:1px solid #eee;text-align:left}
ul.tree{font-family:ui-monospace,monospace}
img.thumb{height:72px;margin:2px;border:1px solid #ccc}
"""


def describe(output: Mapping[str, Any] | None) -> str:
    """One line for a rendered value (``Value.explain()`` or a gold), by the value type it names
    (its ``describe``); a rendering of no known type lists its fields."""
    if not output:
        return "—"
    try:
        cls = VALUE_TYPES[VType(output.get("type"))]
    except ValueError:
        cls = Value
    return cls.describe(output)


def to_text(explanation: Mapping[str, Any]) -> str:
    """The answer and the step tree, one step a line, indented by depth."""
    ans = explanation["answer"]
    mark = (
        ""
        if ans.get("gold") is None
        else (" ✓" if ans.get("correct") else f" ✗ (gold: {ans['gold']})")
    )
    lines = [
        f"Q: {explanation['question']}",
        f"A: {ans['text']} (p={ans['probability']:.2f}){mark}",
        f"program: {explanation['tree']}",
        "steps:",
    ]
    for step in explanation["steps"]:
        pad = "  " * (step.get("depth", 0) + 1)
        gold = ""
        if step.get("gold") is not None:
            verdict = {True: " ✓", False: " ✗", None: ""}[step.get("correct")]
            gold = f"   [gold: {describe(step['gold'])}{verdict}]"
        inputs = ", ".join(step.get("inputs", []))
        lines.append(
            f"{pad}#{step['id']} {step['module']}({inputs}) -> {describe(step['output'])}{gold}"
        )
    return "\n".join(lines)


# -- HTML -----------------------------------------------------------------------------------------
def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def timeline(step: Mapping[str, Any], times: Sequence[float] | None) -> str | None:
    """A ``data:`` PNG of the step's per-frame values, predicted spans shaded, gold spans marked."""
    values = step["output"].get("probabilities")
    if not values:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    x = np.asarray(times[: len(values)] if times else range(len(values)), dtype=float)
    step_x = float(np.median(np.diff(x))) if len(x) > 1 else 1.0
    fig, ax = plt.subplots(figsize=(6.4, 1.6))
    ax.plot(x, values, marker="o", markersize=3, color="#2563eb")
    ax.axhline(0.5, color="#999", lw=0.6, ls="--")
    for start, end in step["output"].get("spans", []):
        ax.axvspan(x[start] - step_x / 2, x[end - 1] + step_x / 2, color="#2563eb", alpha=0.12)
    gold = step.get("gold") or {}
    for start, end in gold.get("spans", []):
        ax.hlines(1.06, x[start] - step_x / 2, x[end - 1] + step_x / 2, color="#17803d", lw=4)
    ax.set_ylim(-0.05, 1.12)
    ax.set_xlabel("seconds" if times else "frame")
    ax.set_title(f"#{step['id']} {step['module']}", fontsize=9, loc="left")
    uri = _png(fig)
    plt.close(fig)
    return uri


def thumbnails(step: Mapping[str, Any], frames: np.ndarray | None, limit: int = 6) -> list[str]:
    """JPEG ``data:`` URIs of the frames at the step's predicted spans (``frames``: [T,H,W,3])."""
    if frames is None:
        return []
    from PIL import Image

    picks = [i for s, e in step["output"].get("spans", []) for i in range(s, e)][:limit]
    out = []
    for i in picks:
        if i >= len(frames):
            continue
        img = Image.fromarray(np.asarray(frames[i], dtype=np.uint8))
        img.thumbnail((128, 128))
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=80)
        out.append("data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode())
    return out


def _tree_html(steps: Sequence[Mapping[str, Any]]) -> str:
    out, depth = [], -1
    for step in steps:
        d = step.get("depth", 0)
        while depth < d:
            out.append("<ul class='tree'>")
            depth += 1
        while depth > d:
            out.append("</ul>")
            depth -= 1
        label = html.escape(f"#{step['id']} {step['module']} → {step['type']}")
        out.append(f"<li><a href='#step-{step['id']}'>{label}</a></li>")
    out.extend("</ul>" for _ in range(depth + 1))
    return "".join(out)


def to_html(explanation: Mapping[str, Any], frames: np.ndarray | None = None) -> str:
    """The explanation as one self-contained HTML page (``frames``: the decoded video, optional)."""
    e = explanation
    ans = e["answer"]
    times = (e.get("video") or {}).get("timestamps")
    verdict = ""
    if ans.get("gold") is not None:
        cls, word = ("ok", "correct") if ans.get("correct") else ("bad", f"gold: {ans['gold']}")
        verdict = f" <span class='{cls}'>({html.escape(word)})</span>"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(e['question'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(e['question'])}</h1>",
        f"<p><b>Answer:</b> {html.escape(str(ans['text']))} "
        f"(p={ans['probability']:.2f}){verdict}</p>",
        f"<p class='muted'>video {html.escape(str((e.get('video') or {}).get('id')))}"
        + (f" · question {html.escape(str(e['qid']))}" if e.get("qid") is not None else "")
        + "</p>",
        f"<p><b>Program:</b> <code>{html.escape(e['tree'])}</code></p>",
        "<h2>Steps</h2>",
        _tree_html(e["steps"]),
    ]
    for step in e["steps"]:
        gold = step.get("gold")
        mark = {True: "<span class='ok'>✓</span>", False: "<span class='bad'>✗</span>", None: ""}
        parts.append(f"<div class='step' id='step-{step['id']}'>")
        parts.append(f"<h3>#{step['id']} {html.escape(step['module'])} → {step['type']}</h3>")
        parts.append(f"<p>inputs: {html.escape(', '.join(step.get('inputs', [])))}</p>")
        parts.append(f"<p>output: {html.escape(describe(step['output']))}</p>")
        if gold is not None:
            parts.append(f"<p>gold: {html.escape(describe(gold))} {mark[step.get('correct')]}</p>")
        top = step["output"].get("nearest")
        if top:
            rows = "".join(
                f"<tr><td>{html.escape(c['name'])}</td><td>{c['cosine']:.3f}</td></tr>" for c in top
            )
            parts.append(f"<table><tr><th>concept</th><th>cosine</th></tr>{rows}</table>")
        plot = timeline(step, times)
        if plot:
            parts.append(f"<img alt='timeline of step {step['id']}' src='{plot}'>")
        thumbs = thumbnails(step, frames)
        if thumbs:
            parts.append(
                "<div>" + "".join(f"<img class='thumb' src='{t}'>" for t in thumbs) + "</div>"
            )
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts)
