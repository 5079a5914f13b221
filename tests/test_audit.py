"""Explanations, `stair ask`, `stair audit` (resume, summary, HTML) on a tiny trained model."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from stair.audit.dump import page_name
from stair.cli import main
from stair.data.datamodule import QADataModule
from tests.tiny_synth import one_torch_thread, tiny_trained  # noqa: F401  (small models: one torch thread)

COUNT = "Count(lying on a bed, Localize(after, sitting on a chair))"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    data, ckpt, _ = tiny_trained(tmp_path_factory.mktemp("audit"))
    return data, ckpt


def test_ask_prints_every_step_with_seconds(trained, capsys):
    data, ckpt = trained
    video = QADataModule(str(data)).records("test")[0].video_id
    args = ["ask", "--ckpt", str(ckpt), "--data", str(data), "--video", video,
            "--question", "How many times did they lie on a bed after sitting on a chair?"]  # fmt: skip
    assert main([*args, "--program", COUNT, "--json"]) == 0
    ex = json.loads(capsys.readouterr().out)
    assert set(ex) >= {"question", "video", "program", "tree", "answer", "steps", "faithful"}
    assert [s["module"] for s in ex["steps"]] == [
        "Count",
        "Localize",
        "Temporal[after]",
        "Localize",
    ]
    assert [s["depth"] for s in ex["steps"]] == [0, 1, 2, 3]
    for step in ex["steps"]:
        assert set(step) >= {"id", "module", "type", "inputs", "output", "gold", "correct"}
        assert step["gold"] is not None  # the scene graph gives every step's gold
        if step["type"] in {"Frames", "Video"}:
            assert "spans_seconds" in step["output"] and "probabilities" in step["output"]
    assert ex["faithful"] is True and ex["answer"]["text"] == str(ex["steps"][0]["output"]["value"])
    assert ex["answer"]["gold"] is not None
    assert main([*args, "--program", COUNT]) == 0
    text = capsys.readouterr().out
    assert '#3 Localize(video, "sitting on a chair")' in text and " s" in text


def test_ask_without_a_program_or_generator_is_a_clear_error(trained, capsys):
    data, ckpt = trained
    args = [
        "ask",
        "--ckpt",
        str(ckpt),
        "--data",
        str(data),
        "--video",
        "v00000",
        "--question",
        "Why?",
    ]
    assert main(args) == 2
    assert "no program given and no program generator" in capsys.readouterr().err


def test_ask_without_a_program_uses_the_generator(trained, tmp_path, capsys):
    """``stair ask --generator DIR`` with no ``--program``: the generator writes the program."""
    import torch

    from stair.generator.data import GeneratorDataModule
    from stair.generator.model import ProgramGenerator, build_seq2seq, t5_config

    data, ckpt = trained
    torch.manual_seed(0)
    tokenizer, inventory = GeneratorDataModule(str(data)).vocabulary()
    config = t5_config(len(tokenizer), d_model=32, layers=1, heads=2, d_ff=64)
    generator = ProgramGenerator(build_seq2seq(tokenizer, config=config), tokenizer, inventory)
    generator.save(tmp_path / "generator")
    question = "How many times did they lie on a bed after sitting on a chair?"
    expected = generator.generate([question])[0][0].tree  # untrained, but always well typed
    video = QADataModule(str(data)).records("test")[0].video_id
    args = ["ask", "--ckpt", str(ckpt), "--data", str(data), "--video", video, "--question",
            question, "--generator", str(tmp_path / "generator"), "--json"]  # fmt: skip
    assert main(args) == 0
    ex = json.loads(capsys.readouterr().out)
    assert ex["steps"][0]["module"] == expected.root.label
    assert len(ex["steps"]) == len(expected)
    missing = [*args[:-3], "--generator", str(tmp_path / "nowhere")]
    assert main(missing) == 2
    assert "no program-generator checkpoint" in capsys.readouterr().err


def test_audit_dumps_resumes_and_summarises(trained, tmp_path, capsys):
    data, ckpt = trained
    out = tmp_path / "dumps"
    args = ["audit", "--ckpt", str(ckpt), "--data", str(data), "--split", "test", "--out", str(out)]
    assert main([*args, "--limit", "5"]) == 0
    assert len((out / "records.jsonl").read_text().splitlines()) == 5
    with open(out / "records.jsonl", "a") as handle:
        handle.write('{"qid": "torn')  # a crash in the middle of a record
    assert main([*args, "--html"]) == 0
    printed = capsys.readouterr().out
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    qids = [r["qid"] for r in records]
    assert len(qids) == len(set(qids)) == len(QADataModule(str(data)).records("test"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["questions"] == len(records) and summary["unfaithful"] == []
    assert {"Localize", "Filter", "Temporal"} <= set(summary["modules"])
    assert "Localize" in printed and "answer accuracy" in printed
    csv_lines = (out / "summary.csv").read_text().splitlines()
    assert csv_lines[0] == "module,steps,correct,iou,top1,recall@5,acc"
    index = (out / "html" / "index.html").read_text()
    assert "Worst intermediate errors" in index and ".html#step-" in index


def _html_page(trained, tmp_path) -> tuple:
    data, ckpt = trained
    import stair

    qa = stair.load(ckpt, data=data)
    video = QADataModule(str(data)).records("test")[0].video_id
    ex = qa.ask(video, "How many times?", program=COUNT)
    page = tmp_path / "report.html"
    page.write_text(ex.to_html())
    return ex, page


def test_html_is_self_contained_and_holds_every_step(trained, tmp_path):
    ex, page = _html_page(trained, tmp_path)
    html = page.read_text()
    for step in ex.steps:
        assert f"id='step-{step.id}'" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert html.count("data:image/png;base64,") >= 3  # timelines of the Frames/Video steps


def test_html_renders_in_headless_chromium(trained, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("chromium is not installed here (CI installs it)")
    ex, page = _html_page(trained, tmp_path)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1000,1400"]  # fmt: skip
    shot = tmp_path / "shot.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)  # fmt: skip
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape[0] > 500 and pixels.std() > 10  # not blank
    dom = subprocess.run([browser, *flags, "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    for step in ex.steps:
        assert f'id="step-{step.id}"' in dom


# -- resuming an audit, and what a question id may hold ------------------------------------------
def _audit(trained, out, *extra, data=None):
    source, ckpt = trained
    return main(["audit", "--ckpt", str(ckpt), "--data", str(data or source), "--out", str(out),
                 *extra])  # fmt: skip


def test_a_last_record_without_its_newline_is_kept_on_resume(trained, tmp_path):
    out = tmp_path / "dumps"
    assert _audit(trained, out, "--split", "test", "--limit", "5") == 0
    dump = out / "records.jsonl"
    dump.write_bytes(dump.read_bytes().rstrip(b"\n"))  # a crash between "}" and "\n"
    assert _audit(trained, out, "--split", "test") == 0
    records = [json.loads(line) for line in dump.read_text().splitlines()]
    qids = [r["qid"] for r in records]
    assert len(qids) == len(set(qids)) == len(QADataModule(str(trained[0])).records("test"))
    assert json.loads((out / "summary.json").read_text())["questions"] == len(records)


def test_resuming_another_split_into_the_same_out_is_refused(trained, tmp_path, capsys):
    out = tmp_path / "dumps"
    assert _audit(trained, out, "--split", "test", "--limit", "3") == 0
    before = (out / "records.jsonl").read_bytes()
    assert _audit(trained, out, "--split", "val") == 2
    err = capsys.readouterr().err
    assert "holds the dump of another run (split 'test' there, 'val' now)" in err
    assert (out / "records.jsonl").read_bytes() == before
    (out / "run.json").unlink()  # a dump of an older version, without its run.json
    assert _audit(trained, out, "--split", "val") == 2
    assert "question(s) that are not in split 'val'" in capsys.readouterr().err
    assert (out / "records.jsonl").read_bytes() == before


def test_question_ids_never_make_paths_outside_the_html_folder(trained, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(trained[0], data)
    questions = data / "questions" / "test.jsonl"
    lines = [json.loads(line) for line in questions.read_text().splitlines()]
    for i, record in enumerate(lines):
        record["qid"] = f"../../../escaped-{i}" if i % 2 else f"{record['qid']}/with/slashes"
    questions.write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = tmp_path / "a" / "b" / "out"
    assert _audit(trained, out, "--split", "test", "--html", "--worst", "1000", data=data) == 0
    html = out / "html"
    pages = sorted(tmp_path.rglob("*.html"))
    assert len(pages) > 2 and all(page.parent == html for page in pages)
    index = (html / "index.html").read_text()
    for page in pages:
        assert page.name == "index.html" or f"href='{page.name}#step-" in index


def test_page_names_are_plain_file_names():
    assert page_name("v00012-3") == "v00012-3.html"
    for qid in ["../../x", "a/b", ".hidden", "", "\x00", "é" * 200, "a" * 500]:
        name = page_name(qid)
        assert "/" not in name and not name.startswith(".") and len(name) < 100, qid
    assert page_name("a/b") != page_name("a_b") != page_name("a b")
