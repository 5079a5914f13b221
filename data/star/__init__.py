"""STAR (multiple choice, 4 options, situation graphs): its JSON files read
(:mod:`~stair.data.star.files`), its class lists (:mod:`~stair.data.star.classes`), its
situations converted to STAIR scene graphs (:mod:`~stair.data.star.situations`), all written as a
STAIR dataset folder (:mod:`~stair.data.star.prepare`, ``stair prepare star``); test predictions
as the evaluation server's JSON (:mod:`~stair.data.star.submission`)."""
