"""Golden compile tests: every AGQA template shape -> the module tree DESIGN.md section 6 gives."""

import pytest

from stair.programs import ProgramError, compile_program, to_text
from stair.programs.signatures import VType

GOLDEN = {
    "exists_obj": (
        "Exists(phone, Iterate(Localize(before, opening a closet), Filter(frame, [objects])))",
        'Exists("phone", Filter[objects](Temporal[before](video, Localize(video, "opening a closet"))))',
    ),
    "exists_rel_obj": (
        "Exists(cup, Iterate(Localize(after, sitting on a chair), Filter(frame, [relations, holding, objects])))",
        'Exists("cup", Filter[objects](Temporal[after](video, Localize(video, "sitting on a chair")), "holding"))',
    ),
    "exists_rel": (
        "Exists(on the side of, Iterate(Localize(while, watching television), Filter(frame, [relations])))",
        'Exists("on the side of", Filter[relations](Temporal[while](video, Localize(video, "watching television"))))',
    ),
    "and_relation": (
        "AND(Exists(cup, Iterate(video, Filter(frame, [relation, holding, objects]))), Exists(phone, Iterate(video, Filter(frame, [relation, holding, objects]))))",
        'And(Exists("cup", Filter[objects](video, "holding")), Exists("phone", Filter[objects](video, "holding")))',
    ),
    "xor_between": (
        "XOR(Exists(cup, Iterate(Localize(between, [opening a door, closing a door]), Filter(frame, [relations, touching, objects]))), Exists(dish, Iterate(Localize(between, [opening a door, closing a door]), Filter(frame, [relations, touching, objects]))))",
        'Xor(Exists("cup", Filter[objects](Temporal[between](video, Localize(video, "opening a door"), Localize(video, "closing a door")), "touching")), Exists("dish", Filter[objects](Temporal[between](video, Localize(video, "opening a door"), Localize(video, "closing a door")), "touching")))',
    ),
    "query_obj": (
        "Query(class, OnlyItem(Iterate(video, Filter(frame, [objects]))))",
        "Filter[objects](video)",
    ),
    "query_rel_obj": (
        "Query(class, OnlyItem(Iterate(Localize(after, eating a sandwich), Filter(frame, [relations, in front of, objects]))))",
        'Filter[objects](Temporal[after](video, Localize(video, "eating a sandwich")), "in front of")',
    ),
    "query_act": (
        "Query(class, OnlyItem(Iterate(Localize(before, lying on a bed), Filter(frame, [actions]))))",
        'Filter[actions](Temporal[before](video, Localize(video, "lying on a bed")))',
    ),
    "choose": (
        "Choose(cup, dish, Query(class, OnlyItem(Iterate(video, Filter(frame, [relations, holding, objects])))))",
        'Choose("cup", "dish", Filter[objects](video, "holding"))',
    ),
    "first_obj": (
        "Query(class, OnlyItem(IterateUntil(forward, video, Exists(holding, Filter(frame, [relations])), Filter(frame, [relations, holding, objects]))))",
        'Filter[objects](AttnVideo(video, Relate[forward](ExistsFrame("holding", FilterFrame[relations](video)))), "holding")',
    ),
    "equals_last": (
        "Equals(blanket, OnlyItem(IterateUntil(backward, Localize(after, walking through a doorway), Exists(touching, Filter(frame, [relations])), Filter(frame, [relations, touching, objects]))))",
        'Equals("blanket", Filter[objects](AttnVideo(Temporal[after](video, Localize(video, "walking through a doorway")), Relate[backward](ExistsFrame("touching", FilterFrame[relations](Temporal[after](video, Localize(video, "walking through a doorway")))))), "touching"))',
    ),
    "first_act": (
        "Query(class, OnlyItem(IterateUntil(forward, video, HasItem(Filter(frame, [actions])), Filter(frame, [actions]))))",
        "Filter[actions](AttnVideo(video, Relate[forward](HasItem(FilterFrame[actions](video)))))",
    ),
    "superlative_list": (
        "Superlative(max, [Filter(video, [actions, holding a blanket]), Filter(video, [actions, sitting on a bed])], Subtract(Query(end, action), Query(start, action)))",
        'Superlative[max](video, [Filter[actions](video, "holding a blanket"), Filter[actions](video, "sitting on a bed")])',
    ),
    "equals_superlative": (
        "Equals(holding a blanket, Superlative(min, [Filter(video, [actions, holding a blanket]), Filter(video, [actions, sitting on a bed])], Subtract(Query(end, action), Query(start, action))))",
        'Equals("holding a blanket", Superlative[min](video, [Filter[actions](video, "holding a blanket"), Filter[actions](video, "sitting on a bed")]))',
    ),
    "superlative_all": (
        "Superlative(max, Filter(video, [actions]), Subtract(Query(end, action), Query(start, action)))",
        "Superlative[max](video, [])",
    ),
    "compare_action": (
        "Compare([before, after], Exists(holding a pillow, Iterate(Localize(temporal tag, sitting in a chair), Filter(frame, [actions]))))",
        'Compare(Exists("holding a pillow", Filter[actions](Temporal[before](video, Localize(video, "sitting in a chair")))), Exists("holding a pillow", Filter[actions](Temporal[after](video, Localize(video, "sitting in a chair")))))',
    ),
    "compare_relation": (
        "Compare([before, after], Exists(holding, Iterate(Localize(temporal tag, opening a box), Filter(frame, [relations]))))",
        'Compare(Exists("holding", Filter[relations](Temporal[before](video, Localize(video, "opening a box")))), Exists("holding", Filter[relations](Temporal[after](video, Localize(video, "opening a box")))))',
    ),
    "compare_swapped_modes": (
        "Compare([after, before], Exists(cup, Iterate(Localize(temporal tag, opening a box), Filter(frame, [objects]))))",
        'Compare(Exists("cup", Filter[objects](Temporal[before](video, Localize(video, "opening a box")))), Exists("cup", Filter[objects](Temporal[after](video, Localize(video, "opening a box")))))',
    ),
    "indirect_object_action": (
        "Exists(ToAction(holding, Query(class, OnlyItem(IterateUntil(forward, video, Exists(touching, Filter(frame, [relations])), Filter(frame, [relations, touching, objects]))))), Iterate(video, Filter(frame, [actions])))",
        'Exists(ToAction("holding", Filter[objects](AttnVideo(video, Relate[forward](ExistsFrame("touching", FilterFrame[relations](video)))), "touching")), Filter[actions](video))',
    ),
    "indirect_time": (
        "Query(class, OnlyItem(Iterate(Localize(after, Superlative(max, Filter(video, [actions]), Subtract(Query(end, action), Query(start, action)))), Filter(frame, [objects]))))",
        "Filter[objects](Temporal[after](video, Localize(video, Superlative[max](video, []))))",
    ),
    "indirect_relation_object": (
        "Exists(Query(class, OnlyItem(IterateUntil(forward, video, Exists(holding, Filter(frame, [relations])), Filter(frame, [relations, holding, objects])))), Iterate(video, Filter(frame, [objects, cup, relations])))",
        'Exists(Filter[objects](AttnVideo(video, Relate[forward](ExistsFrame("holding", FilterFrame[relations](video)))), "holding"), Filter[relations](video, "cup"))',
    ),
    "xor_condition": (
        "Query(class, OnlyItem(IterateUntil(forward, video, XOR(Exists(cup, Filter(frame, [relations, holding, objects])), Exists(dish, Filter(frame, [relations, holding, objects]))), Filter(frame, [relations, holding, objects]))))",
        'Filter[objects](AttnVideo(video, Relate[forward](XorFrame(ExistsFrame("cup", FilterFrame[objects](video, "holding")), ExistsFrame("dish", FilterFrame[objects](video, "holding"))))), "holding")',
    ),
    "superlative_over_time": (
        "Superlative(min, Iterate(Localize(after, opening a door), Filter(frame, [actions])), Subtract(Query(end, action), Query(start, action)))",
        'Superlative[min](Temporal[after](video, Localize(video, "opening a door")), [])',
    ),
    "count": (
        "Count(opening a door, Localize(before, sitting in a chair))",
        'Count(Localize(Temporal[before](video, Localize(video, "sitting in a chair")), "opening a door"))',
    ),
    "count_whole_video": ("Count(opening a door)", 'Count(Localize(video, "opening a door"))'),
    "or_not": (
        "OR(NOT(Exists(cup, Iterate(video, Filter(frame, [objects])))), Exists(dish, Iterate(video, Filter(frame, [objects]))))",
        'Or(Not(Exists("cup", Filter[objects](video))), Exists("dish", Filter[objects](video)))',
    ),
    "design_shorthand": (
        "Query(class, Filter(Localize(after, cooking), watch))",
        'Filter[objects](Temporal[after](video, Localize(video, "cooking")), "watch")',
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden(name):
    program, expected = GOLDEN[name]
    tree = compile_program(program)
    assert to_text(tree) == expected
    assert tree.type in {VType.BOOL, VType.CONCEPT, VType.COUNT}


def test_relation_and_relations_are_the_same():
    a = compile_program("Exists(cup, Iterate(video, Filter(frame, [relation, holding, objects])))")
    b = compile_program("Exists(cup, Iterate(video, Filter(frame, [relations, holding, objects])))")
    assert a == b


def test_whitespace_does_not_matter():
    a = compile_program("Exists(phone,Iterate( video ,Filter(frame,[ objects ])))")
    b = compile_program("Exists(phone, Iterate(video, Filter(frame, [objects])))")
    assert a == b


def test_nodes_are_numbered_in_preorder_and_link_to_their_source():
    source = GOLDEN["exists_obj"][0]
    tree = compile_program(source)
    assert [n.id for n in tree.nodes] == list(range(len(tree)))
    assert [n.label for n in tree.nodes] == [
        "Exists",
        "Filter[objects]",
        "Temporal[before]",
        "Localize",
    ]
    origin = [source[slice(*n.origin)] for n in tree.nodes]
    assert origin[0] == source and origin[1].startswith("Iterate(Localize(before")
    assert origin[2:] == ["Localize(before, opening a closet)", "opening a closet"]
    assert tree.phrases()[1].origin == (39, 55)
    assert tree.path(3) == "Exists/1:Filter[objects]/0:Temporal[before]/1:Localize"


def test_compare_copies_share_nothing_but_the_source():
    tree = compile_program(GOLDEN["compare_action"][0])
    temporals = [n for n in tree.nodes if n.module == "Temporal"]
    assert [t.switch.value for t in temporals] == ["before", "after"]
    assert temporals[0].origin == temporals[1].origin


ERRORS = [
    ("", "position 0", "empty program"),
    (
        "Exists(phone, Iterate(video, Filter(frame, [objects]))",
        "position 54",
        "expected ',' or ')'",
    ),
    (
        "Exists(phone, Iterate(video, Filter(frame, [objects)))",
        "position 51",
        "expected ',' or ']'",
    ),
    ("Frobnicate(phone)", "position 0", "unknown function 'Frobnicate'"),
    ("Exists(phone)", "position 0", "Exists takes 2 argument(s), got 1"),
    ("Exists(phone, cup)", "position 14", "expected a concept expression, found the phrase 'cup'"),
    (
        "Exists(phone, Exists(cup, Iterate(video, Filter(frame, [objects]))))",
        "position 14",
        "expected a concept expression, but Exists(...) gives Bool",
    ),
    (
        "AND(Exists(cup, Iterate(video, Filter(frame, [objects]))), Query(class, OnlyItem(Iterate(video, Filter(frame, [objects])))))",
        "position 59",
        "expected a yes/no expression, but Query(...) gives Concept",
    ),
    (
        "Exists(cup, Iterate(Localize(sometimes, eating), Filter(frame, [objects])))",
        "position 29",
        "unknown TemporalMode 'sometimes'",
    ),
    (
        "Exists(cup, Iterate(Localize(temporal tag, eating), Filter(frame, [objects])))",
        "position 29",
        "'temporal tag' may only appear inside Compare",
    ),
    ("Exists(cup, Iterate(video, Filter(frame, [holding])))", "position 41", "needs a category"),
    (
        "Exists(before, Iterate(video, Filter(frame, [objects])))",
        "position 7",
        "found the keyword 'before'",
    ),
    (
        "Superlative(max, [Filter(video, [actions, a])], Query(end, action))",
        "position 48",
        "expected the duration Subtract",
    ),
    (
        "Exists(cup, Iterate(Localize(between, eating), Filter(frame, [objects])))",
        "position 38",
        "needs a list of two actions",
    ),
    ("Localize(before, eating)", "position 0", "Localize(...) cannot stand here"),
    ("[objects]", "position 0", "a program must be a call"),
]


@pytest.mark.parametrize("program,where,what", ERRORS)
def test_malformed_programs_name_position_and_expectation(program, where, what):
    with pytest.raises(ProgramError) as info:
        compile_program(program)
    message = str(info.value)
    assert where in message
    assert what in message
