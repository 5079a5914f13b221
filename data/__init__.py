"""Data: video decoding, feature extraction and store, the synthetic benchmark, dataset readers.

Submodules are imported where they are used (``from stair.data.video.reader import read_video``), so
that importing ``stair.data`` itself stays cheap.
"""
