"""Where a folder's programs come from: ``stair generator predict`` writes a compiling program
for every question of a prepared NExT-QA folder and records the generator in ``meta.json``;
n-best lists keep the first usable program; malformed programs files name their line."""

from __future__ import annotations

import json

import pytest

from stair.cli import main
from stair.data.datamodule import QADataModule
from stair.data.programs_source import (
    ProgramStats,
    fallback_tree,
    first_usable,
    program_line,
    read_programs,
)
from stair.data.synth.build import SynthConfig, build_synth_dataset
from stair.errors import DatasetFormatError
from stair.programs import VType, check, compile_program, from_tokens, to_tokens
from tests.benchmark_folders import nextqa_folder, tiny_generator

HELD = "Exists(cup, Iterate(video, Filter(frame, [relations, holding, objects])))"


def test_first_usable_skips_a_program_whose_root_no_answer_reads():
    frames = ["Localize", "video", '"', "opening", "a", "door", '"']  # a Frames root
    bad = ["Exists", '"', "cup"]  # stops mid-program
    good = to_tokens(compile_program(HELD))
    rank, tree, _ = first_usable([frames, bad, good])
    assert rank == 2 and tree == compile_program(HELD)
    rank, tree, reason = first_usable([frames])
    assert (rank, tree) == (-1, None) and "Frames" in reason
    stats = ProgramStats()
    line = program_line("q1", [(frames, -0.1), (good, -0.5)], None, stats)
    assert line["rank"] == 1 and line["score"] == -0.5 and "golds" not in line
    assert program_line("q2", [(bad, -0.1)], None, stats)["tokens"] is None
    assert stats.to_json()["usable"] == 1 and stats.to_json()["fallback"] == 1


def test_the_fallback_program_is_well_typed_and_holds_the_question():
    tree = check(fallback_tree("why did the boy, after falling, cry?"))
    assert tree.type is VType.BOOL and tree.phrases()[0].text == "why did the boy after falling cry"


def test_a_malformed_programs_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "programs.jsonl"
    path.write_text('{"qid": "a", "tokens": null}\n{"qid": "b", "tokens": ["Exists"]}\n')
    with pytest.raises(DatasetFormatError, match="line 2"):
        read_programs(path)


@pytest.fixture(scope="module")
def generator(tmp_path_factory):
    synth = tmp_path_factory.mktemp("synth") / "synth"
    build_synth_dataset(synth, SynthConfig(videos=12, questions_per_video=4, seed=1, render=(),
                                           workers=1))  # fmt: skip
    return tiny_generator(synth, tmp_path_factory.mktemp("gen") / "generator")


def test_predict_writes_a_compiling_program_for_every_nextqa_question(tmp_path, generator):
    folder = nextqa_folder(tmp_path)
    assert QADataModule(str(folder)).program_source == "none"
    args = ["generator", "predict", "--ckpt", str(generator), "--data", str(folder),
            "--split", "train", "val", "--beams", "3", "--n-best", "3", "--threads", "1"]  # fmt: skip
    assert main(args) == 0
    lines = [json.loads(s) for s in (folder / "programs.jsonl").read_text().splitlines()]
    assert len(lines) == 24 and all(line["tokens"] is not None for line in lines)
    assert all(check(from_tokens(line["tokens"])).type in (VType.BOOL, VType.COUNT, VType.CONCEPT)
               for line in lines)  # fmt: skip
    assert all(line["rank"] == 0 and len(line["nbest"]) == 3 for line in lines)
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["programs"] == f"generator:{generator.resolve()}"
    assert meta["generated"]["val"]["questions"] == 12 and meta["generated"]["val"]["usable"] == 12
    dm = QADataModule(str(folder))
    assert dm.program_source.startswith("generator:") and dm.val_splits == ["val"]
    examples = dm.examples("val")
    assert not any(e.metadata["fallback"] for e in examples)
    assert [to_tokens(e.tree) for e in examples] == [line["tokens"] for line in lines[12:]]


def test_an_annotated_folder_keeps_its_programs(tmp_path, generator):
    synth = tmp_path / "s"
    build_synth_dataset(synth, SynthConfig(videos=4, questions_per_video=2, seed=2, render=(),
                                           workers=1))  # fmt: skip
    args = ["generator", "predict", "--ckpt", str(generator), "--data", str(synth)]
    assert main(args) != 0 and not (synth / "programs.jsonl").exists()
