"""The ``video`` renderer: draw scene graphs as frames and write them as real ``.mp4`` files.

The picture is a fixed stage, so that every concept has one look a backbone can learn:

- **objects**: each object class has its own place (a grid over the upper part of the frame),
  colour and shape (square, disc or diamond); it is drawn while visible;
- **the person**: a white square at the bottom centre;
- **relations**: a thin grey line from the person to the object, with a small square in the
  relation's colour at a relation-specific point along it;
- **actions**: up to two bands at the bottom (one per concurrent action), in the action's
  colour, carrying a row of six blocks that spell the action's index in binary.

Frames are drawn at the requested ``fps`` (each shows the scene-graph frame under way at its time)
and ``size``, and written as H.264 with :func:`stair.data.video.writer.write_mp4` (atomic).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stair.data.synth.vocab import WorldVocabulary
from stair.data.video.writer import write_mp4
from stair.programs import SceneGraph


@dataclass(frozen=True)
class VideoRenderConfig:
    """Frame size (height, width) and frame rate of the written videos."""

    size: tuple[int, int] = (128, 128)
    fps: float | None = None  #: None: the scene graph's own fps

    def __post_init__(self) -> None:
        if min(self.size) < 32:
            raise ValueError(f"videos need at least 32x32 pixels, got {self.size}")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")


def _colours(n: int, value: float = 0.95) -> np.ndarray:
    """``n`` well-separated RGB colours (uint8 ``[n, 3]``)."""
    golden = 0.618033988749895
    rgb = [colorsys.hsv_to_rgb((i * golden) % 1.0, 0.85, value) for i in range(n)]
    return (np.array(rgb) * 255).astype(np.uint8)


class Stage:
    """Pre-computed layout of one vocabulary at one frame size."""

    def __init__(self, vocab: WorldVocabulary, size: tuple[int, int]) -> None:
        self.vocab = vocab
        self.h, self.w = size
        n = len(vocab.objects)
        cols = int(np.ceil(np.sqrt(n)))
        rows = int(np.ceil(n / cols))
        top = int(self.h * 0.68)
        cell_h, cell_w = top / rows, self.w / cols
        self.radius = max(2, int(min(cell_h, cell_w) * 0.3))
        self.centre = {
            o: (int((i // cols + 0.5) * cell_h), int((i % cols + 0.5) * cell_w))
            for i, o in enumerate(vocab.objects)
        }
        self.obj_colour = dict(zip(vocab.objects, _colours(n)))
        self.rel_colour = dict(zip(vocab.relations, _colours(len(vocab.relations), 0.7)[::-1]))
        self.act_colour = dict(zip((a.phrase for a in vocab.actions), _colours(len(vocab.actions))))
        self.act_index = {a.phrase: i for i, a in enumerate(vocab.actions)}
        yy, xx = np.mgrid[-self.radius : self.radius + 1, -self.radius : self.radius + 1]
        shapes = [
            np.ones_like(yy, dtype=bool),
            yy**2 + xx**2 <= self.radius**2,
            np.abs(yy) + np.abs(xx) <= self.radius,
        ]
        self.shape = {o: shapes[i % 3] for i, o in enumerate(vocab.objects)}
        self.person = (int(self.h * 0.8), self.w // 2)
        self.band_h = max(2, int(self.h * 0.07))

    def _blit(self, img: np.ndarray, centre: tuple[int, int], mask: np.ndarray, colour) -> None:
        r = mask.shape[0] // 2
        y0, x0 = centre[0] - r, centre[1] - r
        ys, xs = (
            slice(max(0, y0), min(self.h, y0 + mask.shape[0])),
            slice(max(0, x0), min(self.w, x0 + mask.shape[1])),
        )
        sub = mask[ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
        img[ys, xs][sub] = colour

    def _line(self, img: np.ndarray, a: tuple[int, int], b: tuple[int, int], colour) -> None:
        steps = max(abs(b[0] - a[0]), abs(b[1] - a[1])) + 1
        ys = np.linspace(a[0], b[0], steps).round().astype(int).clip(0, self.h - 1)
        xs = np.linspace(a[1], b[1], steps).round().astype(int).clip(0, self.w - 1)
        img[ys, xs] = colour

    def draw(self, graph: SceneGraph, f: int) -> np.ndarray:
        """Frame ``f`` of ``graph`` as uint8 ``[H, W, 3]``."""
        img = np.full((self.h, self.w, 3), 24, dtype=np.uint8)
        frame = graph.frames[f]
        for o in sorted(frame.objects):
            self._blit(img, self.centre[o], self.shape[o], self.obj_colour[o])
        py, px = self.person
        marker = np.ones((5, 5), dtype=bool)
        relations = self.vocab.relations
        for r, o in sorted(frame.relations):
            oy, ox = self.centre[o]
            self._line(img, (py, px), (oy, ox), 110)
            t = (relations.index(r) + 1) / (len(relations) + 1)
            at = (int(py + t * (oy - py)), int(px + t * (ox - px)))
            self._blit(img, at, marker, self.rel_colour[r])
        body = np.ones((2 * max(2, self.w // 40) + 1,) * 2, dtype=bool)
        self._blit(img, (py, px), body, 255)
        for slot, act in enumerate(a for a in graph.actions if a.start <= f < a.end):
            if slot > 1:
                break
            y1 = self.h - slot * (self.band_h + 1)
            y0 = y1 - self.band_h
            img[y0:y1, :] = self.act_colour[act.phrase]
            index, block = self.act_index[act.phrase], max(2, self.w // 12)
            for bit in range(6):
                if index >> bit & 1:
                    x0 = self.w - (bit + 1) * (block + 1)
                    img[y0 + 1 : y1 - 1, x0 : x0 + block] = 255
        return img

    def frames(self, graph: SceneGraph, fps: float | None = None) -> np.ndarray:
        """The whole video as uint8 ``[N, H, W, 3]`` at ``fps`` (default: the graph's)."""
        fps = fps or graph.fps
        count = max(1, round(graph.num_frames / graph.fps * fps))
        source = [min(graph.num_frames - 1, int(j / fps * graph.fps + 1e-9)) for j in range(count)]
        drawn = {f: self.draw(graph, f) for f in sorted(set(source))}
        return np.stack([drawn[f] for f in source])


def render_video(
    graph: SceneGraph, stage: Stage, path: str | Path, config: VideoRenderConfig
) -> Path:
    """Draw ``graph`` and write it to ``path`` as H.264 ``.mp4``; returns the path."""
    fps = config.fps or graph.fps
    return write_mp4(path, stage.frames(graph, fps), fps)
