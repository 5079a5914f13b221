"""Plain-text rendering of a :class:`~stair.demo.run.DemoReport`: tables, walkthroughs, what next.

Every figure is a percentage, every time in seconds; the last lines are the ``stair ask`` and
``stair audit`` commands that use the checkpoints the demo saved, one a line.
"""

from __future__ import annotations

from stair.demo.run import DemoReport

SPLITS = ("test", "test_novel", "test_more_steps", "val")


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:5.1f}"


def answer_table(report: DemoReport) -> str:
    """Answer accuracy (%) per split and family, module network vs black-box baseline."""
    models = list(report.results)
    splits = [s for s in SPLITS if any(s in report.results[m] for m in models)]
    families = sorted(
        {k for m in models for s in splits for k in report.results[m].get(s, {})
         if k.startswith("family/")}
    )  # fmt: skip
    width = 9 * len(models)
    head = f"{'answer accuracy (%)':<24}" + "".join(f"{s:>{width}}" for s in splits)
    sub = f"{'':<24}" + "".join("".join(f"{m:>9}" for m in models) for _ in splits)
    lines = [head, sub, "-" * len(sub)]
    for key in ["acc", *families]:
        label = "all" if key == "acc" else key.split("/", 1)[1]
        cells = [_pct(report.results[m].get(s, {}).get(key)) for s in splits for m in models]
        lines.append(f"{label:<24}" + "".join(f"{c:>9}" for c in cells))
    sizes = [str(report.sizes.get(s, "")) for s in splits for _ in models[:1]]
    lines.append(f"{'questions':<24}" + "".join(f"{n:>{width}}" for n in sizes))
    return "\n".join(lines)


def intermediate_table(report: DemoReport, model: str = "NMN") -> str:
    """Every module's intermediate quality (%) per split."""
    results = report.results.get(model, {})
    splits = [s for s in SPLITS if s in results]
    names = sorted({k for s in splits for k in results[s] if k.startswith("module/")})
    head = f"{'intermediate (%) ' + model:<32}" + "".join(f"{s:>17}" for s in splits)
    lines = [head, "-" * len(head)]
    for key in names:
        label = key.split("/", 1)[1]
        lines.append(f"{label:<32}" + "".join(f"{_pct(results[s].get(key)):>17}" for s in splits))
    return "\n".join(lines)


def walkthrough_text(report: DemoReport) -> str:
    """Each walked-through question: its answer, then every step with output and gold."""
    blocks = []
    for account in report.walkthroughs:
        mark = "correct" if account["answer"] == account["gold"] else "WRONG"
        lines = [
            f"Q {account['qid']} [{account['family']}] {account['question']}",
            f"  answer: {account['answer']} (p={account['probability']:.2f})   "
            f"gold: {account['gold']}   {mark}",
            *_program_lines(account),
        ]
        for step in account["steps"]:
            inputs = ", ".join(step["inputs"])
            lines.append(f"  #{step['node']:<2} {step['module']}({inputs})")
            lines.append(f"        -> {step['summary']}")
            lines.append(f"        gold {step['gold']}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _program_lines(account: dict) -> list[str]:
    """The program the walk-through ran, and the gold one when they differ."""
    if account.get("program_from", "gold") == "gold":
        return [f"  program (gold): {account.get('program', '')}"]
    if account.get("program_correct"):
        return [f"  program (generated, the gold one): {account['program']}"]
    return [f"  program (generated):  {account['program']}",
            f"  gold program:         {account.get('gold_program')}",
            "  (the generated program differs: its steps have no gold)"]  # fmt: skip


def generator_text(report: DemoReport) -> str:
    """The program generator's validation scores, in percent."""
    shown = ", ".join(f"{k.removeprefix('val/')} {_pct(v).strip()}%" for k, v in
                      sorted(report.generator.items()) if "loss" not in k)  # fmt: skip
    return f"program generator (validation): {shown or '-'}"


def timing_text(report: DemoReport) -> str:
    total = sum(report.seconds.values())
    parts = ", ".join(
        f"{k} {v:.0f} s (load {report.load.get(k, 0):.1f})" for k, v in report.seconds.items()
    )
    where = "alongside, in a second process" if report.settings.parallel else "in turn"
    return (
        f"wall time {total:.0f} s: {parts}; the baseline trained and tested in "
        f"{report.baseline_seconds:.0f} s, then the program generator trained in "
        f"{report.generator_seconds:.0f} s ({where})"
    )


def next_text(report: DemoReport) -> str:
    """The saved checkpoints and the commands that use them."""
    saved = "\n".join(f"  {name:<10} {path}" for name, path in report.checkpoints.items())
    return "\n".join([
        f"checkpoints:\n{saved}",
        "Next: ask a test question (its program from the generator) and audit every test step:",
        *report.commands,
    ])  # fmt: skip


def render(report: DemoReport) -> str:
    return "\n\n".join(
        [
            f"STAIR demo on {report.data_dir}",
            answer_table(report),
            intermediate_table(report),
            "Walkthrough (each step: module(inputs) -> output; gold)",
            walkthrough_text(report),
            generator_text(report),
            timing_text(report),
            next_text(report),
        ]
    )
