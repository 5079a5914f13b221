"""The symbolic executor on a small hand-built scene; every answer below was worked out by hand.

Timeline (12 frames at 2 fps):

    frame             0  1  2  3  4  5  6  7  8  9 10 11
    opening a door       ■  ■
    drinking from a cup           ■  ■  ■        ■  ■
    playing w/ phone                          ■  ■  ■
    touching door        ■  ■
    holding cup                   ■  ■  ■        ■  ■
    holding phone                             ■  ■  ■
    visible: table always; door 0-3; cup 3-11; phone 7-11; looking at table in frame 0
"""

import pytest

from stair.programs import (
    OPERATIONS,
    VIDEO,
    ActionInstance,
    Category,
    Frame,
    ModuleTree,
    Node,
    Phrase,
    SceneGraph,
    SymbolicError,
    TemporalMode,
    compile_program,
    evaluate,
)
from stair.programs.symbolic import (
    Scene,
    SymBool,
    SymConcept,
    SymFrames,
    SymVideo,
    spans,
    value_from_json,
)


def _scene() -> SceneGraph:
    frames = []
    for f in range(12):
        objects = {"table"} | ({"door"} if f <= 3 else set()) | ({"cup"} if f >= 3 else set())
        objects |= {"phone"} if f >= 7 else set()
        rel = set()
        if f in (1, 2):
            rel.add(("touching", "door"))
        if f in (4, 5, 6, 9, 10):
            rel.add(("holding", "cup"))
        if f in (8, 9, 10):
            rel.add(("holding", "phone"))
        if f == 0:
            rel.add(("looking at", "table"))
        frames.append(Frame(frozenset(objects), frozenset(rel)))
    actions = (
        ActionInstance("opening a door", 1, 3, "opening", "door"),
        ActionInstance("drinking from a cup", 4, 7, "drinking from", "cup"),
        ActionInstance("playing with a phone", 8, 11, "playing with", "phone"),
        ActionInstance("drinking from a cup", 9, 11, "drinking from", "cup"),
    )
    return SceneGraph("hand", 2.0, tuple(frames), actions)


SCENE = _scene()
FIRST_HELD = "Query(class, OnlyItem(IterateUntil(forward, video, Exists(holding, Filter(frame, [relations])), Filter(frame, [relations, holding, objects]))))"
DUR = "Subtract(Query(end, action), Query(start, action))"

