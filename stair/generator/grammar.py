"""Grammar-constrained decoding: only tokens that keep the program well typed and completable.

:class:`ProgramGrammar` is a pushdown automaton over the generator's target tokens
(:mod:`stair.generator.target`), derived from :data:`~stair.programs.SIGNATURES`. Its
state is a stack of what is still expected, top last; every frame ends with ``slot, parent``, the
argument slot it fills (one per module label and parameter, plus the root) and the slot that its
node fills:

- ``("S", depth, slot, parent)``: one argument slot: a value of the slot's types (``video``, a
  phrase, or a module returning one of them), ``_`` if the slot is optional, ``[`` if it is
  variadic, and only ``_`` when an ``only_with`` switch is absent (``Temporal[before]``'s second
  anchor); ``depth``: how deep in the tree the value sits (the root 0);
- ``("L", depth, slot, parent)``: inside ``[ ... ]``: another value (at ``depth``) or ``]``;
- ``("P", slot, parent)``: just after an opening ``"``: a copy marker ``<qj>`` of a question
  word, or the first word of a known concept of one of the kinds the slot takes;
- ``("C", j, slot, parent)``: after copying word ``j``: the next word's marker or the closing
  ``"``;
- ``("W", node, slot, parent)``: inside a named concept (a trie node): its next word or ``"``.

The empty stack accepts only EOS. Each state also carries ``need``, the fewest tokens that still
complete it; a token is allowed only when ``need`` after it, plus EOS, fits in what is left of
``max_new_tokens``, and a module only where its shallowest completion stays within
:data:`~stair.programs.serialize.MAX_TREE_DEPTH`, so every decoded sequence is a complete
program -- it always passes :func:`~stair.programs.from_tokens` once its markers are replaced by
their words.
Applying it to decoding and to training targets is :mod:`stair.generator.constraint`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from stair.generator.target import PhraseInventory, marker
from stair.programs.serialize import CLOSE, MAX_TREE_DEPTH, NONE, OPEN, QUOTE, VIDEO_TOKEN
from stair.programs.signatures import SIGNATURES, Signature, VType

Frame = tuple
State = tuple[tuple[Frame, ...], int]  # (stack, need); need -1 marks a finished sequence
Move = tuple[tuple[Frame, ...], int]  # (frames replacing the top, their need)
INF = 1 << 20
#: modules whose arguments open a scope that :meth:`ProgramGrammar.context` counts
SCOPE_MODULES = frozenset({"Temporal"})
MAX_SCOPES = 3


@dataclass(frozen=True)
class _Slot:
    """One argument slot as the automaton sees it."""

    types: frozenset[VType]
    optional: bool = False
    variadic: bool = False
    empty_only: bool = False
    kinds: int = -1  # interned kinds of a phrase slot (-1: takes no phrase)
    modules_only: bool = False  # the root: a module, never a leaf
    key: str = ""  # "Label/index" (or "root"): each slot of each module is its own context


class ProgramGrammar:
    """The target language's automaton over token ids (see the module docstring).

    ``vocab``: token -> id of the generator's tokenizer; it must hold every module label, the
    structural tokens, the markers ``<q0>..<q{max_words-1}>`` and every concept word.
    """

    def __init__(
        self,
        inventory: PhraseInventory,
        vocab: Mapping[str, int],
        eos_id: int,
        pad_id: int,
        max_words: int,
        signatures: Mapping[str, Signature] = SIGNATURES,
    ) -> None:
        self.eos_id, self.pad_id, self.max_words = eos_id, pad_id, max_words
        self.vocab = vocab
        self.t_none, self.t_open, self.t_close = vocab[NONE], vocab[OPEN], vocab[CLOSE]
        self.t_quote, self.t_video = vocab[QUOTE], vocab[VIDEO_TOKEN]
        self.markers = [vocab[marker(i)] for i in range(max_words)]
        self._kinds: list[frozenset[str]] = []
        self._build_trie(inventory)
        self._slots: list[_Slot] = []
        self._label_slots: dict[int, tuple[int, ...]] = {}  # label id -> slot ids
        self._returns: dict[int, VType] = {}
        #: the last slot of each scope module (a time window): pending on the stack while an
        #: earlier argument of that node is written (see :meth:`context`)
        scope_ends: set[int] = set()
        for module, sig in signatures.items():
            switches = [None] if sig.switch is None else list(sig.switch)
            for switch in switches:
                label = module if switch is None else f"{module}[{switch.value}]"
                self._returns[vocab[label]] = sig.returns
                slots = tuple(self._slot(label, i, p, switch) for i, p in enumerate(sig.params))
                self._label_slots[vocab[label]] = slots
                if module in SCOPE_MODULES and len(slots) > 1:
                    scope_ends.add(slots[-1])
        self._scope_ends = frozenset(scope_ends)
        self.root = self._intern_slot(_Slot(inventory.roots(), modules_only=True, key="root"))
        self._minlen = {copy: self._fixpoint(copy) for copy in (True, False)}
        self._below = self._depth_fixpoint()
        self._moves: dict[tuple[Frame, int], dict[int, Move]] = {}

    # -- construction -----------------------------------------------------------------------------
    def _intern_kinds(self, kinds: frozenset[str]) -> int:
        if kinds not in self._kinds:
            self._kinds.append(kinds)
        return self._kinds.index(kinds)

    def _intern_slot(self, slot: _Slot) -> int:
        if slot not in self._slots:
            self._slots.append(slot)
        return self._slots.index(slot)

    def _slot(self, label: str, index: int, param, switch) -> int:
        empty_only = param.only_with is not None and (
            switch is None or switch.value not in param.only_with
        )
        required = param.only_with is not None and not empty_only
        kinds = -1
        if VType.TEXT in param.types:
            kinds = self._intern_kinds(self.inventory.kinds_for(label, index))
        slot = _Slot(
            frozenset(param.types), param.optional and not required, param.variadic,
            empty_only, kinds, key=f"{label}/{index}",
        )  # fmt: skip
        return self._intern_slot(slot)

    def _build_trie(self, inventory: PhraseInventory) -> None:
        """Concept phrases as a word trie; node 0 is the root."""
        self.inventory = inventory
        self._children: list[dict[int, int]] = [{}]
        self._ends: list[frozenset[str]] = [frozenset()]
        for phrase, kinds in inventory.concepts.items():
            node = 0
            for word in phrase.split():
                wid = self.vocab[word]
                if wid not in self._children[node]:
                    self._children[node][wid] = len(self._children)
                    self._children.append({})
                    self._ends.append(frozenset())
                node = self._children[node][wid]
            self._ends[node] = self._ends[node] | frozenset(kinds)

    @cache  # noqa: B019  (the grammar lives as long as its model)
    def _to_end(self, node: int, kinds: int) -> int:
        """Fewest words from trie ``node`` to a concept of ``kinds`` (INF if none)."""
        if self._ends[node] & self._kinds[kinds]:
            return 0
        steps = [self._to_end(c, kinds) for c in self._children[node].values()]
        return 1 + min(steps, default=INF - 1)

    def _fixpoint(self, copy: bool) -> dict[VType, int]:
        """Fewest tokens of a module returning each type (``copy``: the question has words)."""
        best = {t: INF for t in VType}
        changed = True
        while changed:
            changed = False
            for label, slots in self._label_slots.items():
                total = 1 + sum(self._slot_need(s, copy, best) for s in slots)
                kind = self._returns[label]
                if total < best[kind]:
                    best[kind], changed = total, True
        return best

    def _depth_fixpoint(self) -> dict[int, int]:
        """Label id -> fewest levels below a node of it in its shallowest completion (a node
        of only leaf arguments: 1; its leaves sit one level down)."""
        best_type = {t: INF for t in VType}
        below: dict[int, int] = {}
        changed = True
        while changed:
            changed = False
            for label, slots in self._label_slots.items():
                levels = 1 + max((self._slot_levels(s, best_type) for s in slots), default=0)
                if levels < below.get(label, INF):
                    below[label], changed = levels, True
                kind = self._returns[label]
                if levels < best_type[kind]:
                    best_type[kind], changed = levels, True
        return below

    def _slot_levels(self, sid: int, best_type: Mapping[VType, int]) -> int:
        """Fewest levels below a value filling slot ``sid`` (0: a leaf, ``_`` or ``[ ]``)."""
        slot = self._slots[sid]
        if slot.empty_only or slot.optional or slot.variadic:
            return 0
        if not slot.modules_only and slot.types & {VType.VIDEO, VType.TEXT}:
            return 0
        return min((best_type[t] for t in slot.types), default=INF)

    def _phrase_need(self, kinds: int, copy: bool) -> int:
        """Tokens to finish a phrase just opened: a marker and ``"``, or concept words and ``"``."""
        return min(2 if copy else INF, 1 + self._to_end(0, kinds))

    def _slot_need(self, sid: int, copy: bool, best: Mapping[VType, int] | None = None) -> int:
        """Fewest tokens that fill slot ``sid`` (``best``: fewest tokens of a module per type)."""
        slot = self._slots[sid]
        best = self._minlen[copy] if best is None else best
        if slot.empty_only or slot.optional:
            return 1
        if slot.variadic:
            return 2
        needs = [best[t] for t in slot.types]
        if not slot.modules_only and VType.VIDEO in slot.types:
            needs.append(1)
        if not slot.modules_only and VType.TEXT in slot.types:
            needs.append(1 + self._phrase_need(slot.kinds, copy))
        return min(needs, default=INF)

    def frame_need(self, frame: Frame, qlen: int) -> int:
        """Fewest tokens that complete ``frame``."""
        kind = frame[0]
        if kind == "S":
            return self._slot_need(frame[2], qlen > 0)
        if kind in ("L", "C"):
            return 1
        if kind == "P":
            return self._phrase_need(self._slots[frame[1]].kinds, qlen > 0)
        return 1 + self._to_end(frame[1], self._slots[frame[2]].kinds)

    # -- moves ------------------------------------------------------------------------------------
    def _value_moves(self, depth: int, sid: int, psid: int) -> dict[int, tuple[Frame, ...]]:
        """A value at ``depth`` for slot ``sid`` (whose node fills slot ``psid``): video, phrase
        or a module whose shallowest completion fits within :data:`MAX_TREE_DEPTH`."""
        slot, out = self._slots[sid], {}
        if VType.VIDEO in slot.types and not slot.modules_only:
            out[self.t_video] = ()
        if VType.TEXT in slot.types and not slot.modules_only:
            out[self.t_quote] = (("P", sid, psid),)
        for label, slots in self._label_slots.items():
            if self._returns[label] in slot.types and depth + self._below[label] <= MAX_TREE_DEPTH:
                out[label] = tuple(("S", depth + 1, s, sid) for s in reversed(slots))
        return out

    def _frame_moves(self, frame: Frame, qlen: int) -> dict[int, tuple[Frame, ...]]:
        kind, copyable = frame[0], min(qlen, self.max_words)
        if kind == "S":
            depth, sid, psid = frame[1:]
            slot = self._slots[sid]
            if slot.empty_only:
                return {self.t_none: ()}
            moves = {self.t_none: ()} if slot.optional else {}
            if slot.variadic:
                moves[self.t_open] = (("L", depth + 1, sid, psid),)
            else:
                moves.update(self._value_moves(depth, sid, psid))
            return moves
        if kind == "L":
            moves = {t: (frame, *rest) for t, rest in self._value_moves(*frame[1:]).items()}
            moves[self.t_close] = ()
            return moves
        if kind == "P":
            moves = {self.markers[j]: (("C", j, *frame[1:]),) for j in range(copyable)}
            return moves | self._word_moves(0, *frame[1:])
        if kind == "C":
            moves = {self.t_quote: ()}
            if frame[1] + 1 < copyable:
                moves[self.markers[frame[1] + 1]] = (("C", frame[1] + 1, *frame[2:]),)
            return moves
        node, sid = frame[1], frame[2]
        ends = self._ends[node] & self._kinds[self._slots[sid].kinds]
        return ({self.t_quote: ()} if ends else {}) | self._word_moves(*frame[1:])

    def _word_moves(self, node: int, sid: int, psid: int) -> dict[int, tuple[Frame, ...]]:
        """Next words of a named concept (trie children that still reach one of the kinds)."""
        kinds = self._slots[sid].kinds
        return {wid: (("W", child, sid, psid),) for wid, child in self._children[node].items()
                if self._to_end(child, kinds) < INF}  # fmt: skip

    def moves(self, frame: Frame, qlen: int) -> dict[int, Move]:
        """Token id -> (frames replacing ``frame``, their need), cached per (frame, qlen)."""
        key = (frame, qlen)
        cached = self._moves.get(key)
        if cached is None:
            cached = {
                tok: (rep, sum(self.frame_need(f, qlen) for f in rep))
                for tok, rep in self._frame_moves(frame, qlen).items()
            }
            self._moves[key] = cached
        return cached

    # -- the automaton ----------------------------------------------------------------------------
    @property
    def num_slots(self) -> int:
        """Distinct argument slots (each slot of each module label, and the root)."""
        return len(self._slots)

    def context(self, state: State) -> tuple[int, int, int, int]:
        """Where the next token goes: ``(mode, slot, parent slot, scopes)``.

        ``mode``: 0 a slot's value, 1 inside a ``[...]`` list, 2 inside a phrase, 3 the end;
        ``slot``: the argument slot being filled (-1 at the end); ``parent slot``: the slot the
        node owning it fills (-1 for the root's arguments and at the end); ``scopes``: how many
        time windows (:data:`SCOPE_MODULES`) the token is inside the anchor of, at most
        :data:`MAX_SCOPES` -- the frames still waiting for a window's last argument. Unlike an
        absolute depth it does not grow with a longer program: it tells "the relation query of
        the indirect reference inside a window" from "the question's own relation query, over
        that window", which share every other part of their context. The generator feeds this
        to its decoder next to the previous token (as syntax-directed decoders do).
        """
        stack = state[0]
        if not stack:
            return 3, -1, -1, 0
        top = stack[-1]
        mode = {"S": 0, "L": 1}.get(top[0], 2)
        scopes = sum(1 for frame in stack[:-1] if frame[-2] in self._scope_ends)
        return mode, top[-2], top[-1], min(scopes, MAX_SCOPES)

    def slot_name(self, context: tuple[int, ...]) -> str:
        """A :meth:`context` as text: the slot's ``Label/index`` (``root`` for the root), with
        `` list`` inside its ``[...]`` and `` phrase`` inside its phrase; ``end`` at the end."""
        mode, slot = context[:2]
        if mode == 3:
            return "end"
        return self._slots[slot].key + {0: "", 1: " list", 2: " phrase"}[mode]

    def initial(self, qlen: int) -> State:
        frame = ("S", 0, self.root, -1)
        return ((frame,), self.frame_need(frame, qlen))

    def step(self, state: State, token: int, qlen: int) -> State | None:
        """The state after ``token``, or ``None`` if the grammar does not allow it."""
        stack, need = state
        if need < 0 or not stack:
            return ((), -1) if token in (self.eos_id, self.pad_id) and need <= 0 else None
        top = stack[-1]
        move = self.moves(top, qlen).get(token)
        if move is None:
            return None
        rep, rep_need = move
        return (stack[:-1] + rep, need - self.frame_need(top, qlen) + rep_need)

    def allowed(self, state: State, qlen: int, budget: int) -> list[int]:
        """Token ids allowed next, with ``budget`` tokens (EOS included) left to generate."""
        stack, need = state
        if need < 0:
            return [self.pad_id, self.eos_id]
        if not stack:
            return [self.eos_id]
        top = stack[-1]
        base = need - self.frame_need(top, qlen)
        return [t for t, (_, n) in self.moves(top, qlen).items() if base + n + 2 <= budget]

    def accepts(self, ids: Sequence[int], qlen: int) -> bool:
        """Whether ``ids`` (without EOS) is a complete program of this grammar."""
        state: State | None = self.initial(qlen)
        for token in ids:
            state = self.step(state, token, qlen)
            if state is None:
                return False
        return state[1] == 0
