"""Fixtures for STAIR's tests and benchmarks, not for users: nothing in the library imports them.

- :mod:`stair.testing.programs`: seeded random module trees of every template shape of the
  synthetic benchmark (drafted by its question templates, never executed);
- :mod:`stair.testing.batch`: random but correctly typed batches
  (:class:`~stair.engine.batch.QABatch`) over such trees, and vocabularies covering their phrases.

They build realistic inputs without a dataset on disk, seeded, so that tests and ``bench/``
measure the model on the shapes it meets in training.
"""
