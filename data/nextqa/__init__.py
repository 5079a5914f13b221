"""NExT-QA (multiple choice, 5 options): its CSV files read (:mod:`~stair.data.nextqa.files`) and
written as a STAIR dataset folder (:mod:`~stair.data.nextqa.prepare`, ``stair prepare nextqa``)."""
