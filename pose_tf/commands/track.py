"""`pose-tf track VIDEO|FRAMES_DIR [--model M] [--layout L] --out DIR`: poses + identities.

Runs the video path (pose_tf/video: network, optional temporal aggregation of maps, decoding,
the pairwise tracker of pose_tf/tracking/tracker.py, One Euro smoothing of the tracked
keypoints, drawing; pipelined in threads unless --no-pipeline) and writes into DIR:
- <name>.mp4   the drawn video, one stable colour and "id N" label per person;
- <name>.json  the tracks as a PoseTrack 2018 file (poseval reads it; joints in the
               PoseTrack 2018 order, head_bottom/head_top absent: COCO networks have none),
               its "info" saying what was applied (precision, smoothing, temporal).
Prints an FPS summary split into network, post-processing and tracking. A frame of a
folder that does not decode is skipped with a warning naming it (counted in the summary):
it stays in the JSON with nobody in it, and is left out of the video.
"""
from __future__ import annotations

from pathlib import Path

from ._model_args import (add_model_arguments, check_output_folder, estimator_from_args,
                          positive_number, whole_number)
from ._timings import FrameTimings
from ._video_args import add_video_arguments, processing_info, run_video

NAME = "track"
HELP = "track people through a video or a folder of frames; write drawn video + PoseTrack JSON"


def add_arguments(p):
    p.add_argument("input", help="video file, folder of frames (sorted by name) or webcam index")
    add_model_arguments(p)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--tracker", default=None, help="tracker YAML (default: the shipped Bonn weights)")
    p.add_argument("--fps", type=positive_number, default=25.0,
                   help="frame rate of the written video for a folder input")
    p.add_argument("--max-frames", type=whole_number(0, " (0: all)"), default=0,
                   help="stop after N frames (0: all)")
    p.add_argument("--no-video", action="store_true", help="write only the PoseTrack JSON")
    add_video_arguments(p)


def frames_of(source: str, max_frames: int):
    """(frames, count or None, frame rate or None, name); `frames` iterates (file_name,
    RGB frame or None) and has a `summary()` line for the run's report.

    File names are "<sequence>/<frame>.jpg": poseval derives the sequence from the folder
    part (e.g. "000342_mpii_test/000000.jpg" for a PoseTrack 2018 frames folder). A frame
    of a folder that does not decode comes as None (see `ImageFrames`): it keeps its place
    in the sequence, with nobody in it, so the JSON still pairs with the GT frame by frame."""
    from ..io.images import ImageFrames, input_kind, list_images
    from ..io.video import VideoSource

    kind = input_kind(source)
    if kind == "folder":
        name = Path(source).resolve().name
        images = ImageFrames(list_images(source)[: max_frames or None], source)
        return _Named(images, lambda path: f"{name}/{path.name}", images.summary), len(images), None, name
    if kind == "image":
        from ..core.errors import PoseTfError
        raise PoseTfError(f"{source}: track needs a video or a folder of frames, not a single image")
    video = VideoSource(source, max_frames)
    name = f"webcam{source}" if kind == "webcam" else Path(source).stem
    return _Named(enumerate(video), lambda i: f"{name}/{i:06d}.jpg"), len(video) or None, video.fps, name


class _Named:
    """(key, frame) pairs -> (file name, frame), with the reader's `summary` line."""

    def __init__(self, pairs, file_name, summary=lambda: ""):
        self._pairs, self._file_name, self.summary = pairs, file_name, summary

    def __iter__(self):
        return ((self._file_name(key), frame) for key, frame in self._pairs)


def run(args) -> int:
    from ..io.posetrack import sequence_from_poses, write_posetrack18
    from ..io.video import VideoWriter
    from ..tracking.tracker import PoseTracker, load_tracker_config
    from ..viz import draw_poses

    check_output_folder(args.out)
    tracker = PoseTracker(load_tracker_config(args.tracker))
    estimator = estimator_from_args(args)
    frames, total, fps, name = frames_of(args.input, args.max_frames)
    fps = fps or args.fps
    out = Path(args.out)
    timings = FrameTimings(estimator.precision)
    tracked, file_names = [], []
    draw = lambda image, poses: draw_poses(image, poses, color_by_track=True)  # noqa: E731
    # The writer opens on the first frame; leaving the block early removes its temp file.
    with VideoWriter(out / f"{name}.mp4", fps) as writer:
        for item in run_video(frames, estimator, args, fps, timings, None if args.no_video else writer,
                              draw, tracker, total, desc="track"):
            file_names.append(item.key)
            tracked.append(item.poses)
    json_path = out / f"{name}.json"
    write_posetrack18(sequence_from_poses(name, tracked, file_names), json_path,
                      info={"pose_tf": processing_info(args, estimator.precision)})
    ids = {p.track_id for poses in tracked for p in poses}
    print("\n".join(line for line in (timings.summary(), frames.summary()) if line))
    print(f"{len(ids)} track ids; wrote {json_path}" + ("" if args.no_video else f" and {out / name}.mp4"))
    return 0
