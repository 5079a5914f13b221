"""The program generator: tokenizer, targets, constrained decoding with untrained, pretrained-path
and briefly trained models, unseen words, checkpoint reloads and the ``stair generator`` CLI."""

from __future__ import annotations

import json
import math

import pytest
import torch
from lightning import Trainer, seed_everything
from transformers import LogitsProcessorList, T5Config, T5ForConditionalGeneration

from stair.cli import main
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.generator.constraint import GrammarConstraint
from stair.generator.data import NONCE_WORDS, GeneratorDataModule, with_unseen_words
from stair.generator.model import ProgramGenerator, build_seq2seq, t5_config
from stair.generator.system import GeneratorLit, load_generator
from stair.generator.target import from_target, marker, to_target
from stair.programs import ModuleTree, check, from_tokens
from stair.programs.text import tokenize

pytestmark = pytest.mark.slow
TINY = {"d_model": 64, "layers": 2, "heads": 4, "d_ff": 128}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "synth"
    build_synth_dataset(out, SynthConfig(videos=60, questions_per_video=10, seed=3, render=(),
                                         workers=1))  # fmt: skip
    return out


@pytest.fixture(scope="module")
def data(dataset):
    dm = GeneratorDataModule(str(dataset), batch_size=32, eval_splits=["test", "test:unseen"])
    dm.use_tokenizer(dm.vocabulary()[0])
    return dm


def fresh_generator(data, seed: int = 0, max_new_tokens: int = 192) -> ProgramGenerator:
    torch.manual_seed(seed)
    tokenizer, inventory = data.vocabulary()
    model = build_seq2seq(tokenizer, config=t5_config(len(tokenizer), **TINY))
    return ProgramGenerator(model, tokenizer, inventory, max_new_tokens).eval()


@pytest.fixture(scope="module")
def trained(dataset, tmp_path_factory):
    """A tiny generator trained for a few hundred steps, and its Lightning checkpoint."""
    seed_everything(0)
    dm = GeneratorDataModule(str(dataset), batch_size=32, eval_splits=["test"])
    lit = GeneratorLit(**TINY, lr=4e-3, word_dropout=0.1)
    trainer = Trainer(max_steps=300, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                      accelerator="cpu", default_root_dir=tmp_path_factory.mktemp("run"))  # fmt: skip
    trainer.fit(lit, dm)
    ckpt = tmp_path_factory.mktemp("ckpt") / "generator.ckpt"
    trainer.save_checkpoint(ckpt)
    return lit.generator.eval(), ckpt, dm


def test_recombination_is_seeded_and_drawn_afresh_for_each_epoch(dataset):
    dm = GeneratorDataModule(str(dataset), recombine=0.3, recombine_anchors=0.4,
                             indirect_anchors=0.5, recombine_references=0.5)  # fmt: skip
    first, again, second = (dm.training_examples(e) for e in (0, 0, 1))
    assert [e.question for e in first] == [e.question for e in again]
    assert [e.question for e in first] != [e.question for e in second]
    assert len(first) == len(second) == len(dm.examples("train"))
    recombined = [e for e in first if e.qid.endswith(":recombined")]
    assert recombined and all(from_tokens(list(e.tokens)) == e.tree for e in recombined)
    plain = GeneratorDataModule(str(dataset)).training_examples(3)
    assert plain == dm.examples("train")


# -- tokenizer and targets -----------------------------------------------------------------------
def test_tokenizer_splits_like_text_tokenize(data):
    tok = data.tokenizer
    for ex in data.examples("train")[:200] + data.examples("test"):
        words = tokenize(ex.question)
        pieces = tok.tokenizer.encode(ex.question).tokens
        assert len(pieces) == len(words)
        assert all(p in (w, "<unk>") for p, w in zip(pieces, words))


def test_tokenizer_round_trip_and_markers(data):
    tok = data.tokenizer
    again = type(tok).from_str(tok.to_str())
    assert again.vocab == tok.vocab and again.max_words == tok.max_words
    words = tok.words("Were they holding the blicket before opening a door?")
    ids = tok.encode_source(words)
    assert ids[4] == tok.unk_id and ids[3] != tok.unk_id and ids[-1] == tok.eos_id
    assert all(marker(i) in tok.vocab for i in range(tok.max_words))
    tree = data.examples("train")[0].tree
    target = to_target(tree, tok.words(data.examples("train")[0].question))
    assert tok.decode(again.encode_target(target)) == target


def test_targets_round_trip_on_the_dataset(data):
    tok = data.tokenizer
    for ex in data.examples("train"):
        words = tok.words(ex.question)
        assert from_tokens(from_target(to_target(ex.tree, words), words)) == ex.tree


def test_unseen_word_split_names_the_made_up_word(data):
    unseen = with_unseen_words(data.examples("test"), ["cup", "door", "phone", "book", "box",
                                                       "laptop", "chair", "sofa", "bed"])  # fmt: skip
    assert len(unseen) > 10
    for ex in unseen:
        nonce = next(w for w in NONCE_WORDS if w in tokenize(ex.question))
        assert any(nonce in p.text.split() for p in ex.tree.phrases())


# -- constrained decoding ------------------------------------------------------------------------
def test_untrained_sampling_always_compiles(data):
    questions = [ex.question for ex in data.examples("test")[:24]]
    for budget in (192, 14):
        generator = fresh_generator(data, max_new_tokens=budget)
        results = generator.generate(questions, sample=True, n_best=4, seed=1)
        for programs in results:
            assert len(programs) == 4
            for program in programs:
                assert isinstance(check(program.tree), ModuleTree)
                assert from_tokens(program.tokens) == program.tree
                assert len(program.target) < budget and math.isfinite(program.score)


