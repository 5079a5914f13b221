"""Question templates about what holds in a time window: exists, query, choose, and/xor, count.

Every template has a time expression ``T`` (whole video, before / after / while / between
actions, the anchors possibly indirect) and produces an AGQA program of the shapes listed in
AGQA_FORMAT.md; counting uses STAIR's extension ``Count(A)`` / ``Count(A, T)``. Builders steer
towards the wanted answer (``want``) from the video's facts; the executor has the last word.
"""

from __future__ import annotations

from stair.data.synth.context import Context, Draft, Template


def article(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def _absent(ctx: Context, inside: set[str], universe: set[str], seen: set[str]) -> str | None:
    """Something not ``inside`` the window, preferably ``seen`` elsewhere in the video."""
    near = sorted(seen - inside)
    if near and ctx.coin(0.6):
        return ctx.pick(near)
    return ctx.pick(sorted(universe - inside))


def _related_objects(relation: str) -> str:
    """The per-frame filter "objects they were ``relation``"."""
    return f"Filter(frame, [relations, {relation}, objects])"


# -- exists -------------------------------------------------------------------------------------
def exists_object(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    t = ctx.time(tpl.family)
    if t is None:
        return None
    facts = ctx.facts
    inside = facts.objects_in(t.window)
    if want == "yes":
        obj = ctx.pick(sorted(inside))
    else:
        obj = _absent(ctx, inside, set(facts.vocab.objects), facts.objects_in(facts.full))
    if obj is None:
        return None
    program = f"Exists({obj}, Iterate({t.program}, Filter(frame, [objects])))"
    return Draft(program, ctx.say(tpl, o=article(obj), t=t.text), t.kind, (), t.indirect)


def exists_relation_object(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    t = ctx.time(tpl.family)
    if t is None:
        return None
    facts = ctx.facts
    if ctx.force_pair is None and ctx.coin(ctx.indirect_prob):
        ref = ctx.object_ref(facts.objects_in(facts.full), indirect=True)
        if ref is None or not ref.indirect:
            return None
        pairs = facts.pairs_in(t.window)
        rels = {r for r, o in pairs if o == ref.obj}
        if want == "yes":
            relation = ctx.pick(sorted(rels))
        else:
            relation = ctx.pick(sorted(set(facts.vocab.relations) - rels))
        if relation is None:
            return None
        named: tuple[tuple[str, str], ...] = ()
    else:
        pair = ctx.pair(t.window, want == "yes")
        if pair is None:
            return None
        relation, obj = pair
        ref = ctx.object_ref({obj}, indirect=False)
        named = (pair,)
    assert ref is not None
    program = f"Exists({ref.program}, Iterate({t.program}, {_related_objects(relation)}))"
    question = ctx.say(tpl, r=relation, o=ref.text, t=t.text)
    return Draft(program, question, t.kind, named, t.indirect or ref.indirect)


def exists_relation(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    t = ctx.time(tpl.family)
    if t is None:
        return None
    facts = ctx.facts
    inside = {r for r, _ in facts.pairs_in(t.window)}
    if want == "yes":
        relation = ctx.pick(sorted(inside))
    else:
        seen = {r for r, _ in facts.pairs_in(facts.full)}
        relation = _absent(ctx, inside, set(facts.vocab.relations), seen)
    if relation is None:
        return None
    program = f"Exists({relation}, Iterate({t.program}, Filter(frame, [relations])))"
    return Draft(program, ctx.say(tpl, r=relation, t=t.text), t.kind, (), t.indirect)


# -- query / choose -----------------------------------------------------------------------------
def query_object(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    t = ctx.time(tpl.family)
    if t is None:
        return None
    pairs = ctx.facts.pairs_in(t.window)
    rels = sorted({r for r, _ in pairs})
    single = [r for r in rels if sum(1 for q, _ in pairs if q == r) == 1]
    relation = ctx.pick(single or rels)
    if relation is None:
        return None
    program = f"Query(class, OnlyItem(Iterate({t.program}, {_related_objects(relation)})))"
    return Draft(program, ctx.say(tpl, r=relation, t=t.text), t.kind, (), t.indirect)


def query_relation(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    t = ctx.time(tpl.family)
    if t is None:
        return None
    pairs = ctx.facts.pairs_in(t.window)
    objs = sorted({o for _, o in pairs})
    single = [o for o in objs if sum(1 for _, p in pairs if p == o) == 1]
    obj = ctx.pick(single or objs)
    if obj is None:
        return None
    program = (
        f"Query(class, OnlyItem(Iterate({t.program}, Filter(frame, [objects, {obj}, relations]))))"
    )
    return Draft(program, ctx.say(tpl, o=obj, t=t.text), t.kind, (), t.indirect)


def _two_objects(ctx: Context, window: tuple[bool, ...], n_in: int) -> tuple[str, str, str] | None:
    """A relation and two objects of which ``n_in`` (0, 1 or 2) are related by it in ``window``."""
    facts = ctx.facts
    pair = ctx.pair(window, n_in > 0)
    if pair is None:
        return None
    relation, first = pair
    related = facts.related_in(relation, window)
    if ctx.force_pair is not None:
        n_in = max(n_in, 1) if first in related else min(n_in, 1)
    first_in = first in related
    second_in = n_in == 2 or (n_in == 1 and not first_in)
    if second_in:
        pool = related - {first}
    else:
        pool = (facts.objects_in(window) | set(facts.vocab.objects)) - related - {first}
        near = facts.objects_in(window) - related - {first}
        pool = near if near and ctx.coin(0.6) else pool
    second = ctx.pick(sorted(o for o in pool if (relation, o) not in ctx.avoid_pairs))
    if second is None:
        return None
    return (relation, first, second) if ctx.coin() else (relation, second, first)


def choose_object(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    t = ctx.time(tpl.family)
    if t is None:
        return None
    chosen = _two_objects(ctx, t.window, 1)
    if chosen is None:
        return None
    relation, o1, o2 = chosen
    query = f"Query(class, OnlyItem(Iterate({t.program}, {_related_objects(relation)})))"
    program = f"Choose({o1}, {o2}, {query})"
    question = ctx.say(tpl, r=relation, o1=o1, o2=o2, t=t.text)
    return Draft(program, question, t.kind, ((relation, o1), (relation, o2)), t.indirect)


# -- logic --------------------------------------------------------------------------------------
def _logic(ctx: Context, tpl: Template, op: str, n_in: int) -> Draft | None:
    t = ctx.time(tpl.family)
    if t is None:
        return None
    chosen = _two_objects(ctx, t.window, n_in)
    if chosen is None:
        return None
    relation, o1, o2 = chosen
    part = f"Iterate({t.program}, Filter(frame, [relation, {relation}, objects]))"
    program = f"{op}(Exists({o1}, {part}), Exists({o2}, {part}))"
    question = ctx.say(tpl, r=relation, o1=o1, o2=o2, t=t.text)
    return Draft(program, question, t.kind, ((relation, o1), (relation, o2)), t.indirect)


def logic_and(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    n_in = 2 if want == "yes" else ctx.pick([0, 1, 1])
    return _logic(ctx, tpl, "AND", n_in)  # type: ignore[arg-type]


def logic_xor(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    n_in = 1 if want == "yes" else ctx.pick([0, 2, 2])
    return _logic(ctx, tpl, "XOR", n_in)  # type: ignore[arg-type]


# -- count --------------------------------------------------------------------------------------
def count(ctx: Context, tpl: Template, want: str | None) -> Draft | None:
    t = ctx.time(tpl.family)
    if t is None:
        return None
    facts = ctx.facts
    by_count = facts.by_count(t.window, frozenset(a.phrase for a in t.anchors))
    target = int(want) if want is not None and want.isdigit() else None
    if target not in by_count:  # not possible here: any count that is (0 always is)
        target = ctx.pick(sorted(by_count))
    if target == 0:  # preferably an action that happens, but not in the window
        seen = [p for p in by_count[0] if p in facts.masks]
        phrase = ctx.pick(seen) if seen and ctx.coin(0.6) else ctx.pick(by_count[0])
    else:
        phrase = ctx.pick(by_count[target])  # type: ignore[index]
    if phrase is None:
        return None
    program = f"Count({phrase})" if t.kind == "video" else f"Count({phrase}, {t.program})"
    base = facts.vocab.action(phrase).base
    return Draft(program, ctx.say(tpl, a=phrase, b=base, t=t.text), t.kind, (), t.indirect)


TEMPLATES = [
    Template("exists_object", "exists", "object", "verify", "yes/no",
             ("was there {o}{t}?", "did they see {o}{t}?", "could {o} be seen{t}?"),
             exists_object),
    Template("exists_relation_object", "exists", "relation", "verify", "yes/no",
             ("were they {r} {o}{t}?", "was the person {r} {o}{t}?",
              "did they spend any time {r} {o}{t}?"),
             exists_relation_object, weight=1.5, uses_pairs=True),
    Template("exists_relation", "exists", "relation", "verify", "yes/no",
             ("were they {r} anything{t}?", "was the person {r} something{t}?",
              "were they {r} any object{t}?"),
             exists_relation, weight=0.7),
    Template("query_object", "query", "object", "query", "open",
             ("what were they {r}{t}?", "what was the person {r}{t}?",
              "which object were they {r}{t}?"),
             query_object, weight=1.5),
    Template("query_relation", "query", "relation", "query", "open",
             ("how were they interacting with the {o}{t}?",
              "what was their relation to the {o}{t}?",
              "in what way were they engaging with the {o}{t}?"),
             query_relation),
    Template("choose_object", "choose", "object", "choose", "open",
             ("were they {r} the {o1} or the {o2}{t}?",
              "which were they {r}{t}: the {o1} or the {o2}?",
              "was it the {o1} or the {o2} that they were {r}{t}?"),
             choose_object, weight=1.5, uses_pairs=True),
    Template("and_objects", "and", "object", "logic", "yes/no",
             ("were they {r} both the {o1} and the {o2}{t}?",
              "were they {r} the {o1} and also the {o2}{t}?",
              "was the person {r} the {o1} as well as the {o2}{t}?"),
             logic_and, weight=1.5, uses_pairs=True),
    Template("xor_objects", "xor", "object", "logic", "yes/no",
             ("were they {r} the {o1} or the {o2}{t}, but not both?",
              "were they {r} exactly one of the {o1} and the {o2}{t}?",
              "was the person {r} either the {o1} or the {o2}{t}, but not both?"),
             logic_xor, weight=1.2, uses_pairs=True),
    Template("count_action", "count", "action", "query", "count",
             ("how many times did they {b}{t}?", "how often did they {b}{t}?",
              "how many separate times were they {a}{t}?"),
             count, weight=2.0),
]  # fmt: skip
