"""Readers for AGQA's pre-extracted video features: HCRN-style ResNet+ResNeXt and I3D.

Both give ``get(video_id) -> float32 [T, D]`` by Charades id (``"YSKX3"``), like
:class:`stair.data.video.store.FeatureStore` does for features extracted here, so a DataModule
can take any of the three. A video without features raises
:class:`~stair.data.video.store.MissingFeaturesError` naming the id and the file; a file that
does not have the documented layout raises :class:`~stair.data.agqa.files.DatasetFormatError`.

* :class:`RXFeatures`: HDF5 with ``ids`` (numeric video ids), ``resnet_features``
  ``[N, 8 clips, F frames, 2048]`` and ``resnext_features`` ``[N, 8, 2048]``, in one file or in
  two (HCRN writes an "appearance" and a "motion" file, each with its own ``ids``), plus
  ``strID2numID.json`` mapping Charades id -> numeric id. A video's features are the ResNet
  features averaged over the frames of each clip, concatenated with the ResNeXt ones:
  ``[8, 4096]``.
* :class:`I3DFeatures`: a folder with one ``<video_id>.npy`` ``[n, 1024]`` per video; by default
  every second row is kept, up to 64 (what the STAIR reference implementation did).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from stair.data.video.store import MissingFeaturesError
from stair.errors import DatasetFormatError

__all__ = ["I3DFeatures", "RXFeatures"]


def _load_id_map(path: Path) -> dict[str, int]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DatasetFormatError(path, "", f"cannot read the id map: {err}") from None
    if not isinstance(raw, dict):
        raise DatasetFormatError(path, "", "expected an object mapping Charades id -> numeric id")
    try:
        return {str(k): int(v) for k, v in raw.items()}
    except (TypeError, ValueError) as err:
        raise DatasetFormatError(path, "", f"numeric ids must be integers: {err}") from None


class _H5Table:
    """One HDF5 file of per-video rows indexed by its ``ids`` dataset (opened once per process)."""

    def __init__(self, path: Path, dataset: str, ndim: int) -> None:
        self.path, self.dataset = path, dataset
        self._file, self._pid = None, -1
        f = self.file()
        for name in ("ids", dataset):
            if name not in f:
                raise DatasetFormatError(path, "", f"no dataset {name!r} (has {sorted(f)})")
        ids, data = f["ids"], f[dataset]
        if data.ndim != ndim or len(ids) != len(data):
            raise DatasetFormatError(
                path, dataset, f"shape {data.shape} with {len(ids)} ids; expected {ndim} axes"
            )
        self.row = {int(v): i for i, v in enumerate(np.asarray(ids[()]).reshape(-1))}

    def __getstate__(self) -> dict:  # picklable for DataLoader workers (spawn)
        return {**self.__dict__, "_file": None, "_pid": -1}

    def file(self) -> h5py.File:
        if self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as err:
                raise DatasetFormatError(self.path, "", f"cannot open as HDF5: {err}") from None
            self._pid = os.getpid()
        return self._file

    def get(self, num_id: int, video_id: str) -> np.ndarray:
        if num_id not in self.row:
            raise MissingFeaturesError(video_id, self.path)
        return np.asarray(self.file()[self.dataset][self.row[num_id]], dtype=np.float32)


class RXFeatures:
    """ResNet + ResNeXt clip features (HCRN layout) by Charades id, as ``float32 [8, 4096]``.

    ``features``: the HDF5 file with ``resnet_features`` (and ``resnext_features`` unless
    ``motion`` is given). ``id_map``: ``strID2numID.json``. ``motion``: a separate HDF5 file with
    ``resnext_features`` and its own ``ids``.
    """

    def __init__(
        self,
        features: str | os.PathLike,
        id_map: str | os.PathLike,
        motion: str | os.PathLike | None = None,
    ) -> None:
        self.id_map_path = Path(id_map)
        self.num_id = _load_id_map(self.id_map_path)
        self.resnet = _H5Table(Path(features), "resnet_features", 4)
        self.resnext = _H5Table(Path(motion or features), "resnext_features", 3)

    def ids(self) -> list[str]:
        """Charades ids with both kinds of features, sorted."""
        return sorted(
            v for v, n in self.num_id.items() if n in self.resnet.row and n in self.resnext.row
        )

    def __contains__(self, video_id: object) -> bool:
        n = self.num_id.get(video_id) if isinstance(video_id, str) else None
        return n is not None and n in self.resnet.row and n in self.resnext.row

    def get(self, video_id: str) -> np.ndarray:
        """``float32 [clips, 4096]``: mean ResNet over each clip's frames ++ ResNeXt."""
        if video_id not in self.num_id:
            raise MissingFeaturesError(video_id, self.id_map_path)
        n = self.num_id[video_id]
        appearance = self.resnet.get(n, video_id).mean(axis=1)  # (clips, 2048)
        motion = self.resnext.get(n, video_id)  # (clips, 2048)
        if appearance.shape[0] != motion.shape[0]:
            raise DatasetFormatError(
                self.resnext.path,
                f"video {video_id!r}",
                f"{motion.shape[0]} ResNeXt clips vs {appearance.shape[0]} ResNet clips",
            )
        return np.concatenate([appearance, motion], axis=1)

    __getitem__ = get


class I3DFeatures:
    """Per-video I3D features from ``<folder>/<video_id>.npy`` (``[n, 1024]``).

    ``subsample``: keep every second row, then at most ``max_rows`` rows (the reference's
    setting); ``False`` returns all rows.
    """

    def __init__(
        self, folder: str | os.PathLike, subsample: bool = True, max_rows: int = 64
    ) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise DatasetFormatError(self.folder, "", "not a folder of I3D .npy files")
        self.subsample, self.max_rows = subsample, max_rows

    def ids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.npy"))

    def __contains__(self, video_id: object) -> bool:
        return (self.folder / f"{video_id}.npy").is_file()

    def get(self, video_id: str) -> np.ndarray:
        """``float32 [T, 1024]`` (``T <= max_rows`` when subsampling)."""
        path = self.folder / f"{video_id}.npy"
        if not path.is_file():
            raise MissingFeaturesError(video_id, path)
        try:
            data = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as err:
            raise DatasetFormatError(path, "", f"cannot read as .npy: {err}") from None
        if data.ndim != 2 or len(data) == 0:
            raise DatasetFormatError(path, "", f"shape {data.shape}, expected [n, 1024]")
        if self.subsample:
            data = data[::2][: self.max_rows]
        return np.asarray(data, dtype=np.float32)

    __getitem__ = get