def test_processor_constrains_plain_generate(data):
    """GrammarConstraint is a LogitsProcessor: HF generate() with it yields valid programs."""
    generator = fresh_generator(data)
    tok = generator.tokenizer
    model = T5ForConditionalGeneration(t5_config(len(tok), **TINY)).eval()
    ids, mask, words = generator.encode([ex.question for ex in data.examples("test")[:8]])
    constraint = GrammarConstraint(generator.grammar, [len(w) for w in words], 60)
    out = model.generate(input_ids=ids, attention_mask=mask, do_sample=True, max_new_tokens=60,
                         logits_processor=LogitsProcessorList([constraint]), top_k=None)  # fmt: skip
    for row, question_words in zip(out.tolist(), words):
        target = tok.decode(row[1:])
        assert from_tokens(from_target(target, question_words))


def test_pretrained_checkpoint_by_path(data, tmp_path):
    tiny = T5ForConditionalGeneration(T5Config(vocab_size=99, d_model=32, d_kv=8, d_ff=64,
                                               num_layers=1, num_heads=4))  # fmt: skip
    tiny.save_pretrained(tmp_path / "t5")
    tokenizer, inventory = data.vocabulary()
    model = build_seq2seq(tokenizer, pretrained=str(tmp_path / "t5"))
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
    generator = ProgramGenerator(model, tokenizer, inventory)
    for programs in generator.generate([ex.question for ex in data.examples("test")[:6]],
                                       num_beams=2, n_best=2):  # fmt: skip
        assert all(isinstance(p.tree, ModuleTree) for p in programs)


# -- a briefly trained model ---------------------------------------------------------------------
def test_trained_model_is_valid_and_mostly_right(trained):
    generator, _, dm = trained
    examples = dm.examples("test")
    results = generator.generate([ex.question for ex in examples])
    exact = sum(r[0].tree == ex.tree for r, ex in zip(results, examples)) / len(examples)
    assert exact >= 0.3, exact  # ~440 training questions, 300 steps (an untrained model: 0)
    for result in results:
        assert from_tokens(result[0].tokens) == result[0].tree


def test_trained_model_copies_unseen_words(trained):
    generator, _, dm = trained
    examples = dm.examples("test:unseen")
    results = generator.generate([ex.question for ex in examples])
    copied = 0
    for result, ex in zip(results, examples):
        nonce = next(w for w in NONCE_WORDS if w in tokenize(ex.question))
        assert generator.tokenizer.vocab.get(nonce) is None  # never seen in training
        copied += any(nonce in p.text.split() for p in result[0].tree.phrases())
    assert copied / len(examples) >= 0.5, copied / len(examples)  # the full model: 0.95


def test_beam_search_returns_sorted_distinct_nbest(trained):
    generator, _, dm = trained
    questions = [ex.question for ex in dm.examples("test")[:10]]
    for programs in generator.generate(questions, num_beams=4, n_best=3):
        assert len(programs) == 3
        scores = [p.score for p in programs]
        assert scores == sorted(scores, reverse=True) and scores[0] <= 0
        assert len({tuple(p.target) for p in programs}) == 3


def test_checkpoint_reload_gives_identical_outputs(trained, tmp_path):
    generator, ckpt, dm = trained
    questions = [ex.question for ex in dm.examples("test")[:16]]
    before = generator.generate(questions, num_beams=3, n_best=2)
    generator.save(tmp_path / "saved")
    for again in (load_generator(ckpt), load_generator(tmp_path / "saved")):
        after = again.generate(questions, num_beams=3, n_best=2)
        for a, b in zip(before, after):
            assert [p.tokens for p in a] == [p.tokens for p in b]
            assert [p.score for p in a] == pytest.approx([p.score for p in b], abs=1e-5)


# -- command line --------------------------------------------------------------------------------
def test_cli_fit_test_predict(dataset, tmp_path, caplog, capsys):
    common = ["--config", "configs/generator_synth.yaml", f"--data.data_dir={dataset}",
              "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}",
              "--model.d_model=32", "--model.d_ff=64", "--data.eval_splits=[test]"]  # fmt: skip
    assert main(["generator", "fit", *common, "--trainer.max_steps=2"]) == 0
    ckpt = next(tmp_path.rglob("last.ckpt"))
    saved = tmp_path / "config.yaml"
    assert saved.exists()  # a fit saves its config; a test saves none where it runs
    saved.unlink()
    capsys.readouterr()
    assert main(["generator", "test", *common, f"--ckpt_path={ckpt}"]) == 0
    assert not saved.exists()
    printed = capsys.readouterr().out.strip().splitlines()
    assert printed[-1].startswith("exact match: test ") and printed[-1].endswith(" %")
    assert any(line.startswith("  by depth: ") for line in printed)
    assert "(beams 1)" in "\n".join(printed)
    # an evaluation setting given on the command line beats the checkpoint's (num_beams 1)
    assert (
        main(["generator", "test", *common, f"--ckpt_path={ckpt}", "--model.num_beams", "2"]) == 0
    )
    assert "(beams 2)" in capsys.readouterr().out
    out = tmp_path / "programs.jsonl"
    args = ["generator", "predict", "--ckpt", str(ckpt), "--data", str(dataset), "--split",
            "test", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 60 and set(lines[0]) == {"qid", "tokens", "text", "score", "rank"}
    assert all(from_tokens(line["tokens"]) for line in lines)
    assert main(["generator", "predict", "--ckpt", str(tmp_path / "missing.ckpt"), "--data",
                 str(dataset), "--out", str(out)]) == 2  # fmt: skip
