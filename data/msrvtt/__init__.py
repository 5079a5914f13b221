"""MSRVTT-QA (open-ended, one-word answers): its JSON files read (:mod:`~stair.data.msrvtt.files`)
and written as a STAIR dataset folder (:mod:`~stair.data.msrvtt.prepare`,
``stair prepare msrvtt``)."""
