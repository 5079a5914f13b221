"""STAIR: auditable video question answering with neural module networks.

The package is one namespace over four folders: ``stair`` (core: values, executor, model, CLI),
``stair.modules`` (neural modules), ``stair.programs`` (program language) and ``stair.data``
(videos, features, datasets). Importing ``stair`` itself is cheap: no torch is loaded here.
"""

__version__ = "0.1.0"


def load(*args, **kwargs):
    """A trained model ready to answer and explain: see :func:`stair.api.load`."""
    from stair.api import load as _load

    return _load(*args, **kwargs)