CASES = [
    # exists
    ("Exists(phone, Iterate(Localize(before, opening a door), Filter(frame, [objects])))", "no"),
    ("Exists(table, Iterate(Localize(before, opening a door), Filter(frame, [objects])))", "yes"),
    (
        "Exists(cup, Iterate(Localize(after, opening a door), Filter(frame, [relations, holding, objects])))",
        "yes",
    ),
    (
        "Exists(phone, Iterate(Localize(while, drinking from a cup), Filter(frame, [objects])))",
        "yes",
    ),
    (
        "Exists(touching, Iterate(Localize(after, opening a door), Filter(frame, [relations])))",
        "no",
    ),
    # query
    (
        "Query(class, OnlyItem(Iterate(Localize(before, playing with a phone), Filter(frame, [relations, holding, objects]))))",
        "cup",
    ),
    (
        "Query(class, OnlyItem(Iterate(Localize(between, [opening a door, playing with a phone]), Filter(frame, [actions]))))",
        "drinking from a cup",
    ),
    # choose
    (
        "Choose(door, cup, Query(class, OnlyItem(Iterate(Localize(while, opening a door), Filter(frame, [relations, touching, objects])))))",
        "door",
    ),
    # logic
    (
        "AND(Exists(cup, Iterate(video, Filter(frame, [relation, holding, objects]))), Exists(door, Iterate(video, Filter(frame, [relation, holding, objects]))))",
        "no",
    ),
    (
        "XOR(Exists(cup, Iterate(video, Filter(frame, [relation, holding, objects]))), Exists(door, Iterate(video, Filter(frame, [relation, holding, objects]))))",
        "yes",
    ),
    (
        "OR(NOT(Exists(cup, Iterate(video, Filter(frame, [objects])))), Exists(sofa, Iterate(video, Filter(frame, [objects]))))",
        "no",
    ),
    # first / last
    (FIRST_HELD, "cup"),
    (
        "Query(class, OnlyItem(IterateUntil(backward, Localize(before, playing with a phone), Exists(holding, Filter(frame, [relations])), Filter(frame, [relations, holding, objects]))))",
        "cup",
    ),
    (
        "Query(class, OnlyItem(IterateUntil(forward, video, HasItem(Filter(frame, [actions])), Filter(frame, [actions]))))",
        "opening a door",
    ),
    (
        "Equals(door, OnlyItem(IterateUntil(forward, video, Exists(touching, Filter(frame, [relations])), Filter(frame, [relations, touching, objects]))))",
        "yes",
    ),
    # longest / shortest
    (
        f"Superlative(max, [Filter(video, [actions, opening a door]), Filter(video, [actions, playing with a phone])], {DUR})",
        "playing with a phone",
    ),
    (
        f"Superlative(min, [Filter(video, [actions, opening a door]), Filter(video, [actions, playing with a phone])], {DUR})",
        "opening a door",
    ),
    (
        f"Equals(opening a door, Superlative(min, [Filter(video, [actions, opening a door]), Filter(video, [actions, playing with a phone])], {DUR}))",
        "yes",
    ),
    (f"Superlative(max, Filter(video, [actions]), {DUR})", "drinking from a cup"),
    (
        f"Superlative(min, Iterate(Localize(before, playing with a phone), Filter(frame, [actions])), {DUR})",
        "opening a door",
    ),
    # before / after
    (
        "Compare([before, after], Exists(opening a door, Iterate(Localize(temporal tag, drinking from a cup), Filter(frame, [actions]))))",
        "before",
    ),
    (
        "Compare([before, after], Exists(holding, Iterate(Localize(temporal tag, opening a door), Filter(frame, [relations]))))",
        "after",
    ),
    # counting
    ("Count(drinking from a cup)", "2"),
    ("Count(drinking from a cup, Localize(before, playing with a phone))", "1"),
    ("Count(opening a door, Localize(after, playing with a phone))", "0"),
    # indirect references
    (
        f"Exists(ToAction(drinking from, {FIRST_HELD}), Iterate(Localize(after, opening a door), Filter(frame, [actions])))",
        "yes",
    ),
    (
        f"Query(class, OnlyItem(Iterate(Localize(before, Superlative(max, [Filter(video, [actions, opening a door]), Filter(video, [actions, playing with a phone])], {DUR})), Filter(frame, [relations, holding, objects]))))",
        "cup",
    ),
]


@pytest.mark.parametrize("program,answer", CASES)
def test_answers_worked_out_by_hand(program, answer):
    result = evaluate(compile_program(program), SCENE)
    assert result.issues == []
    assert result.answer == answer


def test_every_node_gets_a_typed_gold():
    tree = compile_program(CASES[0][0])
    result = evaluate(tree, SCENE)
    assert set(result.values) == {n.id for n in tree.nodes}
    exists, filt, temporal, localize = (result.values[i] for i in range(4))
    assert localize == SymFrames(tuple(f in (1, 2) for f in range(12)))
    assert temporal == SymVideo(tuple(f == 0 for f in range(12)))
    assert filt == SymConcept(frozenset({"door", "table"}), filt.category)
    assert exists == SymBool(False)


@pytest.mark.parametrize(
    "program,issue",
    [
        (
            "Query(class, OnlyItem(IterateUntil(backward, video, HasItem(Filter(frame, [actions])), Filter(frame, [actions]))))",
            "the answer has 2 items",
        ),
        (
            "Exists(cup, Iterate(Localize(before, juggling), Filter(frame, [objects])))",
            "the anchor action never happens",
        ),
        (
            "Compare([before, after], Exists(cup, Iterate(Localize(temporal tag, drinking from a cup), Filter(frame, [objects]))))",
            "before is True and after is True",
        ),
        (
            "Choose(cup, phone, Query(class, OnlyItem(Iterate(video, Filter(frame, [relations, holding, objects])))))",
            "2 of the options match",
        ),
        (
            "Exists(cup, Iterate(Localize(between, [drinking from a cup, opening a door]), Filter(frame, [objects])))",
            "the between window is empty",
        ),
    ],
)
def test_ill_posed_questions_are_reported(program, issue):
    result = evaluate(compile_program(program), SCENE)
    assert result.answer is None or "anchor" in issue or "window" in issue
    assert any(issue in i for i in result.issues)


