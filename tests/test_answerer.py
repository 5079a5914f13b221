"""The pretrained-LM answerer: option scores over each question's own options, learning, the
causal-LM likelihoods, zero-shot answers, the data module with and without prompts, and
``stair answerer fit | test | predict``."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader

from stair.cli import main
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.train.answerer import AnswererLit, AnswerExample, collate
from stair.train.answerer_data import AnswererDataModule, PromptsError
from stair.train.causal import AnswererError, context_text, is_causal_lm
from tests.test_pretrained import minilm, tiny_bert
from tests.tiny_synth import one_torch_thread  # noqa: F401  (small models: one torch thread)

WORDS = ["yes", "no", "cup", "sofa", "was", "there", "a", "exists"]
CONFIG = Path(__file__).resolve().parents[1] / "configs" / "answerer_synth.yaml"
QUIET = ["--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false",
         "--trainer.enable_model_summary=false"]  # fmt: skip


def words_of(*texts: str) -> list[str]:
    from tokenizers.pre_tokenizers import Whitespace

    return sorted({w for t in texts for w, _ in Whitespace().pre_tokenize_str(t.lower())})


def tiny_gpt2(folder: Path, words: list[str]) -> str:
    """A randomly initialised 1-layer GPT-2 (no dropout) and a fast word-level tokenizer of
    ``words`` (split on whitespace and punctuation), saved with ``save_pretrained``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "<eos>", *sorted(set(words))])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.normalizer, tok.pre_tokenizer = normalizers.Lowercase(), pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", pad_token="<pad>",
                                   eos_token="<eos>")  # fmt: skip
    config = GPT2Config(n_layer=1, n_head=2, n_embd=32, vocab_size=len(vocab), n_positions=256,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, bos_token_id=2,
                        eos_token_id=2, pad_token_id=0)  # fmt: skip
    torch.manual_seed(0)
    GPT2LMHeadModel(config).save_pretrained(folder)
    fast.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("answerer") / "synth"
    build_synth_dataset(out, SynthConfig(videos=12, questions_per_video=4, seed=3, workers=1))
    return out


@pytest.fixture(scope="module")
def mc_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("answerer") / "synth_mc"
    build_synth_dataset(out, SynthConfig(videos=12, questions_per_video=4, seed=3, workers=1,
                                         choices=3))  # fmt: skip
    return out


def _texts(folder: Path) -> list[str]:
    texts = json.loads((folder / "vocab.json").read_text())["answers"]
    for path in (folder / "questions").glob("*.jsonl"):
        texts += [json.loads(line)["question"] for line in path.read_text().splitlines()]
    return texts


@pytest.fixture(scope="module")
def models(folder, tmp_path_factory):
    """A tiny BERT and a tiny GPT-2 that know the folder's words: ``(bert, gpt)``."""
    root = tmp_path_factory.mktemp("models")
    words = words_of(*_texts(folder), *WORDS, "question answer : ? on a chair")
    return tiny_bert(root / "bert", words), tiny_gpt2(root / "gpt", words)


def _rows(folder: Path, split: str) -> list[dict]:
    return [json.loads(line) for line in (folder / "questions" / f"{split}.jsonl").open()]


def write_prompts(path: Path, rows: list[dict]) -> str:
    """A prompts file as ``stair prompt`` writes it."""
    lines = [json.dumps({"qid": r["qid"], "question": r["question"], "prompt": f"hint {r['answer']}",
                         "answer": r["answer"], "stair_answer": r["answer"]}) for r in rows]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return str(path)


# -- the encoder answerer -------------------------------------------------------------------------
def test_scores_cover_each_questions_own_options(tmp_path):
    model = AnswererLit(tiny_bert(tmp_path / "bert", WORDS), hidden=8)
    batch = [AnswerExample("a", "exists cup yes", "was there a cup", ("yes", "no"), 0),
             AnswerExample("b", "", "was there a sofa", ("yes", "no", "cup"), 2)]  # fmt: skip
    scores, answers = model(batch)
    assert scores.shape == (2, 3) and answers.tolist() == [0, 2]
    assert scores[0, 2] == float("-inf") and torch.isfinite(scores[1]).all()
    assert len(model.encoder._cache) == 2 + 3  # two texts, three option names


