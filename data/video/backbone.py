"""Per-frame video features from any torchvision classification backbone.

The second step of the raw-video path (DESIGN.md §1, §3): decoded uint8 frames ``[T, H, W, 3]``
become features ``[T, D]``, one row per sampled frame, which the feature store caches and the
video encoder reads. The backbone is a torchvision classifier with its classification head (its
last ``Linear``) replaced by the identity, so the output is the model's pooled representation
(``D`` = 512 for resnet18 and r3d_18, 2048 for resnet50, ...).

* **Image models** (``resnet18``, ``resnet50``, ``efficientnet_b0``, ``vit_b_16``, ...) embed each
  frame on its own, ``batch_size`` frames per forward pass.
* **Video models** (``r3d_18``, ``mc3_18``, ``r2plus1d_18``, ``s3d`` excluded since it has no
  linear head) embed clips. Each sampled frame ``t`` gets the features of the clip of
  ``clip_len`` consecutive *sampled* frames centred on it, ``t - clip_len//2 ...
  t + clip_len - clip_len//2 - 1``, the first/last frame repeated past the ends: a sliding window
  with stride one over the sampled frames, so the output ``[T, D]`` stays aligned with the sampled
  timestamps. With ``T`` frames sampled uniformly from a video, each clip spans about
  ``clip_len / T`` of it; sample more frames (or use ``--fps``) for shorter, denser clips.

Inputs are prepared with the model's own preprocessing (``weights.transforms()`` of its
torchvision weights enum, available even when no weights are loaded): resize, centre crop,
scale to [0, 1], normalise.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import numpy as np
import torch
import torchvision
from torch import nn

from stair.checkpoints import read_torch_file
from stair.errors import CheckpointError, StairError

log = logging.getLogger(__name__)

__all__ = ["FeatureExtractor", "FeatureModelError", "backbone_names", "is_video_model"]


class FeatureModelError(StairError):
    """An unknown backbone, or weights that cannot be loaded into it."""


def is_video_model(name: str) -> bool:
    """Whether ``name`` is a torchvision video classifier (input ``[B, C, T, H, W]``)."""
    return name in torchvision.models.list_models(module=torchvision.models.video)


def backbone_names() -> list[str]:
    """The torchvision image-classification and video-classification model names."""
    models = torchvision.models
    return sorted(models.list_models(module=models) + models.list_models(module=models.video))


def _one_line(err: BaseException, limit: int = 300) -> str:
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _remove_head(model: nn.Module, name: str) -> tuple[str, int]:
    """Replace the last ``nn.Linear`` of ``model`` by the identity; return its path and in-size."""
    heads = [(path, m) for path, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not heads:
        raise FeatureModelError(f"backbone {name!r} has no linear classifier head to remove")
    path, head = heads[-1]
    parent_path, _, attr = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    setattr(parent, attr, nn.Identity())
    return path, head.in_features


def _load_state_dict(model: nn.Module, file: str, head_path: str) -> None:
    """Load a local ``state_dict`` file (with or without the classifier head) into ``model``."""
    try:
        state = read_torch_file(file)
    except CheckpointError as err:
        raise FeatureModelError(f"cannot read weights file {file}: {err.reason}") from None
    for key in ("state_dict", "model"):  # common checkpoint wrappers
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise FeatureModelError(f"weights file {file} does not hold a state_dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(head_path + ".")}
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches
        raise FeatureModelError(
            f"weights file {file} does not fit the model: {_one_line(err)}"
        ) from err
    if missing or unexpected:
        raise FeatureModelError(
            f"weights file {file} does not fit the model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}"
        )


def _default_transform(video: bool) -> Callable[[torch.Tensor], torch.Tensor]:
    """ImageNet/Kinetics preprocessing, for a model whose weights enum gives none."""
    from torchvision.transforms import _presets

    if video:
        return _presets.VideoClassification(crop_size=(112, 112), resize_size=(128, 171))
    return _presets.ImageClassification(crop_size=224, resize_size=256)


class FeatureExtractor:
    """Embed sampled video frames with a torchvision backbone whose classifier head is removed.

    ``backbone``: a torchvision classification or video model name (``resnet18``, ``r3d_18``).
    ``weights``: ``None`` (random init), a weights enum name (``"DEFAULT"``,
    ``"IMAGENET1K_V2"``; downloaded by torchvision into its cache if absent) or the path of a
    local ``state_dict`` file (``torch.save(model.state_dict(), path)``, head optional).
    ``device``: where the model runs. ``bf16``: run under bfloat16 autocast (features are returned
    as float32). ``batch_size``: frames (image models) or clips (video models) per forward pass.
    ``clip_len``: frames per clip for video models (see the module docstring).
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        weights: str | os.PathLike | None = None,
        device: str | torch.device = "cpu",
        bf16: bool = False,
        batch_size: int = 32,
        clip_len: int = 16,
    ) -> None:
        if backbone not in backbone_names():
            raise FeatureModelError(
                f"unknown backbone {backbone!r}; use a torchvision classifier such as resnet18, "
                f"resnet50, efficientnet_b0, vit_b_16 or a video model such as r3d_18 "
                f"(all: {', '.join(backbone_names())})"
            )
        self.backbone = backbone
        self.weights = None if weights is None else str(weights)
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise FeatureModelError(f"device {device!r} asked for, but CUDA is not available")
        self.bf16 = bf16
        self.batch_size = batch_size
        self.clip_len = clip_len
        self.is_video = is_video_model(backbone)
        local = self.weights is not None and (
            os.path.isfile(self.weights)
            or os.path.sep in self.weights
            or self.weights.endswith((".pt", ".pth", ".bin"))
        )
        if local and not os.path.isfile(self.weights):
            raise FeatureModelError(f"weights file {self.weights} not found")
        pretrained = None if local or self.weights is None else self._weights_entry(self.weights)
        entry = pretrained or self._weights_entry(None)  # DEFAULT's preprocessing, not its weights
        self.transform = entry.transforms() if entry else _default_transform(self.is_video)
        try:
            with torch.random.fork_rng():  # random weights (weights=None) are the same each time
                torch.manual_seed(0)
                model = torchvision.models.get_model(backbone, weights=pretrained)
        except OSError as err:  # no network, no cached file (URLError is an OSError)
            raise FeatureModelError(
                f"cannot fetch {backbone} weights {self.weights}: {_one_line(err)}; "
                "pass the path of a local state_dict file instead"
            ) from err
        head_path, self.dim = _remove_head(model, backbone)
        if local:
            _load_state_dict(model, self.weights, head_path)
        self.model = model.eval().to(self.device)
        log.info("backbone %s (weights: %s), D=%d", backbone, self.weights or "random", self.dim)

    def _weights_entry(self, name: str | None):
        """The torchvision weights enum entry for ``name`` (``None``: DEFAULT, for transforms)."""
        try:
            enum = torchvision.models.get_model_weights(self.backbone)
        except ValueError:
            if name is not None:
                raise FeatureModelError(f"{self.backbone} has no pretrained weights") from None
            return None
        try:
            return enum.verify(name) if name is not None else enum.DEFAULT
        except (ValueError, KeyError, AttributeError):
            if name is None:
                return None
            raise FeatureModelError(
                f"unknown weights {name!r} for {self.backbone}: give None, DEFAULT, a weights "
                f"name ({', '.join(w.name for w in enum)}) or the path of a state_dict file"
            ) from None

    def describe(self) -> dict[str, str | int]:
        """What produced the features (stored with them, checked on resume)."""
        return {
            "backbone": self.backbone,
            "weights": self.weights or "none",
            "dim": self.dim,
            "clip_len": self.clip_len if self.is_video else 1,
        }

    @torch.inference_mode()
    def __call__(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Features ``[T, D]`` (float32, CPU) of uint8 RGB frames ``[T, H, W, 3]``."""
        frames = torch.as_tensor(frames)
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"frames must be [T, H, W, 3], got {tuple(frames.shape)}")
        frames = frames.permute(0, 3, 1, 2)  # (T, 3, H, W)
        if self.is_video:
            return self._clips(frames)
        out = []
        for chunk in frames.split(self.batch_size):
            x = self.transform(chunk.to(self.device, non_blocking=True).contiguous())
            out.append(self._forward(x))
        return torch.cat(out)

    def _clips(self, frames: torch.Tensor) -> torch.Tensor:
        num = frames.shape[0]
        x = self.transform(frames.to(self.device).contiguous().unsqueeze(0))[0]  # (C, T, h, w)
        offsets = torch.arange(self.clip_len) - self.clip_len // 2
        index = (torch.arange(num)[:, None] + offsets).clamp(0, num - 1)  # (T, clip_len)
        out = []
        for rows in index.split(self.batch_size):
            clips = x[:, rows.to(x.device)].permute(1, 0, 2, 3, 4)  # (B, C, clip_len, h, w)
            out.append(self._forward(clips))
        return torch.cat(out)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            y = self.model(x)
        return y.float().cpu()