def test_one_scene_for_many_programs_gives_what_each_alone_gives():
    """A Scene remembers subtree values across programs; the results must not change, and an
    issue inside a shared subtree is reported again, under its path in the later tree."""
    programs = [p for p, _ in CASES] + [
        "Exists(cup, Iterate(Localize(before, juggling), Filter(frame, [objects])))",
        "Exists(book, Iterate(Localize(before, juggling), Filter(frame, [objects])))",
        "NOT(Exists(cup, Iterate(Localize(before, juggling), Filter(frame, [objects]))))",
    ]
    scene = Scene(SCENE)
    for _ in range(2):
        for program in programs:
            tree = compile_program(program)
            shared, alone = evaluate(tree, scene), evaluate(tree, SCENE)
            assert shared.values == alone.values
            assert (shared.answer, shared.issues) == (alone.answer, alone.issues)
    assert scene.memo  # subtrees were kept ...
    assert not any(
        n.module == "Temporal" and "juggling" in str(n) for n in scene.memo
    )  # ... but not those with issues
    last = evaluate(compile_program(programs[-1]), scene)
    assert last.issues == [
        "Not/0:Exists/1:Filter[objects]/0:Temporal[before]: the anchor action never happens"
    ]


def test_exists_over_a_window_says_at_which_frames_the_item_is_there():
    tree = compile_program(CASES[2][0])  # holding a cup after opening a door: yes
    result = evaluate(tree, SCENE)
    exists = result.values[0]
    assert exists.value is True
    assert spans(exists.frames) == [[4, 7], [9, 11]]  # held in 4-6 and 9-10
    assert spans(exists.window) == [[3, 12]]  # after the door, opened in frames 1-2
    golds = result.golds_json()
    # and what else is held in the window: the gold of the same reading for every object
    assert golds["0"] == {"type": "Bool", "value": True, "frames": [[4, 7], [9, 11]],
                          "window": [[3, 12]], "category": "objects",
                          "members": {"cup": [[4, 7], [9, 11]], "phone": [[8, 11]]}}  # fmt: skip
    again = value_from_json(golds["0"], SCENE.num_frames)
    assert (again.frames, again.window) == (exists.frames, exists.window)
    assert again.members == exists.members and again.category is Category.OBJECTS
    # the answers combined from frame-read facts are not read off frames themselves
    both = next(p for p, _ in CASES if p.startswith("AND(Exists"))
    assert "frames" not in evaluate(compile_program(both), SCENE).golds_json()["0"]


def test_golds_survive_json():
    tree = compile_program(CASES[12][0])
    result = evaluate(tree, SCENE)
    golds = result.golds_json()
    again = {int(k): value_from_json(v, SCENE.num_frames) for k, v in golds.items()}
    assert again == result.values
    assert golds["0"] == {"type": "Concept", "items": ["cup"], "category": "objects"}


def test_scene_graph_json_round_trip_and_errors():
    from stair.programs import SceneGraphError

    assert SceneGraph.from_json(SCENE.to_json()) == SCENE
    bad = SCENE.to_json()
    bad["actions"][0]["end"] = 99
    with pytest.raises(SceneGraphError, match=r"video 'hand'.*actions\[0\]"):
        SceneGraph.from_json(bad)
    del bad["frames"]
    with pytest.raises(SceneGraphError, match="video 'hand'"):
        SceneGraph.from_json(bad)


def test_per_frame_modules_need_per_frame_concepts():
    tree = ModuleTree(Node("Exists", (Phrase("cup"), Node("Filter", (Node("AttnVideo", (VIDEO, Node("ExistsFrame", (Phrase("cup"), VIDEO)))), None), Category.OBJECTS))))  # fmt: skip
    with pytest.raises(
        SymbolicError,
        match=r"^Exists/1:Filter\[objects\]/0:AttnVideo/1:ExistsFrame: needs per-frame concepts$",
    ):
        evaluate(tree, SCENE)


def test_an_operation_is_a_plain_typed_function():
    """The semantics of a module can be called directly on symbolic values."""
    anchor = SymFrames(tuple(f in (4, 5) for f in range(8)))
    window = SymVideo((True,) * 8)
    before = OPERATIONS["Temporal"](TemporalMode.BEFORE, window, anchor, report=None)
    assert before == SymVideo(tuple(f < 4 for f in range(8)))
    assert OPERATIONS["Exists"](Phrase("cup"), SymConcept(frozenset({"cup", "table"}))) == SymBool(
        True
    )
    assert OPERATIONS["Count"](SymFrames((True, False, True, True))).value == 2
