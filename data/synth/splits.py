"""Splits of the synthetic benchmark and the compositions held out of training.

**Videos are split, not shared**: each video belongs to exactly one of train / val / test (a
seeded permutation; ``val_fraction`` and ``test_fraction`` of the videos, the rest train). Every
question about a video lives in that video's split, so no test video is ever seen in training.
The two generalisation splits are drawn from the *test* videos too:

- ``test_novel``: questions that contain at least one held-out composition
  (:data:`HELD_OUT_PAIRS`, :data:`HELD_OUT_FAMILY_TIMES`). No train, val or test question
  contains one.
- ``test_more_steps``: questions with more reasoning steps than ``max_train_steps``; every
  train, val and test question has at most ``max_train_steps``.

**Compositions** of a question (its metadata ``compositions``) are strings:

- ``family-time:<family>|<time expression>``, one per question, e.g. ``family-time:count|while``
  ("how many times ... while ...");
- ``rel-obj:<relation>|<object>``, one per relation-object pair the question names together,
  e.g. ``rel-obj:holding|book`` ("were they holding the book ...?").

**Steps** are the number of modules in the compiled module tree (``len(compile_program(p))``):
``Exists(cup, Iterate(video, Filter(frame, [objects])))`` has 2, ``before A`` adds 2
(``Temporal``, ``Localize``), a ``Compare`` over an anchor has 9; an indirect reference adds 5
("the thing they were R first": ``IterateUntil``), 6 (``ToAction`` over such a thing) or 1
(the longest action: ``Superlative``), once for each place it appears in the module tree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: relation-object pairs never named together outside ``test_novel``
HELD_OUT_PAIRS: frozenset[tuple[str, str]] = frozenset(
    {("holding", "book"), ("looking at", "television"), ("sitting on", "bed"), ("touching", "door")}
)
#: (family, time expression) pairs never asked outside ``test_novel``
HELD_OUT_FAMILY_TIMES: frozenset[tuple[str, str]] = frozenset(
    {("choose", "after"), ("count", "while"), ("xor", "before"), ("first_last", "between")}
)

SPLITS = ("train", "val", "test", "test_novel", "test_more_steps")


@dataclass(frozen=True)
class SplitConfig:
    """How videos and questions are divided."""

    val_fraction: float = 0.1  #: share of videos in val
    test_fraction: float = 0.1  #: share of videos in test (and test_novel, test_more_steps)
    max_train_steps: int = 12  #: most steps of a train/val/test question
    novel_per_video: float = 0.5  #: test_novel questions per test video, relative to K
    more_steps_per_video: float = 0.5  #: test_more_steps questions per test video, relative to K

    def __post_init__(self) -> None:
        val, test = self.val_fraction, self.test_fraction
        if val < 0 or test < 0 or val + test >= 1:
            raise ValueError("need val_fraction, test_fraction >= 0 with a sum below 1")


def composition_strings(
    family: str, time_expr: str, pairs: tuple[tuple[str, str], ...]
) -> list[str]:
    """The compositions of a question, as stored in its metadata (see the module docstring)."""
    out = [f"family-time:{family}|{time_expr}"]
    out += sorted({f"rel-obj:{r}|{o}" for r, o in pairs})
    return out


def held_out_strings() -> list[str]:
    """Every held-out composition, in the same string form."""
    pairs = [f"rel-obj:{r}|{o}" for r, o in sorted(HELD_OUT_PAIRS)]
    times = [f"family-time:{f}|{t}" for f, t in sorted(HELD_OUT_FAMILY_TIMES)]
    return times + pairs


_HELD = frozenset(held_out_strings())


def is_novel(compositions: list[str]) -> bool:
    return any(c in _HELD for c in compositions)


def assign_videos(
    video_ids: list[str], rng: np.random.Generator, config: SplitConfig
) -> dict[str, str]:
    """Video id -> ``train`` / ``val`` / ``test`` (a seeded permutation; at least one test
    video whenever there are three or more videos)."""
    n = len(video_ids)
    order = rng.permutation(n)
    n_test = max(1 if n >= 3 else 0, round(n * config.test_fraction))
    n_val = max(1 if n >= 3 and config.val_fraction > 0 else 0, round(n * config.val_fraction))
    split = {}
    for rank, idx in enumerate(order):
        name = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
        split[video_ids[int(idx)]] = name
    return split
