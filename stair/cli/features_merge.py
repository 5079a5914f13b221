"""``stair features-merge``: join the shard stores of a sharded ``stair features`` run into one.

Example (after ``stair features ... --out feats.h5`` ran as 4 shards, see ``stair features``)::

    stair features-merge --out feats.h5 --shards 4
    stair features-merge --out feats.h5 feats.shard-0-of-4.h5 feats.shard-1-of-4.h5 ...

``--shards N`` takes ``<out stem>.shard-<i>-of-N.h5`` for every ``i`` below ``N`` and fails,
naming the shard, if one is missing. All shards must be finished and built with the same
settings (backbone, weights, dim, sampling), and a video found in two shards must have the same
features in both; anything else fails with an error naming the shard. The merged store is
written to a temporary file and renamed into place, and the shards' skipped reports are joined
into ``<out stem>.skipped.jsonl``. An existing ``--out`` is extended, so rerunning the merge
(after a crash, or once more shards are done) gives the same store. The shards are kept. The job
itself is :func:`stair.data.video.shards.merge_shards`.
"""

from __future__ import annotations

import argparse

from stair.errors import StairError

HELP = "Merge the shard stores of a sharded `stair features` run into one feature store."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="the merged HDF5 feature store")
    parser.add_argument(
        "shards", nargs="*", metavar="SHARD.h5", help="the shard stores to merge (or --shards N)"
    )
    parser.add_argument(
        "--shards",
        dest="count",
        type=int,
        default=None,
        metavar="N",
        help="merge all N shards of --out: <out stem>.shard-<i>-of-N.h5",
    )


def run(args: argparse.Namespace) -> int:
    from stair.data.video.shards import merge_shards, shard_paths

    if args.shards and args.count is not None:
        raise StairError("give either the shard stores or --shards N, not both")
    if args.count is not None:
        shards = shard_paths(args.out, args.count)
    elif args.shards:
        shards = args.shards
    else:
        raise StairError("give the shard stores to merge, or --shards N")
    summary = merge_shards(args.out, shards)
    print(
        f"stair features-merge: {summary.videos} videos in {args.out} from {summary.shards} "
        f"shards ({summary.added} added, {summary.already} already there), "
        f"{summary.skipped} skipped" + (f" (see {summary.report})" if summary.skipped else "")
    )
    return 0
