"""The generator's grammar: allowed tokens on hand-made prefixes, completion budget, and that
every sequence it lets through is a program that compiles."""

from __future__ import annotations

import random

import pytest
import torch

from stair.generator.constraint import AllowedSets, GrammarConstraint
from stair.generator.grammar import INF, ProgramGrammar
from stair.generator.system import copy_marginal_nll
from stair.generator.target import (
    PhraseInventory,
    copy_alternatives,
    from_target,
    marker,
    to_target,
)
from stair.generator.tokenizer import GeneratorTokenizer, module_labels
from stair.programs import SIGNATURES, VType, compile_program, from_tokens, to_tokens
from stair.programs.serialize import MAX_TREE_DEPTH

PROGRAMS = [
    "Exists(phone, Iterate(Localize(before, opening a door), Filter(frame, [objects])))",
    "Query(class, OnlyItem(Iterate(video, Filter(frame, [relations, holding, objects]))))",
    "Exists(cup, Iterate(video, Filter(frame, [relation, looking at, objects])))",
    "Count(opening a door, Localize(after, holding a cup))",
    "Exists(drinking from a cup, Iterate(video, Filter(frame, [actions])))",
]
QUESTIONS = [
    "Did they see a phone before opening a door?",
    "What were they holding?",
    "Were they looking at the cup?",
    "How often did they open a door after holding a cup?",
    "Did they drink from a cup?",
]
VOCAB = {
    "objects": ["cup", "phone", "door"],
    "relations": ["holding", "looking at"],
    "actions": [{"phrase": "opening a door"}, {"phrase": "holding a cup"},
                {"phrase": "drinking from a cup"}],
    "verbs": ["opening", "holding", "drinking from"],
}  # fmt: skip


@pytest.fixture(scope="module")
def parts():
    trees = [compile_program(p) for p in PROGRAMS]
    inventory = PhraseInventory.from_vocab(VOCAB).fit(trees)
    tokenizer = GeneratorTokenizer.build(QUESTIONS, inventory, max_words=12)
    grammar = ProgramGrammar(
        inventory, tokenizer.vocab, tokenizer.eos_id, tokenizer.pad_id, tokenizer.max_words
    )
    return tokenizer, grammar, trees


def allowed(parts, prefix: str, qlen: int = 5, budget: int = INF) -> set[str]:
    """The tokens the grammar allows after ``prefix`` (space-separated target tokens)."""
    tokenizer, grammar, _ = parts
    state = grammar.initial(qlen)
    for token in prefix.split():
        state = grammar.step(state, tokenizer.vocab[token], qlen)
        assert state is not None, f"{token!r} rejected after {prefix!r}"
    return set(tokenizer.decode(grammar.allowed(state, qlen, budget))) | (
        {"</s>"} if tokenizer.eos_id in grammar.allowed(state, qlen, budget) else set()
    )


def returning(*types: VType) -> set[str]:
    return {label for label in module_labels() if SIGNATURES[label.split("[")[0]].returns in types}


def test_root_is_a_module_of_a_training_root_type(parts):
    assert allowed(parts, "") == returning(VType.BOOL, VType.CONCEPT, VType.COUNT)


def test_after_exists_a_phrase_or_a_concept_module(parts):
    assert allowed(parts, "Exists") == {'"'} | returning(VType.CONCEPT)


def test_after_filter_video_the_optional_slot(parts):
    assert allowed(parts, "Filter[objects] video") == {"_", '"'} | returning(VType.CONCEPT)
    assert allowed(parts, "Filter[objects]") == {"video"} | returning(VType.VIDEO)


def test_inside_a_phrase_copies_or_concepts_of_the_slot_kind(parts):
    markers = {marker(i) for i in range(5)}
    # Filter[objects]'s text was a relation in training: relations only ("holding", "looking at")
    assert allowed(parts, 'Filter[objects] video "') == markers | {"holding", "looking"}
    assert allowed(parts, 'Filter[objects] video " looking') == {"at"}
    assert allowed(parts, 'Filter[objects] video " looking at') == {'"'}
    # a copy continues with the next word or ends; never past the question
    assert allowed(parts, 'Filter[objects] video " <q1>') == {"<q2>", '"'}
    assert allowed(parts, 'Filter[objects] video " <q4>') == {'"'}
    # Localize takes actions: "holding" alone is not one, "holding a cup" is
    assert allowed(parts, 'Count Localize video " holding') == {"a"}


def test_only_with_switch_and_lists(parts):
    after_anchor = 'Count Localize Temporal[before] video Localize video " <q0> "'
    assert allowed(parts, after_anchor) == {"_"}
    between = 'Count Localize Temporal[between] video Localize video " <q0> "'
    assert allowed(parts, between) == returning(VType.FRAMES)
    assert allowed(parts, "Superlative[max] video") == {"["}
    assert allowed(parts, "Superlative[max] video [") == {"]", '"'} | returning(VType.CONCEPT)


