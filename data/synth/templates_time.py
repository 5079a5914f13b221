"""Question templates about order and duration: first/last, longest/shortest, before/after
(``Compare``) and sequencing.

Programs follow the AGQA shapes of AGQA_FORMAT.md: ``IterateUntil(forward|backward, T, cond,
Filter(...))`` for first/last, ``Superlative(max|min, ..., Subtract(...))`` for duration,
``Compare([before, after], ... Localize(temporal tag, A) ...)`` for before-or-after, and
``Iterate(Localize(before|after|..., A), Filter(frame, [actions]))`` for sequencing. Anchors may be
indirect (the longest action, a verb applied to "the thing they were R first").
"""

from __future__ import annotations

from stair.data.synth.context import Context, Draft, Template
from stair.data.synth.refs import SUBTRACT

_FIRST = (("forward", "first"), ("backward", "last"))
_EXTREME = (("max", "longest", "longer", "more"), ("min", "shortest", "shorter", "less"))


def _until(direction: str, time: str, relation: str) -> str:
    cond = f"Exists({relation}, Filter(frame, [relations]))"
    select = f"Filter(frame, [relations, {relation}, objects])"
    return f"IterateUntil({direction}, {time}, {cond}, {select})"


# -- first / last -------------------------------------------------------------------------------
def first_last_object(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    direction, word = ctx.pick(_FIRST)  # type: ignore[misc]
    t = ctx.time(tpl.family)
    if t is None:
        return None
    facts = ctx.facts
    rels = sorted({r for r, _ in facts.pairs_in(t.window)})
    single = [r for r in rels if len(facts.first_last(r, direction, t.window)) == 1]
    relation = ctx.pick(single or rels)
    if relation is None:
        return None
    program = f"Query(class, OnlyItem({_until(direction, t.program, relation)}))"
    question = ctx.say(tpl, r=relation, first=word, t=t.text)
    return Draft(program, question, t.kind, (), t.indirect)


def first_last_verify(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    direction, word = ctx.pick(_FIRST)  # type: ignore[misc]
    t = ctx.time(tpl.family)
    if t is None:
        return None
    facts = ctx.facts
    if ctx.force_pair is not None:
        relation, obj = ctx.force_pair
    else:
        rels = sorted({r for r, _ in facts.pairs_in(t.window)})
        single = [r for r in rels if len(facts.first_last(r, direction, t.window)) == 1]
        relation = ctx.pick(single)
        if relation is None:
            return None
        (answer,) = facts.first_last(relation, direction, t.window)
        if want == "yes":
            obj = answer
        else:
            others = facts.related_in(relation, t.window) - {answer}
            pool = others if others and ctx.coin(0.7) else facts.objects_in(t.window) - {answer}
            obj = ctx.pick(sorted(o for o in pool if (relation, o) not in ctx.avoid_pairs))
        if obj is None:
            return None
    program = f"Equals({obj}, OnlyItem({_until(direction, t.program, relation)}))"
    question = ctx.say(tpl, r=relation, o=obj, first=word, t=t.text)
    return Draft(program, question, t.kind, ((relation, obj),), t.indirect)


def first_last_action(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    direction, word = ctx.pick(_FIRST)  # type: ignore[misc]
    t = ctx.time(tpl.family, ("video", "before", "after", "between"))
    if t is None:
        return None
    cond = "HasItem(Filter(frame, [actions]))"
    until = f"IterateUntil({direction}, {t.program}, {cond}, Filter(frame, [actions]))"
    question = ctx.say(tpl, first=word, t=t.text)
    return Draft(f"Query(class, OnlyItem({until}))", question, t.kind, (), t.indirect)


# -- longest / shortest -------------------------------------------------------------------------
def _two_actions(ctx: Context) -> tuple[str, str] | None:
    phrases = ctx.facts.phrases
    for _ in range(4):
        if len(phrases) < 2:
            return None
        a1, a2 = ctx.rng.sample(phrases, 2)
        if ctx.facts.duration(a1) != ctx.facts.duration(a2):
            return a1, a2
    return None


def _superlative_pair(extreme: str, a1: str, a2: str) -> str:
    cands = f"[Filter(video, [actions, {a1}]), Filter(video, [actions, {a2}])]"
    return f"Superlative({extreme}, {cands}, {SUBTRACT})"


def superlative_choose(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    extreme, _, longer, more = ctx.pick(_EXTREME)  # type: ignore[misc]
    pair = _two_actions(ctx)
    if pair is None:
        return None
    a1, a2 = pair
    question = ctx.say(tpl, a1=a1, a2=a2, longer=longer, more=more)
    return Draft(_superlative_pair(extreme, a1, a2), question, "video")


def superlative_verify(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    extreme, _, longer, more = ctx.pick(_EXTREME)  # type: ignore[misc]
    pair = _two_actions(ctx)
    if pair is None:
        return None
    a1, a2 = sorted(pair, key=ctx.facts.duration, reverse=(extreme == "max") == (want == "yes"))
    program = f"Equals({a1}, {_superlative_pair(extreme, a1, a2)})"
    question = ctx.say(tpl, a1=a1, a2=a2, longer=longer, more=more)
    return Draft(program, question, "video")


def superlative_query(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    extreme, longest, _, _ = ctx.pick(_EXTREME)  # type: ignore[misc]
    t = ctx.time(tpl.family, ("video", "before", "after", "between"))
    if t is None:
        return None
    if t.kind == "video":
        cands = "Filter(video, [actions])"
    else:
        cands = f"Iterate({t.program}, Filter(frame, [actions]))"
    program = f"Superlative({extreme}, {cands}, {SUBTRACT})"
    question = ctx.say(tpl, longest=longest, t=t.text)
    return Draft(program, question, t.kind, (), t.indirect)


# -- before / after (Compare) -------------------------------------------------------------------
def _compare(ctx: Context, tpl: Template, want: str | None, category: str) -> Draft | None:
    if ctx.force_time is not None:
        return None
    facts = ctx.facts
    anchor = ctx.action_ref()
    if anchor is None:
        return None
    windows = [facts.window(mode, (anchor,)) for mode in ("before", "after")]
    relation = None
    if category == "actions":
        sets = [facts.actions_in(w) - {anchor.phrase} for w in windows]
    elif category == "objects":
        sets = [facts.objects_in(w) for w in windows]
    else:
        pair = ctx.force_pair or ctx.pick(sorted(facts.pairs_in(facts.full) - ctx.avoid_pairs))
        if pair is None:
            return None
        relation = pair[0]
        sets = [facts.related_in(relation, w) for w in windows]
    before, after = sets
    pool = before - after if want == "before" else after - before
    if ctx.force_pair is not None:
        item = ctx.force_pair[1]
    else:
        item = ctx.pick(sorted(pool if pool else before ^ after))
    if item is None or (relation is not None and (relation, item) in ctx.avoid_pairs):
        return None
    what = f"relations, {relation}, objects" if relation else category
    body = f"Iterate(Localize(temporal tag, {anchor.program}), Filter(frame, [{what}]))"
    program = f"Compare([before, after], Exists({item}, {body}))"
    slots = {"a2": anchor.text, "r": relation or "", "o": item}
    if category == "actions":
        slots.update(b1=facts.vocab.action(item).base, a1=item)
    pairs = ((relation, item),) if relation else ()
    return Draft(program, ctx.say(tpl, **slots), "tag", pairs, anchor.indirect)


def compare_action(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    return _compare(ctx, tpl, want, "actions")


def compare_relation(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    return _compare(ctx, tpl, want, "relations")


def compare_object(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    return _compare(ctx, tpl, want, "objects")


# -- sequencing ---------------------------------------------------------------------------------
def sequence_query(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    t = ctx.time(tpl.family, ("before", "after", "between"))
    if t is None:
        return None
    program = f"Query(class, OnlyItem(Iterate({t.program}, Filter(frame, [actions]))))"
    return Draft(program, ctx.say(tpl, t=t.text), t.kind, (), t.indirect)


def sequence_verify(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    t = ctx.time(tpl.family, ("before", "after", "while", "between"))
    if t is None:
        return None
    facts = ctx.facts
    anchors = {a.phrase for a in t.anchors}
    inside = facts.actions_in(t.window) | anchors
    if want == "yes":
        phrase = ctx.pick(sorted(inside - anchors))
    else:
        seen = sorted(set(facts.phrases) - inside)
        every = sorted({a.phrase for a in facts.vocab.actions} - inside)
        phrase = ctx.pick(seen) if seen and ctx.coin(0.7) else ctx.pick(every)
    if phrase is None:
        return None
    program = f"Exists({phrase}, Iterate({t.program}, Filter(frame, [actions])))"
    base = facts.vocab.action(phrase).base
    return Draft(program, ctx.say(tpl, a1=phrase, b1=base, t=t.text), t.kind, (), t.indirect)


TEMPLATES = [
    Template("first_last_object", "first_last", "object", "query", "open",
             ("what were they {r} {first}{t}?", "what was the {first} thing they were {r}{t}?",
              "which object were they {r} {first}{t}?"),
             first_last_object),
    Template("first_last_verify", "first_last", "object", "verify", "yes/no",
             ("was the {o} the {first} thing they were {r}{t}?",
              "was the {first} object they were {r}{t} the {o}?",
              "is the {o} what they were {r} {first}{t}?"),
             first_last_verify, uses_pairs=True),
    Template("first_last_action", "first_last", "action", "query", "open",
             ("what did they do {first}{t}?", "what was the {first} thing they did{t}?",
              "which action were they doing {first}{t}?"),
             first_last_action),
    Template("superlative_choose", "superlative", "action", "choose", "open",
             ("which did they spend {more} time doing: {a1} or {a2}?",
              "which was {longer}: {a1} or {a2}?", "did they spend {more} time {a1} or {a2}?"),
             superlative_choose, weight=0.7),
    Template("superlative_verify", "superlative", "action", "compare", "yes/no",
             ("did they spend {more} time {a1} than {a2}?", "did {a1} last {longer} than {a2}?",
              "was {a1} {longer} than {a2}?"),
             superlative_verify, weight=0.7),
    Template("superlative_query", "superlative", "action", "query", "open",
             ("what did they do for the {longest} time{t}?",
              "which action lasted the {longest}{t}?",
              "what was the {longest} thing they did{t}?"),
             superlative_query, weight=0.7),
    Template("compare_action", "compare", "action", "compare", "before/after",
             ("did they {b1} before or after {a2}?", "was the person {a1} before or after {a2}?",
              "when did they {b1}: before or after {a2}?"),
             compare_action),
    Template("compare_relation", "compare", "relation", "compare", "before/after",
             ("were they {r} the {o} before or after {a2}?",
              "was the person {r} the {o} before or after {a2}?",
              "when were they {r} the {o}: before or after {a2}?"),
             compare_relation, uses_pairs=True),
    Template("compare_object", "compare", "object", "compare", "before/after",
             ("was the {o} visible before or after {a2}?",
              "did they see the {o} before or after {a2}?",
              "could the {o} be seen before or after {a2}?"),
             compare_object, weight=0.7),
    Template("sequence_query", "sequencing", "action", "query", "open",
             ("what did they do{t}?", "what were they doing{t}?",
              "which action did they perform{t}?"),
             sequence_query),
    Template("sequence_verify", "sequencing", "action", "verify", "yes/no",
             ("did they {b1}{t}?", "was the person {a1}{t}?", "did they {b1} at some point{t}?"),
             sequence_verify),
]  # fmt: skip
