"""The ``test:synonyms`` split: words swapped in text and programs, served by the data module."""

import re

from stair.data.datamodule import QADataModule
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.data.synth.synonyms import SYNONYMS, swap_program, swap_words, synonym_words
from stair.data.synth.vocab import DEFAULT_VOCAB
from stair.programs import compile_program


def test_words_are_swapped_keeping_capitals_and_punctuation():
    assert swap_words("Did they drink from a cup?") == "Did they sip from a mug?"
    assert swap_words("Sofa or table?") == "Couch or desk?"
    assert swap_words("cupboard holding") == "cupboard holding"  # whole words only


def test_program_phrases_are_swapped_and_keywords_kept():
    program = "Exists(cup, Iterate(Localize(before, sitting on a sofa), Filter(frame, [objects])))"
    swapped = swap_program(program)
    assert swapped == (
        "Exists(mug, Iterate(Localize(before, sitting on a couch), Filter(frame, [objects])))"
    )
    assert len(compile_program(swapped)) == len(compile_program(program))


def test_every_object_has_a_synonym_that_is_no_word_of_the_benchmark():
    assert set(DEFAULT_VOCAB.objects) <= set(SYNONYMS)
    words = set()
    for text in [*DEFAULT_VOCAB.objects, *DEFAULT_VOCAB.relations, *DEFAULT_VOCAB.verbs]:
        words |= set(text.split())
    for action in DEFAULT_VOCAB.actions:
        words |= set(re.findall("[a-z]+", f"{action.phrase} {action.base}"))
    assert not words & set(SYNONYMS.values())


def test_the_data_module_serves_test_synonyms(tmp_path):
    build_synth_dataset(tmp_path, SynthConfig(videos=12, questions_per_video=4, seed=2, workers=1))
    plain = QADataModule(str(tmp_path))
    assert "test:synonyms" not in plain.test_splits
    dm = QADataModule(str(tmp_path), synonyms=True)
    assert dm.test_splits[-1] == "test:synonyms"
    assert set(synonym_words()) <= set(dm.vocabularies.words)
    assert not set(synonym_words()) & set(plain.vocabularies.words)
    test, swapped = dm.records("test"), dm.records("test:synonyms")
    assert [r.qid for r in test] == [r.qid for r in swapped]
    assert [r.answer for r in test] == [r.answer for r in swapped]
    assert any(a.question != b.question for a, b in zip(test, swapped))
    examples = dm.examples("test:synonyms")
    assert examples[0].metadata["split"] == "test:synonyms"
    assert all(set(e.words) & set(SYNONYMS) == set() for e in examples)