def test_the_answerer_learns_to_read_the_answer_off_its_prompt(tmp_path):
    """The same question is right with yes or no: only the prompt can tell."""
    path = tiny_bert(tmp_path / "bert", WORDS)
    pairs = [("cup", "yes"), ("sofa", "no"), ("cup", "no"), ("sofa", "yes")] * 2
    rows = [AnswerExample(str(i), f"exists {w} {a}", f"was there a {w}", ("yes", "no"),
                          int(a == "no")) for i, (w, a) in enumerate(pairs)]  # fmt: skip
    L.seed_everything(0)
    model = AnswererLit(path, hidden=16, lr=3e-2)
    trainer = L.Trainer(max_epochs=60, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(model, DataLoader(rows, batch_size=8, collate_fn=collate))
    out = trainer.predict(model, DataLoader(rows, batch_size=8, collate_fn=collate))
    assert all(row["correct"] for batch in out for row in batch)
    assert {"qid", "answer", "probability", "gold", "choice"} <= set(out[0][0])


def test_zero_shot_encoder_is_the_cosine_of_mean_states(models):
    model = AnswererLit(models[0], zero_shot=True)
    batch = [AnswerExample("a", "", "was there a cup", ("yes", "cup"), 1)]
    scores, _ = model(batch)
    text = model.encoder.vectors(["was there a cup"])
    options = model.encoder.vectors(["yes", "cup"])
    torch.testing.assert_close(scores[0], torch.cosine_similarity(text, options))
    with pytest.raises(AnswererError, match="zero-shot"):
        model.on_fit_start()


# -- the causal LM --------------------------------------------------------------------------------
def _hand_logprob(model: AnswererLit, e: AnswerExample, option: str) -> float:
    """The option's log-likelihood, computed on the whole sequence at once."""
    tok, lm = model.encoder.tokenizer, model.encoder.model
    context = tok(context_text(e.prompt, e.question))["input_ids"]
    cont = tok(" " + option, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logprobs = lm(torch.tensor([context + cont])).logits[0].log_softmax(-1)
    return sum(float(logprobs[len(context) - 1 + i, t]) for i, t in enumerate(cont))


def test_a_causal_lm_scores_options_by_their_log_likelihood(models):
    bert, gpt = models
    assert is_causal_lm(gpt) and not is_causal_lm(bert)
    batch = [AnswerExample("a", "exists cup yes", "was there a cup?", ("yes", "no"), 0),
             AnswerExample("b", "", "was there a sofa?", ("no", "on a chair", "yes"), 1)]  # fmt: skip
    model = AnswererLit(gpt).eval()
    assert model.causal and model.finetune
    with torch.no_grad():
        shared, answers = model(batch)
        model.encoder.share_context, model.encoder.max_pairs = False, 2
        pairs, _ = model(batch)
        model.encoder.length_norm = True
        normed, _ = model(batch)
    assert shared.shape == (2, 3) and answers.tolist() == [0, 1]
    assert shared[0, 2] == float("-inf") and torch.isfinite(shared[1]).all()
    torch.testing.assert_close(shared, pairs)
    want = _hand_logprob(model, batch[1], "on a chair")
    assert shared[1, 1].item() == pytest.approx(want, abs=1e-4)
    assert normed[1, 1].item() == pytest.approx(want / 3, abs=1e-4)  # three tokens
    assert normed[1, 0].item() == pytest.approx(shared[1, 0].item(), abs=1e-5)  # one token


def test_one_step_of_fine_tuning_lowers_the_loss(models):
    L.seed_everything(0)
    model = AnswererLit(models[1], lm_lr=1e-2).train()
    batch = [AnswerExample("a", "", "was there a cup?", ("yes", "no"), 0),
             AnswerExample("b", "", "was there a sofa?", ("no", "on a chair", "yes"), 1)]  # fmt: skip
    optimizer = model.configure_optimizers()
    before = model.loss(*model(batch))
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = model.loss(*model(batch))
    assert after < before


def test_a_frozen_causal_lm_has_nothing_to_train(models):
    model = AnswererLit(models[1], finetune=False)
    assert not any(p.requires_grad for p in model.parameters())
    with pytest.raises(AnswererError, match="nothing to train"):
        model.configure_optimizers()


def test_a_folder_that_is_not_a_model_is_refused(tmp_path):
    with pytest.raises(AnswererError, match="no such folder"):
        AnswererLit(str(tmp_path / "nothing"))
    with pytest.raises(AnswererError, match="kind"):
        AnswererLit(str(tmp_path), kind="seq2seq")


# -- the data module ------------------------------------------------------------------------------
def test_the_data_module_reads_the_vocabulary_options_without_prompts(folder, caplog):
    data = AnswererDataModule(str(folder))
    answers = json.loads((folder / "vocab.json").read_text())["answers"]
    with caplog.at_level(logging.WARNING):
        train = data.examples("train")
    assert not caplog.records and data.missing["train"] == 0
    rows = _rows(folder, "train")
    assert [e.qid for e in train] == [r["qid"] for r in rows]
    assert all(e.prompt == "" and e.text == e.question for e in train)
    assert all(e.options == tuple(answers) and e.options[e.answer] == r["answer"]
               for e, r in zip(train, rows))  # fmt: skip
    assert data.test_splits == ["test", "test_novel", "test_more_steps"]
    assert len(AnswererDataModule(str(folder), limit=5).examples("train")) == 5


def test_prompts_are_joined_by_qid_and_missing_ones_are_warned(folder, tmp_path, caplog):
    rows = _rows(folder, "train")
    path = write_prompts(tmp_path / "train.jsonl", rows[2:])  # the first two have none
    data = AnswererDataModule(str(folder), prompts={"train": path})
    with caplog.at_level(logging.WARNING):
        train = data.examples("train")
        data.examples("val")
    said = [r.getMessage() for r in caplog.records]
    assert data.missing == {"train": 2, "val": len(_rows(folder, "val"))}
    assert any(f"2 of {len(rows)} questions have no prompt" in m for m in said)
    assert any(m.startswith("val: no prompts file") for m in said)
    assert [e.prompt for e in train[:3]] == ["", "", f"hint {rows[2]['answer']}"]
    assert train[2].text == f"hint {rows[2]['answer']} {rows[2]['question']}"


def test_a_prompts_file_of_other_questions_is_refused(folder, tmp_path):
    rows = _rows(folder, "test")
    foreign = write_prompts(tmp_path / "foreign.jsonl", [*rows, {**rows[0], "qid": "v99999-0"}])
    with pytest.raises(PromptsError, match=r"foreign\.jsonl: 1 qid\(s\) are not questions"):
        AnswererDataModule(str(folder), prompts={"test": foreign}).examples("test")
    other = write_prompts(tmp_path / "other.jsonl", [{**rows[0], "question": "Why?"}])
    with pytest.raises(PromptsError, match=r"other\.jsonl: line 1: .*another dataset"):
        AnswererDataModule(str(folder), prompts={"test": other}).examples("test")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"qid": "x"}\n')
    with pytest.raises(PromptsError, match=r"bad\.jsonl: line 1"):
        AnswererDataModule(str(folder), prompts={"test": str(bad)}).examples("test")
    with pytest.raises(PromptsError, match="split 'tset'"):
        AnswererDataModule(str(folder), prompts={"tset": foreign}).examples("test")


def test_multiple_choice_and_open_folders(mc_folder, folder, tmp_path):
    mc = AnswererDataModule(str(mc_folder)).examples("val")
    for e, r in zip(mc, _rows(mc_folder, "val")):
        assert e.options == tuple(r["metadata"]["options"]) and e.options[e.answer] == r["answer"]
    opened = tmp_path / "open"
    shutil.copytree(folder / "questions", opened / "questions")
    shutil.copy(folder / "vocab.json", opened / "vocab.json")
    meta = json.loads((folder / "meta.json").read_text())
    (opened / "meta.json").write_text(json.dumps({**meta, "answers": "open"}))
    data = AnswererDataModule(str(opened), answer_top_k=4)
    train = data.examples("train")
    assert data.answer_mode == "open" and all(len(e.options) == 4 for e in train)
    outside = [e for e, r in zip(train, _rows(folder, "train")) if r["answer"] not in e.options]
    assert outside and all(e.answer == -1 for e in outside)  # counted wrong, not trained on


# -- the command line -----------------------------------------------------------------------------
def test_fit_test_predict_through_the_config(folder, models, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # runs/ is written here
    config = ["--config", str(CONFIG), f"--model.encoder={models[0]}", "--model.hidden=8",
              f"--data.data_dir={folder}", "--data.batch_size=8", *QUIET]  # fmt: skip
    fit = ["--trainer.max_epochs=1", "--trainer.limit_train_batches=2"]
    assert main(["answerer", "fit", *config, *fit]) == 0
    ckpt = tmp_path / "runs" / "answerer" / "version_0" / "checkpoints" / "last.ckpt"
    saved = torch.load(ckpt, weights_only=True)
    assert not any(k.startswith("encoder.model.") for k in saved["state_dict"])  # frozen: not kept
    capsys.readouterr()
    assert main(["answerer", "test", *config, f"--ckpt_path={ckpt}"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["split", "questions", "acc", "%", "chance", "%"]
    assert [line.split()[0] for line in table[1:]] == ["test", "test_novel", "test_more_steps"]
    assert main(["answerer", "test", *config, f"--ckpt_path={ckpt}", "--zero-shot"]) == 0
    assert "test" in capsys.readouterr().out  # the checkpoint's encoder, without its head
    assert main(["answerer", "predict", *config, f"--ckpt_path={ckpt}"]) == 0
    (out,) = (tmp_path / "runs" / "answerer").glob("version_*/predictions.jsonl")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["qid"] for r in rows] == [r["qid"] for r in _rows(folder, "test")]


def test_zero_shot_causal_lm_on_multiple_choice_with_prompts(
    mc_folder, models, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # the config Lightning saves is written here
    rows = _rows(mc_folder, "test")
    prompts = json.dumps({"test": write_prompts(tmp_path / "test.jsonl", rows[1:])})
    args = ["answerer", "test", "--zero-shot", f"--model.encoder={models[1]}",
            f"--data.data_dir={mc_folder}", f"--data.prompts={prompts}", *QUIET]  # fmt: skip
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines.index(next(line for line in lines if line.startswith("split")))
    assert lines[head].split()[-2:] == ["no", "prompt"]
    test = lines[head + 1].split()
    assert test[0] == "test" and int(test[1]) == len(rows) and int(test[-1]) == 1
    assert 25 <= float(test[3]) <= 50  # chance: 2 to 3 options


def test_fine_tuning_a_causal_lm_keeps_its_weights(
    mc_folder, models, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    common = [f"--data.data_dir={mc_folder}", "--data.batch_size=4", *QUIET]
    fit = ["answerer", "fit", f"--model.encoder={models[1]}", "--model.lm_lr=0.01",
           "--trainer.max_epochs=1", "--trainer.limit_train_batches=2",
           f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false"]  # fmt: skip
    assert main([*fit, *common]) == 0
    (ckpt,) = (tmp_path / "checkpoints").glob("*.ckpt")
    saved = torch.load(ckpt, weights_only=True)["state_dict"]
    tuned = AnswererLit(models[1])
    assert set(saved) == set(tuned.state_dict())  # fine-tuned: the LM itself is kept
    assert any(not torch.equal(saved[k], v) for k, v in tuned.state_dict().items())
    capsys.readouterr()
    assert main(["answerer", "test", f"--ckpt_path={ckpt}", *common]) == 0
    assert capsys.readouterr().out.splitlines()[-3].startswith("test ")


def test_fit_refuses_a_zero_shot_answerer(folder, models, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["answerer", "fit", "--zero-shot", f"--model.encoder={models[0]}",
            f"--data.data_dir={folder}", *QUIET]  # fmt: skip
    assert main(args) == 2
    assert "a zero-shot answerer is not trained" in capsys.readouterr().err


def test_the_config_runs_minilm_zero_shot(folder, tmp_path, monkeypatch, capsys, caplog):
    minilm()  # skips without the package
    monkeypatch.chdir(tmp_path)
    args = ["answerer", "test", "--config", str(CONFIG), f"--data.data_dir={folder}",
            "--data.limit=4", "--data.test_splits=[test]", *QUIET]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="stair.answerer"):
        assert main(args) == 0
    assert "no --ckpt_path: the answerer answers zero-shot" in caplog.text
    assert capsys.readouterr().out.splitlines()[-1].split()[:2] == ["test", "4"]
