"""Question generation: templates -> drafts -> executed, well-posed, balanced questions.

For each video, :class:`QuestionGenerator` repeatedly picks a template (weighted, favouring
templates behind their share), asks the :class:`AnswerBalancer` which answer it would like, lets
the template draft a program and its English, then

1. compiles the program (by shape, :mod:`stair.programs.shapes`: the tree
   ``stair.programs.compile_program`` gives) and counts its steps (modules);
2. runs the symbolic executor on the video's scene graph (once per program and video: drafts
   recur): the **answer and every node's gold come from the executor**, never from the template;
3. rejects ill-posed questions: executor ``issues``, no answer, an empty time window anywhere, or
   an indirect reference (a concept in a phrase slot) that does not name exactly one thing;
4. asks the balancer whether the answer is still welcome.

Modes decide what a video's questions may contain: ``iid`` (train/val/test: no held-out
composition, at most ``max_train_steps``), ``novel`` (at least one held-out composition) and
``more_steps`` (more than ``max_train_steps``).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import accumulate

from stair.data.dataset import QuestionMeta, QuestionRecord
from stair.data.synth.context import Context, Draft, Template
from stair.data.synth.refs import VideoFacts
from stair.data.synth.splits import (
    HELD_OUT_FAMILY_TIMES,
    HELD_OUT_PAIRS,
    composition_strings,
    is_novel,
)
from stair.data.synth.templates_facts import TEMPLATES as FACT_TEMPLATES
from stair.data.synth.templates_time import TEMPLATES as TIME_TEMPLATES
from stair.data.synth.vocab import DEFAULT_VOCAB, WorldVocabulary
from stair.programs import ModuleTree, Node, SceneGraph, SymbolicResult, VType, evaluate
from stair.programs.shapes import compile_cached, compile_lazily
from stair.programs.symbolic import SymConcept, SymVideo

__all__ = ["TEMPLATES", "AnswerBalancer", "QuestionGenerator", "compile_cached", "well_posed"]

TEMPLATES: tuple[Template, ...] = (*FACT_TEMPLATES, *TIME_TEMPLATES)
_OTHER = {"yes": "no", "no": "yes", "before": "after", "after": "before"}
#: target shares of count answers (3 and more are rarer in the worlds)
_COUNT_SHARES = {"0": 0.25, "1": 0.3, "2": 0.3, "3": 0.15}
_EFFORT = {"iid": 1, "novel": 2, "more_steps": 4}  # attempts per question, relative


class AnswerBalancer:
    """Keeps answers balanced, per template and per program (one balancer per split).

    Binary answers (yes/no, before/after): a template's answer may lead the other by at most
    ``binary_slack``, and one program's by at most one, so neither a template nor a question
    text predicts the answer. Open answers and counts: no answer of a template may exceed
    ``open_ratio`` times the mean count of its answers (plus ``open_floor``).
    """

    def __init__(self, binary_slack: int = 3, open_ratio: float = 1.5, open_floor: int = 5):
        self.binary_slack, self.open_ratio, self.open_floor = binary_slack, open_ratio, open_floor
        self.by_template: dict[str, Counter[str]] = defaultdict(Counter)
        self.by_program: dict[str, Counter[str]] = defaultdict(Counter)
        self.accepted: Counter[str] = Counter()
        self.version = 0  #: how many answers were accepted (``accepted`` changed)

    def want(self, template: Template, rng: random.Random) -> str | None:
        """The answer to steer the next draft of ``template`` towards (None: no preference)."""
        counts = self.by_template[template.name]
        if template.answers in ("yes/no", "before/after"):
            a, b = template.answers.split("/")
            if counts[a] == counts[b]:
                return a if rng.random() < 0.5 else b
            return a if counts[a] < counts[b] else b
        if template.answers == "count":
            return min(_COUNT_SHARES, key=lambda c: (counts[c] / _COUNT_SHARES[c], rng.random()))
        return None

    def accept(self, template: Template, program: str, answer: str) -> bool:
        counts = self.by_template[template.name]
        if answer in _OTHER:
            other = _OTHER[answer]
            mine = self.by_program[program]
            if counts[answer] - counts[other] >= self.binary_slack or mine[answer] > mine[other]:
                return False
            mine[answer] += 1
        else:
            distinct = len(counts) + (answer not in counts)
            mean = (sum(counts.values()) + 1) / distinct
            if counts[answer] + 1 > self.open_ratio * mean + self.open_floor:
                return False
        counts[answer] += 1
        self.accepted[template.name] += 1
        self.version += 1
        return True


def well_posed(tree: ModuleTree, result: SymbolicResult) -> bool:
    """No issues, an answer, no empty window, and every indirect reference names one thing."""
    if result.issues or result.answer is None:
        return False
    for node in tree.nodes:
        value = result.values[node.id]
        if isinstance(value, SymVideo) and not any(value.window):
            return False
        for param, arg in zip(node.signature.params, node.args):
            if VType.TEXT not in param.types:
                continue
            for item in arg if isinstance(arg, tuple) else (arg,):
                if isinstance(item, Node):
                    ref = result.values[item.id]
                    if not isinstance(ref, SymConcept) or len(ref.items) != 1:
                        return False
    return True


@dataclass(frozen=True)
class _Mode:
    name: str  # iid / novel / more_steps
    split: str
    count: int


class _Candidates:
    """Templates to pick from, with each one's share of their total weight.

    The pick weights change only when a balancer accepts a question, so the cumulative weights
    are kept for the balancer (and its version) they were worked out for.
    """

    def __init__(self, templates: list[Template]) -> None:
        self.templates = templates
        weight_sum = sum(t.weight for t in templates)
        self.shares = [t.weight / weight_sum for t in templates]
        self._for: tuple[AnswerBalancer, int] | None = None
        self._cumulative: list[float] = []

    def cumulative(self, bal: AnswerBalancer) -> list[float]:
        """Cumulative pick weights: weight x (due share / accepted so far), clipped, so that
        templates behind their share catch up."""
        if self._for is None or self._for[0] is not bal or self._for[1] != bal.version:
            counts = [bal.accepted.get(t.name, 0) for t in self.templates]
            total = sum(counts) + len(self.templates)
            scores = [
                t.weight * min(20.0, max(0.05, share * total / (count + 1)))
                for t, share, count in zip(self.templates, self.shares, counts)
            ]
            self._for, self._cumulative = (bal, bal.version), list(accumulate(scores))
        return self._cumulative


#: what a novel question is built around: a held-out (family, time) or relation-object pair
_HELD_OUT = [("time", h) for h in sorted(HELD_OUT_FAMILY_TIMES)] + [
    ("pair", h) for h in sorted(HELD_OUT_PAIRS)
]


class QuestionGenerator:
    """Generates the questions of one dataset, video by video, with one balancer per split."""

    def __init__(
        self,
        vocab: WorldVocabulary = DEFAULT_VOCAB,
        *,
        max_train_steps: int = 12,
        attempts_per_question: int = 12,
        indirect_prob: float = 0.15,
        templates: tuple[Template, ...] = TEMPLATES,
    ) -> None:
        self.vocab, self.templates = vocab, templates
        self.max_train_steps = max_train_steps
        self.attempts = attempts_per_question
        self.indirect_prob = indirect_prob
        self.balancers: dict[str, AnswerBalancer] = defaultdict(AnswerBalancer)
        self.drafts = self.executed = 0  # statistics: proposals made, programs executed
        self._every = _Candidates(list(templates))
        self._of_family = {
            family: _Candidates([t for t in templates if t.family == family])
            for family, _ in HELD_OUT_FAMILY_TIMES
        }
        self._with_pairs = _Candidates([t for t in templates if t.uses_pairs])

    def generate(
        self, graph: SceneGraph, modes: list[tuple[str, str, int]], rng: random.Random
    ) -> list[QuestionRecord]:
        """Questions about ``graph``: for each ``(mode, split, count)`` up to ``count`` of them."""
        facts = VideoFacts(graph, self.vocab)
        seen: set[str] = set()
        runs: dict[str, tuple[SymbolicResult, bool]] = {}  # program -> result, well posed
        out: list[QuestionRecord] = []
        for mode in (_Mode(*m) for m in modes):
            for _ in range(mode.count):
                record = self._one(graph, facts, mode, rng, seen, runs, len(out))
                if record is not None:
                    out.append(record)
        return out

    def _context(
        self, facts: VideoFacts, mode: _Mode, rng: random.Random
    ) -> tuple[Context, _Candidates]:
        """The drafting context and candidate templates of one attempt in ``mode``."""
        if mode.name == "novel":
            kind, held = rng.choice(_HELD_OUT)
            if kind == "time":
                ctx = Context(facts, rng, indirect_prob=self.indirect_prob, force_time=held[1])
                return ctx, self._of_family[held[0]]
            ctx = Context(facts, rng, indirect_prob=self.indirect_prob, force_pair=held)
            return ctx, self._with_pairs
        prob = 0.75 if mode.name == "more_steps" else self.indirect_prob
        ctx = Context(facts, rng, indirect_prob=prob, avoid_pairs=HELD_OUT_PAIRS,
                      avoid_family_times=HELD_OUT_FAMILY_TIMES)  # fmt: skip
        return ctx, self._every

    def _pick(self, candidates: _Candidates, bal: AnswerBalancer, rng: random.Random) -> Template:
        return rng.choices(candidates.templates, cum_weights=candidates.cumulative(bal))[0]

    def _one(
        self, graph: SceneGraph, facts: VideoFacts, mode: _Mode, rng: random.Random,
        seen: set[str], runs: dict[str, tuple[SymbolicResult, bool]], index: int,
    ) -> QuestionRecord | None:  # fmt: skip
        """One question in ``mode``, or None if no attempt gave a welcome, well-posed one.

        ``seen``: the programs of the video's questions so far; ``runs``: the executor's result
        on the video of each program drafted so far (drafts recur), and whether it is well posed.
        """
        bal = self.balancers[mode.split]
        for _ in range(self.attempts * _EFFORT[mode.name]):
            ctx, candidates = self._context(facts, mode, rng)
            template = self._pick(candidates, bal, rng)
            draft = template.build(ctx, template, bal.want(template, rng))
            self.drafts += 1
            if draft is None or draft.program in seen:
                continue
            comps = composition_strings(template.family, draft.time_expr, draft.pairs)
            if is_novel(comps) != (mode.name == "novel"):
                continue
            compiled = compile_lazily(draft.program)
            steps = compiled.steps
            if (steps > self.max_train_steps) != (mode.name == "more_steps"):
                continue
            self.executed += 1
            run = runs.get(draft.program)
            if run is None:
                tree = compiled.tree
                result = evaluate(tree, facts.scene)
                run = runs[draft.program] = (result, well_posed(tree, result))
            result, ok = run
            if not ok:
                continue
            if not bal.accept(template, draft.program, result.answer):  # type: ignore[arg-type]
                continue
            seen.add(draft.program)
            return _record(graph, template, draft, result, steps, comps, mode.split, index)
        return None


def _record(
    graph: SceneGraph, template: Template, draft: Draft, result: SymbolicResult, steps: int,
    comps: list[str], split: str, index: int,
) -> QuestionRecord:  # fmt: skip
    binary = result.answer in _OTHER
    meta = QuestionMeta(
        template=template.name, family=template.family, semantic=template.semantic,
        structural=template.structural, answer_type="binary" if binary else "open",
        steps=steps, time_expr=draft.time_expr, indirect=draft.indirect,
        compositions=tuple(comps), novel=is_novel(comps), split=split,
    )  # fmt: skip
    return QuestionRecord(
        qid=f"{graph.video_id}-{index}", video_id=graph.video_id, question=draft.question,
        program=draft.program, answer=result.answer,  # type: ignore[arg-type]
        metadata=meta, golds=result.golds_json(),
    )  # fmt: skip
