#!/usr/bin/env python
"""Make the shipped tracker weights, pose_tf/resources/tracker_bonn.yaml.

Fits `pose-tf fit-tracker` on the 30 *train* videos of the Bonn Multi-Person PoseTrack
dataset (the split defined by annolist/train/annolist.mat), with detector noise at all
three levels, seed 0. The 30 test videos stay unseen (bench/tracking.py scores on them).

    python script/fit_default_tracker.py [--data ../shared/data/posetrack_bonn]
"""
import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pose_tf.cli import main  # noqa: E402


def run(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "posetrack_bonn"))
    ap.add_argument("--out", default=str(ROOT / "pose_tf" / "resources" / "tracker_bonn.yaml"))
    args = ap.parse_args(argv)
    data = Path(args.data)
    return main(["fit-tracker", str(data / "tracks_all_videos.json"), "--split", "train",
                 "--annolist", str(data / "annolist"), "--levels", "low,medium,high",
                 "--seed", "0", "--out", args.out])


if __name__ == "__main__":
    sys.exit(run())
