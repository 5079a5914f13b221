"""Hypothesis strategies for random well-typed module trees, built from the signatures."""

from hypothesis import strategies as st

from stair.programs import SIGNATURES, VIDEO, Node, Phrase, VType

WORDS = ["cup", "holding", "opening a door", "on the side of", "phone", "sitting in a chair"]


def phrases():
    return st.lists(st.sampled_from([*WORDS, "a", "b c"]), min_size=1, max_size=3).map(
        lambda ws: Phrase(" ".join(ws))
    )


@st.composite
def value_of(draw, vtype: VType, depth: int):
    """A node, phrase or video input producing ``vtype``."""
    if vtype is VType.TEXT:
        return draw(phrases())
    if vtype is VType.VIDEO and (depth <= 0 or draw(st.booleans())):
        return VIDEO
    modules = sorted(m for m, s in SIGNATURES.items() if s.returns is vtype)
    if depth <= 0:
        # the shallowest producers of each type, so recursion always ends
        modules = [{VType.FRAMES: "Localize", VType.CONCEPT: "Filter"}.get(vtype, modules[0])]
    return draw(node(draw(st.sampled_from(modules)), depth))


@st.composite
def node(draw, module: str, depth: int):
    sig = SIGNATURES[module]
    switch = draw(st.sampled_from(list(sig.switch))) if sig.switch else None
    args = []
    for param in sig.params:
        types = sorted(param.types, key=str)
        if param.only_with is not None:
            wanted = switch is not None and switch.value in param.only_with
            args.append(draw(value_of(types[0], depth - 1)) if wanted else None)
        elif param.variadic:
            n = draw(st.integers(0, 2))
            args.append(
                tuple(draw(value_of(draw(st.sampled_from(types)), depth - 1)) for _ in range(n))
            )
        elif param.optional and draw(st.booleans()):
            args.append(None)
        else:
            args.append(draw(value_of(draw(st.sampled_from(types)), depth - 1)))
    return Node(module, tuple(args), switch)


def trees(max_depth: int = 4):
    roots = st.sampled_from([VType.BOOL, VType.CONCEPT, VType.COUNT])
    return roots.flatmap(lambda t: st.integers(1, max_depth).flatmap(lambda d: value_of(t, d)))