def test_after_a_complete_program_only_eos(parts):
    assert allowed(parts, 'Exists " <q0> " Filter[objects] video _') == {"</s>"}
    tokenizer, grammar, _ = parts
    program = ["Exists", '"', "<q0>", '"', "Filter[objects]", "video", "_"]
    ids = [tokenizer.vocab[t] for t in program]
    assert grammar.accepts(ids, 5) and not grammar.accepts(ids[:-1], 5)


def test_budget_leaves_only_completable_tokens(parts):
    # the shortest programs are three tokens (Filter[objects] video _, Count HasItem video) and
    # EOS: budget 4 allows exactly the modules that finish in time
    assert allowed(parts, "", budget=4) == {"Filter[objects]", "Filter[relations]",
                                            "Filter[actions]", "Count"}  # fmt: skip
    assert allowed(parts, "Count", budget=3) == {"HasItem"}
    assert allowed(parts, "Filter[objects] video", budget=2) == {"_"}


def test_gold_targets_are_accepted(parts):
    tokenizer, grammar, trees = parts
    for question, tree in zip(QUESTIONS, trees):
        words = tokenizer.words(question)
        target = to_target(tree, words)
        assert from_tokens(from_target(target, words)) == tree
        ids = tokenizer.encode_target(target)[:-1]
        assert grammar.accepts(ids, len(words)), target


def test_copy_targets_use_markers_and_names_otherwise():
    tree = compile_program(PROGRAMS[4])  # "drinking from a cup" is not in the question
    words = ["did", "they", "drink", "from", "a", "cup"]
    expected = 'Exists " drinking from a cup " Filter[actions] video _'
    assert to_target(tree, words) == expected.split()
    tree = compile_program(PROGRAMS[0])
    target = to_target(tree, ["did", "they", "see", "a", "phone", "before", "opening", "a", "door"])
    assert target[:3] == ["Exists", '"', "<q4>"] and "<q6>" in target


def test_a_phrase_said_twice_may_be_copied_from_either_place():
    tree = compile_program(PROGRAMS[2])  # "looking at" and "cup"
    words = ["were", "they", "looking", "at", "the", "cup", "after", "looking", "at", "the", "cup"]
    target = to_target(tree, words)
    assert target[:4] == ["Exists", '"', "<q5>", '"']  # the first occurrence is the target
    alternatives = copy_alternatives(target, words)
    assert alternatives == {2: ["<q5>", "<q10>"], 7: ["<q2>", "<q7>"]}
    for position, tokens in alternatives.items():  # either choice writes the same program
        for token in tokens:
            length = 2 if target[position + 1] != '"' else 1
            other = [*target]
            other[position : position + length] = [marker(int(token[2:-1]) + j)
                                                   for j in range(length)]  # fmt: skip
            assert from_tokens(from_target(other, words)) == tree
    assert copy_alternatives(target, ["were", "they", "looking", "at", "the", "cup"]) == {}


def test_copy_marginal_loss_credits_every_alternative():
    logits = torch.log(torch.tensor([[[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]]]))
    alternatives = torch.tensor([[[0, 1], [2, -100]]])
    expected = -(torch.log(torch.tensor(0.8)) + torch.log(torch.tensor(0.8))) / 2
    assert torch.isclose(copy_marginal_nll(logits, alternatives), expected)
    padded = torch.tensor([[[0, 1], [-100, -100]]])  # a padding position takes no part
    assert torch.isclose(copy_marginal_nll(logits, padded), -torch.log(torch.tensor(0.8)))


def test_random_walks_always_compile(parts):
    tokenizer, grammar, _ = parts
    rng = random.Random(0)
    for _ in range(300):
        qlen, budget = rng.randint(0, 12), rng.choice([4, 10, 30, 80])
        state, ids = grammar.initial(qlen), []
        while True:
            options = grammar.allowed(state, qlen, budget - len(ids))
            assert options, (ids, state)
            token = rng.choice(options)
            if token == tokenizer.eos_id:
                break
            ids.append(token)
            state = grammar.step(state, token, qlen)
        assert len(ids) + 1 <= budget
        words = [f"w{i}" for i in range(qlen)]
        tree = from_tokens(from_target(tokenizer.decode(ids), words))
        assert to_tokens(tree) == from_target(tokenizer.decode(ids), words)


