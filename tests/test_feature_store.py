"""The HDF5 feature store (crash safety, resume, reports) and ``stair features`` end to end."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest

import stair.data.video.backbone
from stair.cli import main
from stair.data.video.store import (
    FeatureStore,
    FeatureStoreError,
    FeatureStoreWriter,
    MissingFeaturesError,
    parts_dir,
    report_path,
)
from stair.data.video.writer import write_mp4
from tests.tiny_synth import one_torch_thread  # noqa: F401  (one torch thread)

META = {"backbone": "toy", "dim": 4}


def feats(seed: int, t: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((t, 4)).astype(np.float32)


def test_round_trip_and_missing_id(tmp_path):
    path = tmp_path / "f.h5"
    with FeatureStoreWriter(path, META) as store:
        store.add("vidB", feats(1), [0.0, 0.5, 1.0], 25.0, source="b.mp4")
        store.add("vidA", feats(2, 2), [0.1, 0.2], 30.0)
        with pytest.raises(ValueError, match="already"):
            store.add("vidA", feats(2, 2), [0.1, 0.2], 30.0)
    with FeatureStore(path) as fs:
        assert fs.ids() == ["vidA", "vidB"] and "vidB" in fs and "nope" not in fs and len(fs) == 2
        x, attrs = fs.get("vidB")
        np.testing.assert_array_equal(x, feats(1))
        assert x.dtype == np.float32
        assert attrs["backbone"] == "toy" and attrs["frames"] == 3 and attrs["fps"] == 25.0
        assert attrs["source"] == "b.mp4"
        np.testing.assert_allclose(attrs["timestamps"], [0.0, 0.5, 1.0])
        assert fs.attrs["dim"] == 4
        copy = pickle.loads(pickle.dumps(fs))  # as sent to DataLoader workers
        np.testing.assert_array_equal(copy.get("vidA")[0], feats(2, 2))
        copy.close()
        with pytest.raises(MissingFeaturesError, match=r"no features for video 'nope' in .*f\.h5"):
            fs.get("nope")
    assert not parts_dir(path).exists()  # parts merged and removed
    assert report_path(path).read_text() == ""  # nothing skipped
    with pytest.raises(FeatureStoreError, match="no feature store at"):
        FeatureStore(tmp_path / "absent.h5")


def test_a_killed_writer_keeps_committed_videos_and_resumes(tmp_path):
    path = tmp_path / "f.h5"
    with FeatureStoreWriter(path, META) as store:  # an existing store with one video
        store.add("old", feats(0), [0, 1, 2], 25.0)
    before = path.read_bytes()
    crash = textwrap.dedent(
        f"""
        import os, numpy as np
        from stair.data.video.store import FeatureStoreWriter
        w = FeatureStoreWriter({str(path)!r}, {META!r}, commit_every=2)
        for i in range(3):
            w.add(f"v{{i}}", np.full((3, 4), i, np.float32), [0, 1, 2], 25.0)
        os._exit(1)  # killed: v0, v1 were committed, v2 was in the open part
        """
    )
    subprocess.run([sys.executable, "-c", crash], check=False)
    assert path.read_bytes() == before  # the store file itself was never written in place
    with FeatureStore(path) as fs:  # committed parts are readable at once
        assert fs.ids() == ["old", "v0", "v1"]
        np.testing.assert_array_equal(fs.get("v1")[0], np.full((3, 4), 1, np.float32))
    with FeatureStoreWriter(path, META) as store:
        assert {"old", "v0", "v1"} <= store.done and "v2" not in store
        store.add("v2", np.full((3, 4), 2, np.float32), [0, 1, 2], 25.0)
    assert not parts_dir(path).exists()
    with h5py.File(path) as f:
        assert sorted(f["videos"]) == ["old", "v0", "v1", "v2"]


def test_other_settings_are_refused_and_skips_are_reported(tmp_path):
    path = tmp_path / "f.h5"
    with FeatureStoreWriter(path, META) as store:
        store.skip("bad.mp4", "moov atom not found")
    with FeatureStore(path) as fs:
        assert fs.ids() == []  # an empty but valid store
    lines = report_path(path).read_text().splitlines()
    assert [json.loads(x) for x in lines] == [{"video": "bad.mp4", "error": "moov atom not found"}]
    with pytest.raises(FeatureStoreError, match=r"other settings \(backbone: 'toy' there"):
        FeatureStoreWriter(path, {"backbone": "resnet18", "dim": 4})


@pytest.fixture
def video_dir(tmp_path) -> Path:
    folder = tmp_path / "videos"
    rng = np.random.default_rng(0)
    for i in range(3):
        frames = np.zeros((20, 64, 80, 3), np.uint8)
        for t in range(20):
            frames[t, 10:30, 2 * t + 10 * i : 2 * t + 10 * i + 16] = rng.integers(0, 255, 3)
        write_mp4(folder / f"clip{i}.mp4", frames, 10)
    data = (folder / "clip0.mp4").read_bytes()
    (folder / "broken.mp4").write_bytes(data[: len(data) - 400])  # cut: no moov atom
    (folder / "notes.txt").write_text("not a video")
    return folder


def test_cli_extracts_resumes_and_reports(tmp_path, video_dir, monkeypatch, capsys):
    calls = []
    real_call = stair.data.video.backbone.FeatureExtractor.__call__
    monkeypatch.setattr(
        stair.data.video.backbone.FeatureExtractor,
        "__call__",
        lambda self, frames: calls.append(len(frames)) or real_call(self, frames),
    )
    out = tmp_path / "store" / "features.h5"
    args = ["features", "--videos", str(video_dir), "--out", str(out), "--frames", "4"]
    args += ["--size", "48", "--workers", "2", "--batch-size", "3"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "3 videos added" in printed and "1 skipped" in printed and "skipped.jsonl" in printed
    assert calls == [4, 4, 4]
    with FeatureStore(out) as fs:
        assert fs.ids() == ["clip0", "clip1", "clip2"]
        x, attrs = fs.get("clip1")
        assert x.shape == (4, 512) and attrs["backbone"] == "resnet18" and attrs["frames"] == 4
        np.testing.assert_allclose(attrs["timestamps"], [0.2, 0.7, 1.2, 1.7], atol=1e-3)
        assert fs.attrs["size"] == "48" and fs.attrs["frames"] == 4
    report = [json.loads(x) for x in (tmp_path / "store" / "features.skipped.jsonl").open()]
    assert [r["video"] for r in report] == [str(video_dir / "broken.mp4")]
    assert "broken.mp4" in report[0]["error"] or "Invalid data" in report[0]["error"]

    mtime = out.stat().st_mtime_ns
    assert main(args) == 0  # rerun: nothing recomputed, store untouched
    assert calls == [4, 4, 4] and out.stat().st_mtime_ns == mtime
    assert "0 videos added, 3 already in" in capsys.readouterr().out

    listing = video_dir / "list.txt"  # a LIST file, relative paths, one new video
    write_mp4(video_dir / "extra.mp4", np.full((8, 32, 32, 3), 99, np.uint8), 8)
    listing.write_text("# videos\nclip0.mp4\n\nextra.mp4\n")
    assert main([*args[:2], str(listing), *args[3:]]) == 0
    assert calls == [4, 4, 4, 4]
    with FeatureStore(out) as fs:
        assert fs.ids() == ["clip0", "clip1", "clip2", "extra"]


def test_cli_errors_are_one_line(tmp_path, video_dir, capsys):
    out = str(tmp_path / "f.h5")
    assert main(["features", "--videos", str(tmp_path / "nowhere"), "--out", out]) == 2
    assert "no such folder or list file" in capsys.readouterr().err
    assert main(["features", "--videos", str(video_dir), "--out", out, "--size", "big"]) == 2
    assert "--size must be S or HxW" in capsys.readouterr().err
    bad = ["features", "--videos", str(video_dir), "--out", out, "--backbone", "resnet1000"]
    assert main(bad) == 2
    assert "unknown backbone 'resnet1000'" in capsys.readouterr().err
