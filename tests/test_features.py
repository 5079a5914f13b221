"""Feature extraction: shapes, clip alignment, local weights, bf16, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from stair.data.video.backbone import FeatureExtractor, FeatureModelError, is_video_model
from tests.tiny_synth import one_torch_thread  # noqa: F401  (one torch thread)


def frames(t: int = 5, h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def resnet18() -> FeatureExtractor:
    torch.manual_seed(0)
    return FeatureExtractor("resnet18", weights=None, batch_size=2)


def test_resnet18_shapes_and_batching_do_not_change_results(resnet18):
    x = frames(5)
    out = resnet18(x)
    assert out.shape == (5, 512) and out.dtype == torch.float32 and resnet18.dim == 512
    assert not resnet18.is_video and torch.isfinite(out).all()
    one_by_one = torch.cat([resnet18(x[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(out, one_by_one, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(out[0], out[1])  # different frames, different features
    assert resnet18(torch.from_numpy(x)).shape == (5, 512)  # tensors accepted too


def test_bf16_autocast_is_close_to_fp32(resnet18):
    x = frames(3)
    fp32 = resnet18(x)
    resnet18.bf16 = True
    try:
        bf16 = resnet18(x)
    finally:
        resnet18.bf16 = False
    assert bf16.dtype == torch.float32
    cos = torch.nn.functional.cosine_similarity(fp32, bf16, dim=1)
    assert cos.min() > 0.98


def test_r3d_18_gives_one_row_per_sampled_frame():
    assert is_video_model("r3d_18") and not is_video_model("resnet18")
    torch.manual_seed(0)
    model = FeatureExtractor("r3d_18", weights=None, clip_len=4, batch_size=2)
    x = frames(3, 40, 52)
    out = model(x)
    assert out.shape == (3, 512) and model.dim == 512 and model.is_video
    # row t is the clip of sampled frames t-2 .. t+1, clamped at the ends (edges repeat)
    clips = torch.from_numpy(x[[[0, 0, 0, 1], [0, 0, 1, 2]]]).permute(0, 1, 4, 2, 3)
    with torch.inference_mode():
        direct = model.model(model.transform(clips))  # (2, C, 4, h, w) -> (2, 512)
    torch.testing.assert_close(out[:2], direct, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(out[1], out[2])


@pytest.mark.parametrize("with_head", [True, False])
def test_weights_from_a_local_state_dict(tmp_path, with_head):
    torch.manual_seed(1)
    source = torchvision.models.resnet18(weights=None)
    if not with_head:
        source.fc = torch.nn.Identity()
    path = tmp_path / "r18.pt"
    torch.save(source.state_dict(), path)
    model = FeatureExtractor("resnet18", weights=str(path))
    torch.testing.assert_close(model.model.conv1.weight, source.conv1.weight)
    assert model.describe()["weights"] == str(path)
    x = frames(2)
    source.fc = torch.nn.Identity()
    with torch.inference_mode():
        expected = source.eval()(model.transform(torch.from_numpy(x).permute(0, 3, 1, 2)))
    torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-4)


def test_clear_errors(tmp_path):
    with pytest.raises(FeatureModelError, match="unknown backbone 'resnet1000'"):
        FeatureExtractor("resnet1000")
    with pytest.raises(FeatureModelError, match="unknown weights 'NOPE' for resnet18"):
        FeatureExtractor("resnet18", weights="NOPE")
    with pytest.raises(FeatureModelError, match=r"weights file .*missing\.pt not found"):
        FeatureExtractor("resnet18", weights=str(tmp_path / "missing.pt"))
    wrong = tmp_path / "r3d.pt"
    torch.save(torchvision.models.video.r3d_18(weights=None).state_dict(), wrong)
    with pytest.raises(FeatureModelError, match=r"r3d\.pt does not fit the model"):
        FeatureExtractor("resnet18", weights=str(wrong))
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(FeatureModelError, match=r"cannot read weights file .*junk\.pt"):
        FeatureExtractor("resnet18", weights=str(junk))
    if not torch.cuda.is_available():
        with pytest.raises(FeatureModelError, match="CUDA is not available"):
            FeatureExtractor("resnet18", device="cuda")
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\]"):
        FeatureExtractor("resnet18")(np.zeros((2, 3, 8, 8), np.uint8))
