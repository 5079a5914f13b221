"""Sharded feature extraction: ``--shard i/n`` and the launchers' environment, the subset of each
shard, and ``stair features-merge`` (same store as one process, resumable, clear errors)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

import stair.data.video.backbone
from stair.cli import main
from stair.data.video.shards import (
    Shard,
    ShardError,
    ShardMergeError,
    local_rank,
    merge_shards,
    parse_shard,
    resolve_shard,
    shard_from_env,
    shard_of,
    shard_path,
    shard_paths,
)
from stair.data.video.store import FeatureStore, FeatureStoreWriter, parts_dir, report_path
from stair.data.video.writer import write_mp4
from stair.errors import StairError
from stair.files import lock
from tests.tiny_synth import one_torch_thread  # noqa: F401  (one torch thread)


@pytest.fixture(autouse=True)
def no_launcher(monkeypatch):
    """Tests run outside torchrun/SLURM unless they say otherwise."""
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("SLURM_LOCALID", raising=False)


def test_parse_shard_and_its_errors():
    assert parse_shard("0/4") == Shard(0, 4) and parse_shard(" 3 / 4 ") == Shard(3, 4)
    assert str(parse_shard("1/2")) == "1/2" and parse_shard("0/1") == Shard(0, 1)
    for bad in ("3/2", "2/2", "0/0"):
        with pytest.raises(ShardError, match=rf"--shard '{bad}': the shard index must be below"):
            parse_shard(bad)
    for bad in ("a/b", "1", "-1/2", "1/2/3", ""):
        with pytest.raises(ShardError, match=r"want i/n, e\.g\. 0/4"):
            parse_shard(bad)
    assert issubclass(ShardError, StairError)
    with pytest.raises(ShardError, match="0 <= i < n"):
        Shard(2, 2)


def test_the_shard_comes_from_torchrun_or_slurm_and_the_flag_wins(monkeypatch):
    assert shard_from_env({}) is None
    assert shard_from_env({"RANK": "0", "WORLD_SIZE": "1"}) is None  # one process: no shards
    assert shard_from_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) is None
    assert shard_from_env({"RANK": "2", "WORLD_SIZE": "4"}) == Shard(2, 4)
    assert shard_from_env({"SLURM_PROCID": "1", "SLURM_NTASKS": "3"}) == Shard(1, 3)
    both = {"RANK": "5", "WORLD_SIZE": "8", "SLURM_PROCID": "1", "SLURM_NTASKS": "2"}
    assert shard_from_env(both) == Shard(5, 8)  # torchrun under SLURM: the global rank
    with pytest.raises(ShardError, match=r"RANK/WORLD_SIZE '4/4': the shard index"):
        shard_from_env({"RANK": "4", "WORLD_SIZE": "4"})
    with pytest.raises(ShardError, match=r"WORLD_SIZE='x' is not a whole number"):
        shard_from_env({"RANK": "0", "WORLD_SIZE": "x"})
    with pytest.raises(ShardError, match="SLURM_NTASKS=2 is set but SLURM_PROCID is not"):
        shard_from_env({"SLURM_NTASKS": "2"})

    assert resolve_shard(None) is None
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_NTASKS", "4")
    assert resolve_shard(None) == Shard(3, 4)
    assert resolve_shard("0/2") == Shard(0, 2)  # --shard wins over the environment
    assert local_rank() is None
    monkeypatch.setenv("SLURM_LOCALID", "1")
    assert local_rank() == 1 and local_rank({"LOCAL_RANK": "2", "SLURM_LOCALID": "1"}) == 2


def test_shards_cover_every_video_exactly_once_and_stably():
    ids = [f"video{i:04d}" for i in range(300)]
    paths = [Path("/v") / f"{v}.mp4" for v in ids]
    for n in (1, 2, 3, 7):
        shards = [Shard(i, n).select(paths) for i in range(n)]
        picked = [p for s in shards for p in s]
        assert sorted(picked) == sorted(paths) and len(picked) == len(paths)  # once each
        assert all(s == sorted(s) for s in shards)  # the list's order is kept
        assert min(len(s) for s in shards) > 300 / n / 2  # and roughly balanced
    # a video's shard depends on its id alone: not on the list around it
    assert Shard(1, 3).select(paths[::-1][:50]) == sorted(Shard(1, 3).select(paths[-50:]))[::-1]
    assert [shard_of("clip0", 2), shard_of("clip0", 2)] == [shard_of("clip0", 2)] * 2
    assert shard_path("out/feats.h5", 2, 16) == Path("out/feats.shard-2-of-16.h5")
    assert Shard(0, 4).path("feats.h5") == Path("feats.shard-0-of-4.h5")
    assert report_path(shard_path("feats.h5", 0, 4)) == Path("feats.shard-0-of-4.skipped.jsonl")


@pytest.fixture
def video_dir(tmp_path) -> Path:
    folder = tmp_path / "videos"
    rng = np.random.default_rng(0)
    for i in range(4):
        frames = np.zeros((12, 32, 40, 3), np.uint8)
        for t in range(12):
            frames[t, 4:20, t + 5 * i : t + 5 * i + 12] = rng.integers(0, 255, 3)
        write_mp4(folder / f"clip{i}.mp4", frames, 10)
    data = (folder / "clip0.mp4").read_bytes()
    (folder / "broken.mp4").write_bytes(data[: len(data) - 400])  # cut: no moov atom
    return folder


def read_store(path: Path) -> dict[str, tuple[np.ndarray, dict]]:
    with FeatureStore(path) as fs:
        return {v: fs.get(v) for v in fs.ids()} | {"": (np.zeros(0), fs.attrs)}


def test_two_shards_merge_into_the_store_of_one_process(tmp_path, video_dir, monkeypatch, capsys):
    calls = []
    real_call = stair.data.video.backbone.FeatureExtractor.__call__
    monkeypatch.setattr(
        stair.data.video.backbone.FeatureExtractor,
        "__call__",
        lambda self, frames: calls.append(len(frames)) or real_call(self, frames),
    )
    common = ["--videos", str(video_dir), "--frames", "2", "--size", "32", "--batch-size", "2"]
    single = tmp_path / "single.h5"
    assert main(["features", *common, "--out", str(single)]) == 0
    assert len(calls) == 4
    out = tmp_path / "out" / "feats.h5"
    assert main(["features", *common, "--out", str(out), "--shard", "0/2"]) == 0
    assert "stair features: shard 0/2: 2 videos added" in capsys.readouterr().out
    monkeypatch.setenv("WORLD_SIZE", "2")  # shard 1 as torchrun's second process
    monkeypatch.setenv("RANK", "1")
    assert main(["features", *common, "--out", str(out)]) == 0
    assert "shard 1/2: 2 videos added" in capsys.readouterr().out
    assert len(calls) == 8 and not out.exists()
    shards = shard_paths(out, 2)
    with FeatureStore(shards[0]) as a, FeatureStore(shards[1]) as b:
        assert a.ids() == ["clip2", "clip3"] and b.ids() == ["clip0", "clip1"]
    broken = shards[shard_of("broken", 2)]
    assert "broken.mp4" in report_path(broken).read_text()

    mtime = shards[1].stat().st_mtime_ns  # resume: a rerun of a shard adds nothing
    assert main(["features", *common, "--out", str(out), "--shard", "1/2"]) == 0
    assert "0 videos added, 2 already in" in capsys.readouterr().out
    assert len(calls) == 8 and shards[1].stat().st_mtime_ns == mtime

    assert main(["features-merge", "--out", str(out), "--shards", "2"]) == 0
    printed = capsys.readouterr().out
    assert "4 videos in" in printed and "from 2 shards (4 added, 0 already there)" in printed
    assert "1 skipped" in printed
    merged, expected = read_store(out), read_store(single)
    assert merged.keys() == expected.keys()
    assert merged.pop("")[1] == expected.pop("")[1]  # the store's settings
    for video_id, (x, attrs) in expected.items():
        np.testing.assert_array_equal(merged[video_id][0], x)
        np.testing.assert_array_equal(
            merged[video_id][1].pop("timestamps"), attrs.pop("timestamps")
        )
        assert merged[video_id][1] == attrs
    records = [json.loads(line) for line in report_path(out).read_text().splitlines()]
    assert [r["video"] for r in records] == [str(video_dir / "broken.mp4")]
    assert records == [json.loads(x) for x in report_path(single).read_text().splitlines()]

    mtime, report = out.stat().st_mtime_ns, report_path(out).read_text()
    assert main(["features-merge", "--out", str(out), *map(str, shards)]) == 0  # rerun
    assert "(0 added, 4 already there)" in capsys.readouterr().out
    assert out.stat().st_mtime_ns == mtime and report_path(out).read_text() == report
    assert not parts_dir(out).exists() and not list(out.parent.glob(".*.tmp"))


META = {"backbone": "toy", "dim": 4, "frames": 3}


def store(path: Path, videos: dict[str, float], meta: dict | None = None) -> Path:
    with FeatureStoreWriter(path, meta or META) as writer:
        for video_id, value in videos.items():
            writer.add(video_id, np.full((3, 4), value, np.float32), [0, 1, 2], 25.0)
    return path


def test_merge_errors_name_the_shard(tmp_path, capsys):
    a = store(tmp_path / "a.h5", {"v1": 1.0, "v2": 2.0})
    b = store(tmp_path / "b.h5", {"v3": 3.0}, {**META, "backbone": "resnet18"})
    with pytest.raises(ShardMergeError, match=r"b\.h5: built with other settings than .*a\.h5"):
        merge_shards(tmp_path / "m.h5", [a, b])
    c = store(tmp_path / "c.h5", {"v2": 2.5, "v4": 4.0})
    with pytest.raises(ShardMergeError, match=r"c\.h5: video 'v2' is also in .*a\.h5, with other"):
        merge_shards(tmp_path / "m.h5", [a, c])
    d = store(tmp_path / "d.h5", {"v2": 2.0, "v4": 4.0})  # the same v2: merged once
    summary = merge_shards(tmp_path / "m.h5", [a, d])
    assert (summary.videos, summary.added, summary.duplicates, summary.skipped) == (3, 3, 1, 0)
    assert read_store(tmp_path / "m.h5").keys() == {"", "v1", "v2", "v4"}
    with pytest.raises(
        ShardMergeError, match=r"c\.h5: video 'v2' is already in .*m\.h5, with other"
    ):
        merge_shards(tmp_path / "m.h5", [c])  # an existing store is checked as well
    with pytest.raises(ShardMergeError, match=r"nope\.h5: no such shard store"):
        merge_shards(tmp_path / "m.h5", [a, tmp_path / "nope.h5"])
    with pytest.raises(ShardMergeError, match="given twice"):
        merge_shards(tmp_path / "m.h5", [a, a])
    assert not (tmp_path / "nope.h5.lock").exists()

    parts = parts_dir(d)
    parts.mkdir()
    (parts / "part-1.h5").write_bytes(b"")
    with pytest.raises(ShardMergeError, match=r"d\.h5: the shard did not finish"):
        merge_shards(tmp_path / "m2.h5", [a, d])
    with lock(Path(f"{a}.lock"), "writer"), pytest.raises(ShardMergeError, match="in use"):
        merge_shards(tmp_path / "m2.h5", [a])

    out = tmp_path / "s" / "f.h5"
    store(shard_path(out, 0, 3), {"v1": 1.0})
    store(shard_path(out, 1, 3), {"v2": 2.0})
    assert main(["features-merge", "--out", str(out), "--shards", "3"]) == 2
    err = capsys.readouterr().err
    assert "f.shard-2-of-3.h5: missing" in err and "--shard 2/3" in err and err[-1] == "\n"
    assert main(["features-merge", "--out", str(out)]) == 2
    assert "give the shard stores to merge, or --shards N" in capsys.readouterr().err
    assert not out.exists()


def test_a_merge_that_fails_midway_leaves_the_store_and_reruns(tmp_path, monkeypatch):
    a = store(tmp_path / "a.h5", {"v1": 1.0})
    out = store(tmp_path / "m.h5", {"v1": 1.0})
    before = out.read_bytes()
    b = store(tmp_path / "b.h5", {"v2": 2.0, "v3": 3.0})
    real_copy, copies = h5py.Group.copy, []

    def crash_on_second(self, *args, **kwargs):
        copies.append(1)
        if len(copies) == 2:
            raise OSError("disk full")
        return real_copy(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Group, "copy", crash_on_second)
    with pytest.raises(OSError, match="disk full"):
        merge_shards(out, [a, b])
    assert out.read_bytes() == before and not list(tmp_path.glob(".*.tmp"))
    monkeypatch.setattr(h5py.Group, "copy", real_copy)
    summary = merge_shards(out, [a, b])
    assert (summary.videos, summary.added, summary.already) == (3, 2, 1)
    with FeatureStore(out) as fs:
        assert fs.ids() == ["v1", "v2", "v3"]
        np.testing.assert_array_equal(fs.get("v3")[0], np.full((3, 4), 3.0, np.float32))
