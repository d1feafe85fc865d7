"""`pose-tf fit-tracker TRACKS.json --out tracker.yaml`: fit the tracker's pairwise model.

TRACKS may be the Bonn `tracks_all_videos.json`, a PoseTrack 2018 or 2017 JSON file, or a
folder of them. The annotated poses are turned into noisy detections (seeded detector-noise
model, all chosen levels), the logistic model is fit on every (track, detection) pair an
online tracker would score, and the gate is chosen by identity F1 on the same videos.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

NAME = "fit-tracker"
HELP = "fit the pose tracker's pairwise model from annotated tracks"

log = logging.getLogger(__name__)


def add_arguments(parser):
    parser.add_argument("tracks", help="annotated tracks: Bonn tracks_all_videos.json, PoseTrack JSON file or folder")
    parser.add_argument("--out", required=True, help="tracker YAML to write")
    parser.add_argument("--split", choices=("train", "test", "all"), default="all",
                        help="use only these videos (Bonn: from --annolist or the file's split field)")
    parser.add_argument("--annolist", default=None,
                        help="Bonn annolist folder (train/ and test/annolist.mat) defining the split")
    parser.add_argument("--levels", default="low,medium,high",
                        help="detector-noise levels to fit on (comma separated)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-lost", type=int, default=None, help="frames a lost track is kept")


def select(sequences, split, annolist):
    from ..core.errors import PoseTfError
    from ..io.posetrack import annolist_video_names

    if split == "all":
        return sequences
    if annolist:
        names = set(annolist_video_names(f"{annolist}/{split}/annolist.mat"))
        chosen = [s for s in sequences if s.name in names]
    else:
        if not any(s.split for s in sequences):
            raise PoseTfError("--split needs a Bonn tracks file with split fields, or --annolist")
        chosen = [s for s in sequences if s.split == split]
    if not chosen:
        raise PoseTfError(f"no {split} videos found")
    return chosen


def run(args) -> int:
    from dataclasses import replace

    from tqdm import tqdm

    from ..core.errors import PoseTfError
    from ..io.posetrack import read_sequences
    from ..tracking.fitting import fit_tracker
    from ..tracking.simulator import NOISE_LEVELS
    from ..tracking.tracker import FEATURES, TrackerConfig, save_tracker_config

    levels = [s.strip() for s in args.levels.split(",") if s.strip()]
    unknown = [lv for lv in levels if lv not in NOISE_LEVELS]
    if unknown or not levels:
        raise PoseTfError(f"unknown noise level {unknown[0] if unknown else '(none)'}; "
                          f"known: {', '.join(NOISE_LEVELS)}")
    sequences = select(read_sequences(args.tracks), args.split, args.annolist)
    n = len(FEATURES)
    base = TrackerConfig(list(FEATURES), [0.0] * n, 0.0, [0.0] * n, [1.0] * n)
    if args.max_lost is not None:
        base = replace(base, max_lost_frames=args.max_lost, joint_memory_frames=args.max_lost)
    t0 = time.perf_counter()
    frames = sum(len(s.frames) for s in sequences)
    print(f"fitting on {len(sequences)} sequences ({frames} frames), noise levels {', '.join(levels)}, seed {args.seed}")
    config, report = fit_tracker([s.poses() for s in sequences], [NOISE_LEVELS[lv] for lv in levels],
                                 seed=args.seed, base=base, progress=tqdm)
    config = replace(config, fitted_on=(
        f"{Path(args.tracks).name} ({args.split} split: {len(sequences)} sequences, {frames} frames); "
        f"noise levels {','.join(levels)}; seed {args.seed}"))
    save_tracker_config(config, args.out)
    print(f"{report['pairs']} pairs ({report['positive_pairs']} same-person), "
          f"training accuracy {report['train_accuracy']:.4f}")
    for gate, s in report["gates"].items():
        mark = " <- chosen" if float(gate) == config.min_probability else ""
        print(f"  gate {gate:>5}: IDF1 {s['IDF1']:.4f}  IDSW {s['IDSW']}{mark}")
    print(f"wrote {args.out} ({time.perf_counter() - t0:.0f} s)")
    return 0