def test_walks_that_nest_as_deep_as_they_can_stop_at_the_readers_limit(parts):
    """A walk that takes a module whenever one is allowed (its first 300 tokens), then finishes
    as briefly as it can, nests as deep as the grammar lets it: the program still reads back
    (``from_tokens`` refuses more than MAX_TREE_DEPTH levels)."""
    tokenizer, grammar, _ = parts
    labels = {tokenizer.vocab[label] for label in module_labels()} & set(tokenizer.vocab.values())
    rng = random.Random(1)
    for _ in range(3):
        state, ids = grammar.initial(5), []
        while True:
            options = grammar.allowed(state, 5, INF)
            modules = [t for t in options if t in labels]
            if modules and len(ids) < 300:
                token = rng.choice(modules)
            else:  # the token leaving the fewest still to write
                token = min(options, key=lambda t: grammar.step(state, t, 5)[1])
            if token == tokenizer.eos_id:
                break
            ids.append(token)
            state = grammar.step(state, token, 5)
        tree = from_tokens(from_target(tokenizer.decode(ids), [f"w{i}" for i in range(5)]))
        assert MAX_TREE_DEPTH - 4 <= max(depth(tree.root)) <= MAX_TREE_DEPTH


def depth(arg, level: int = 0):
    """The depth of every value under ``arg`` (lists count a level, as the readers do)."""
    yield level
    items = arg if isinstance(arg, tuple) else getattr(arg, "args", ())
    for item in items:
        yield from depth(item, level + 1)


def test_logits_processor_masks_and_renormalises(parts):
    tokenizer, grammar, _ = parts
    processor = GrammarConstraint(grammar, [5, 3], max_new_tokens=40)
    prefixes = [["Exists"], ["Filter[objects]", "video", "_"]]
    ids = torch.tensor([[tokenizer.pad_id, *map(tokenizer.vocab.get, p)] + [tokenizer.pad_id] *
                        (3 - len(p)) for p in prefixes])  # fmt: skip
    ids = ids[:, :2]  # same length rows: [start, Exists] and [start, Filter[objects]]
    out = processor(ids, torch.zeros(2, len(tokenizer)))
    assert torch.allclose(out.exp().sum(-1), torch.ones(2))
    assert set(tokenizer.decode(torch.nonzero(out[0] > -1e9).flatten().tolist())) == (
        {'"'} | returning(VType.CONCEPT)
    )
    assert set(tokenizer.decode(torch.nonzero(out[1] > -1e9).flatten().tolist())) == (
        {"video"} | returning(VType.VIDEO)
    )


def test_allowed_sets_mark_each_gold_position(parts):
    tokenizer, grammar, trees = parts
    sets = AllowedSets(grammar, len(tokenizer))
    words = tokenizer.words(QUESTIONS[0])
    target = tokenizer.encode_target(to_target(trees[0], words))
    rows, contexts = sets.rows(target, len(words))
    table = sets.table()
    assert all(table[r, t] for r, t in zip(rows, target))
    assert table[0].all() and len({c[1] for c in contexts}) > 3
    assert contexts[0] == (0, grammar.root, -1, 0)  # the root slot
    assert contexts[2][0] == 2  # inside the phrase of Exists's first slot
    assert contexts[-1] == (3, -1, -1, 0)  # EOS: the end


def test_contexts_count_the_time_windows_a_token_is_inside(parts):
    tokenizer, grammar, trees = parts
    sets = AllowedSets(grammar, len(tokenizer))
    # Exists(phone, Filter(Temporal[before](video, Localize(video, "opening a door"))))
    words = tokenizer.words(QUESTIONS[0])
    tokens = to_target(trees[0], words)
    _, contexts = sets.rows(tokenizer.encode_target(tokens), len(words))
    scopes = dict(zip(range(len(tokens)), (c[3] for c in contexts)))
    window = tokens.index("Temporal[before]")
    anchor = tokens.index("Localize")
    assert scopes[window] == 0  # the window itself is not inside one
    assert all(scopes[i] == 1 for i in range(window + 1, anchor + 4))  # its arguments are
    assert scopes[len(tokens) - 1] == 0  # the window's empty second anchor closes it


def test_generators_saved_before_scopes_ignore_them():
    from stair.generator.model import ContextEmbedding

    old, new = ContextEmbedding(5, 8, scopes=False), ContextEmbedding(5, 8)
    assert not hasattr(old, "scopes") and "scopes.weight" in new.state_dict()
    new.scopes.weight.data.normal_()
    contexts = torch.tensor([[0, 1, -1, 0], [0, 1, -1, 2]])
    assert torch.equal(old(contexts)[0], old(contexts)[1])
    assert not torch.equal(new(contexts)[0], new(contexts)[1])


def test_slot_names_say_which_argument_a_position_fills(parts):
    tokenizer, grammar, trees = parts
    sets = AllowedSets(grammar, len(tokenizer))
    words = tokenizer.words(QUESTIONS[0])
    target = tokenizer.encode_target(to_target(trees[0], words))
    names = [grammar.slot_name(c) for c in sets.rows(target, len(words))[1]]
    assert names[0] == "root" and names[-1] == "end"
    assert names[2] == "Exists/0 phrase"  # inside the phrase of Exists's first slot
    assert all(n == "end" or "/" in n or n == "root" for n in names)
