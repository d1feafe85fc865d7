"""`pose-tf convert SOURCE --annotations A --images DIR --out DIR`: dataset -> TFRecords."""
from __future__ import annotations

import os
import sys

NAME = "convert"
HELP = ("convert a dataset (coco, mpii, posetrack, crowdpose, aic, ochuman, panoptic, ntu, "
        "unlabelled: images without keypoint labels, for a teacher) into sharded TFRecords of "
        "the pose-tf schema, optionally with flipped/rotated variants")


def add_arguments(parser):
    from ..data.sources import SOURCE_NAMES

    parser.add_argument("source", metavar="SOURCE", choices=SOURCE_NAMES,
                        help=f"dataset format: {', '.join(SOURCE_NAMES)}")
    parser.add_argument("--annotations", required=True, metavar="FILE_OR_DIR",
                        help="annotation file, or folder (PoseTrack sequences, NTU .skeleton "
                             "files, a Panoptic sequence); unlabelled: a COCO detection file "
                             "(person boxes) or a folder of images and videos")
    parser.add_argument("--images", required=True, metavar="DIR",
                        help="folder the annotation's image names are relative to")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder for shards")
    parser.add_argument("--prefix", default=None,
                        help="shard name prefix (default: SOURCE-<images folder name>)")
    parser.add_argument("--num-shards", type=int, default=0, metavar="N",
                        help="number of shards (default: one per 1000 images)")
    parser.add_argument("--shard-index", type=int, default=None, metavar="I",
                        help="convert only shard I (run the others elsewhere)")
    parser.add_argument("--variants", default="", metavar="LIST",
                        help="extra offline variants, comma separated: flip,rot90,rot180,rot270 "
                             "(the original is always written)")
    parser.add_argument("--workers", type=int, default=min(4, os.cpu_count() or 1), metavar="K",
                        help="worker processes (default: min(4, cores))")
    parser.add_argument("--frame-step", type=int, default=1, metavar="S",
                        help="video sources (panoptic, ntu, videos of unlabelled): keep every "
                             "S-th frame")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args) -> int:
    from ..core.errors import PoseTfError
    from ..data.convert import ConvertOptions, convert, parse_variants

    if args.num_shards < 0:
        raise PoseTfError("--num-shards must be >= 1 (or 0 for automatic)")
    if args.shard_index is not None and args.num_shards == 0:
        raise PoseTfError("--shard-index needs an explicit --num-shards, so that every "
                          "machine cuts the data the same way")
    opts = ConvertOptions(
        source=args.source, annotations=args.annotations, images=args.images, out=args.out,
        prefix=args.prefix, num_shards=args.num_shards, shard_index=args.shard_index,
        variants=parse_variants(args.variants), workers=args.workers,
        frame_step=args.frame_step, progress=not args.no_progress)
    summary = convert(opts, report=lambda line: print(f"skipped: {line}", file=sys.stderr))
    print(f"pose-tf convert {args.source} -> {args.out}")
    for line in summary.lines():
        print("  " + line)
    if summary.images_listed and not summary.images_written and summary.shards_written:
        return 1
    return 0
