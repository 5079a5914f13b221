"""The registry: every neural module is an operation of the language, with the same signature.

The language declares its operations (``stair.programs.OPERATIONS``, their semantics on a scene
graph) and their signatures come from the operations' hints; ``@register`` reads a neural
module's signature from ``forward``'s hints with the same parser and refuses any disagreement.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import pytest
import torch
from torch import nn

from stair.modules import MODULES, Localize, build_modules, operation_of, register, signature_of
from stair.programs import OPERATIONS, SIGNATURES, AnswerAs, OnlyWith, Phrase, compile_program
from stair.programs.signatures import Param, VType, operation, read_signature
from stair.programs.symbolic import SymConcept, SymFrames, SymVideo
from stair.programs.symbolic.context import Scene
from stair.values import Bool, Concept, Count, Frames, TemporalMode, Text, Video

# The catalogue the compiler was written against (the hand-written table before the switch).
EXPECTED = {
    "Localize": "Localize(video: Video, action: Concept | Text) -> Frames",
    "Temporal": "Temporal[TemporalMode](video: Video, anchor: Frames, second: Frames?) -> Video",
    "Filter": "Filter[Category](video: Video, text: Concept | Text?) -> Concept",
    "FilterFrame": "FilterFrame[Category](video: Video, text: Concept | Text?) -> Video",
    "Exists": "Exists(item: Concept | Text, items: Concept) -> Bool",
    "ExistsFrame": "ExistsFrame(item: Concept | Text, video: Video) -> Frames",
    "HasItem": "HasItem(video: Video) -> Frames",
    "Relate": "Relate[Direction](frames: Frames) -> Frames",
    "AttnVideo": "AttnVideo(video: Video, frames: Frames) -> Video",
    "Superlative": "Superlative[Extreme](video: Video, candidates: Concept | Text...) -> Concept",
    "ToAction": "ToAction(verb: Concept | Text, object: Concept | Text) -> Concept",
    "Choose": "Choose(first: Concept | Text, second: Concept | Text, value: Concept) -> Concept",
    "Compare": "Compare(before: Bool, after: Bool) -> Bool",
    "Equals": "Equals(first: Concept | Text, second: Concept | Text) -> Bool",
    "And": "And(first: Bool, second: Bool) -> Bool",
    "Or": "Or(first: Bool, second: Bool) -> Bool",
    "Xor": "Xor(first: Bool, second: Bool) -> Bool",
    "Not": "Not(value: Bool) -> Bool",
    "AndFrame": "AndFrame(first: Frames, second: Frames) -> Frames",
    "XorFrame": "XorFrame(first: Frames, second: Frames) -> Frames",
    "Count": "Count(frames: Frames) -> Count",
}


# -- the catalogue --------------------------------------------------------------------------------
def test_the_language_declares_the_catalogue():
    assert set(OPERATIONS) == set(SIGNATURES) == set(EXPECTED) == set(MODULES)
    for name, function in OPERATIONS.items():
        assert SIGNATURES[name].render() == EXPECTED[name]
        assert SIGNATURES[name] == read_signature(function, name, SIGNATURES[name].answer_as)


def test_every_registered_module_has_semantics():
    missing = sorted(name for name in MODULES if name not in OPERATIONS)
    assert not missing, f"registered modules without an operation in stair.programs: {missing}"
    for name in MODULES:
        assert operation_of(name) is OPERATIONS[name]
    with pytest.raises(KeyError, match="no registered module 'Frobnicate'"):
        operation_of("Frobnicate")


def test_every_registered_module_has_its_operations_signature():
    for name, cls in MODULES.items():
        language = SIGNATURES[name]
        assert signature_of(cls, name) == replace(language, answer_as=AnswerAs.VALUE), name


def test_answer_as_is_declared_on_the_operation():
    declared = {name: sig.answer_as for name, sig in SIGNATURES.items()}
    assert declared.pop("Compare") is AnswerAs.BEFORE_AFTER
    assert declared.pop("Choose") is AnswerAs.OPTION
    assert set(declared.values()) == {AnswerAs.VALUE}
    assert not any(hasattr(cls, "answer_as") for cls in MODULES.values())


def test_temporal_second_anchor_only_with_between():
    second = SIGNATURES["Temporal"].params[2]
    assert second == Param("second", frozenset({VType.FRAMES}), True, False, frozenset({"between"}))
    assert SIGNATURES["Superlative"].params[1].variadic
    assert SIGNATURES["Temporal"].switch is TemporalMode


def test_compiler_reads_the_declared_signatures():
    tree = compile_program("Count(a, Localize(between, [b, c]))")
    assert [n.label for n in tree.nodes] == [
        "Count", "Localize", "Temporal[between]", "Localize", "Localize",
    ]  # fmt: skip


# -- registering ----------------------------------------------------------------------------------
def test_a_module_without_an_operation_is_refused():
    class Frobnicate(nn.Module):
        def forward(self, frames: Frames) -> Frames:
            return frames

    with pytest.raises(TypeError, match="module 'Frobnicate' has no symbolic semantics"):
        register(Frobnicate)
    assert "Frobnicate" not in MODULES


def test_a_module_whose_hints_disagree_is_refused():
    class WrongSlot(nn.Module):
        def forward(self, item: Concept, items: Concept) -> Bool:
            return Bool(items.vector.sum(-1))

    class NoSwitch(nn.Module):
        def forward(self, frames: Frames) -> Frames:
            return frames

    class WrongReturn(nn.Module):
        def forward(self, frames: Frames) -> Bool:
            return Bool(frames.probs.sum(-1))

    class ExtraSlot(nn.Module):
        def forward(self, frames: Frames, more: Frames) -> Count:
            raise NotImplementedError

    refused = {
        "Exists": (WrongSlot, r"slot 0 is \(item: Concept \| Text\) in the language but "
                   r"\(item: Concept\) in forward"),
        "Relate": (NoSwitch, "the switch is Direction in the language but none in forward"),
        "Count": (WrongReturn, "it returns Count in the language but Bool in forward"),
        "Not": (ExtraSlot, r"slot 1 is missing in the language but \(more: Frames\) in forward"),
    }  # fmt: skip
    for name, (cls, message) in refused.items():
        before = MODULES[name]
        with pytest.raises(TypeError, match=f"module '{name}': .*disagrees with its operation"):
            register(cls, name=name)
        with pytest.raises(TypeError, match=message):
            register(cls, name=name)
        assert MODULES[name] is before


def test_a_taken_name_and_bad_hints_are_refused():
    class Again(Localize):
        pass

    class NoHints(nn.Module):
        def forward(self, video):
            return video

    class NotAValue(nn.Module):
        def forward(self, x: int) -> Bool:
            return x

    with pytest.raises(ValueError, match="'Localize' is already registered"):
        register(Again, name="Localize")
    for cls in (NoHints, NotAValue):
        with pytest.raises(TypeError, match=f"{cls.__qualname__}.forward"):
            signature_of(cls)
    with pytest.raises(ValueError, match="operation 'Localize' is already defined"):
        operation("Localize")(lambda video, action: None)


def test_one_parser_reads_both_sides():
    """The same hints over neural values and over symbolic values give the same signature."""

    class Probe(nn.Module):
        def forward(
            self,
            switch: TemporalMode,
            video: Video,
            items: tuple[Concept | Text, ...],
            extra: Annotated[Frames | None, OnlyWith("between", "while")] = None,
            *,
            actions: torch.Tensor | None = None,
        ) -> Frames:
            return Frames(video.weights, video.mask)

    def probe(
        switch: TemporalMode,
        video: SymVideo,
        items: tuple[SymConcept | Phrase, ...],
        extra: Annotated[SymFrames | None, OnlyWith("between", "while")] = None,
        *,
        scene: Scene,
    ) -> SymFrames:
        return SymFrames(video.window)

    sig = signature_of(Probe, "probe")
    assert sig == read_signature(probe, "probe")
    assert sig.switch is TemporalMode and len(sig.params) == 3
    assert sig.params[1].variadic and sig.params[1].types == {VType.CONCEPT, VType.TEXT}
    assert sig.params[2].only_with == {"between", "while"} and sig.params[2].optional


# -- weight sharing -------------------------------------------------------------------------------
def test_superlative_shares_localize_parameters_when_asked():
    torch.manual_seed(0)
    tied = build_modules(dim=8, max_count=3, share=True)
    torch.manual_seed(0)
    apart = build_modules(dim=8, max_count=3)
    sup, loc = tied["Superlative"], tied["Localize"]
    assert sup.query is loc.query and sup.bias is loc.bias
    assert apart["Superlative"].query is not apart["Localize"].query
    assert list(tied.state_dict()) == list(apart.state_dict())  # checkpoints load either way
    shared = {id(p) for p in loc.parameters()}
    assert [n for n, p in sup.named_parameters() if id(p) not in shared] == [
        "log_tau",
        "log_bank_gain",
    ]
    alone = build_modules(["Superlative"], dim=8, share=True)["Superlative"]
    assert len(list(alone.parameters())) == 5  # nothing to share with: its own parameters
