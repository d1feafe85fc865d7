"""Options of the verbs that run the video path (track, demo on a video): temporal
aggregation, keypoint smoothing, pipelining; and the run itself (pose_tf/video)."""
from __future__ import annotations

from ._model_args import whole_number


def add_video_arguments(parser) -> None:
    g = parser.add_argument_group("video")
    g.add_argument("--temporal", type=whole_number(0, " (0: off)"), default=0, metavar="N",
                   help="aggregate each frame's maps with those of N neighbouring frames, warped "
                        "by optical flow, before decoding (default 0: off)")
    g.add_argument("--temporal-mode", choices=("online", "offline"), default="online",
                   help="online: past frames only, no added latency (default); offline: N frames "
                        "on both sides (output lags N frames)")
    g.add_argument("--no-smooth", dest="smooth", action="store_false",
                   help="do not smooth tracked keypoints (One Euro filter, on by default)")
    g.add_argument("--no-pipeline", dest="pipeline", action="store_false",
                   help="run reading, network, post-processing and drawing one after another "
                        "instead of overlapped in threads (same output)")


def temporal_settings(args):
    from ..inference.temporal import TemporalSettings

    return TemporalSettings(window=args.temporal, mode=args.temporal_mode) if args.temporal else None


def processing_info(args, precision: str) -> dict:
    """What was applied to the poses, written into the output JSON."""
    info = {"precision": precision, "smoothing": None, "temporal": None}
    if args.smooth:
        from ..tracking.smoothing import OneEuroSettings
        info["smoothing"] = {"filter": "one_euro", **vars(OneEuroSettings())}
    if args.temporal:
        info["temporal"] = {"window": args.temporal, "mode": args.temporal_mode, "flow": "opencv_dis"}
    return info


def run_video(frames, estimator, args, fps: float, timings, writer=None, draw_poses=None,
              tracker=None, total=None, desc="video"):
    """Run (key, RGB image or None) `frames` through the video path; yields `VideoFrame`s
    (key, poses) in order and fills `timings` (a FrameTimings) at the end."""
    from tqdm import tqdm

    from ..tracking.smoothing import KeypointSmoother
    from ..video.pipeline import StageTimes, VideoFrame, run_pipelined, run_sequential
    from ..video.stages import video_stages

    times = StageTimes()
    smoother = KeypointSmoother(fps) if args.smooth and tracker is not None else None
    stages = video_stages(estimator, times, tracker=tracker, smoother=smoother,
                          temporal_settings=temporal_settings(args), writer=writer, draw_poses=draw_poses)
    source = (VideoFrame(key, image) for key, image in frames)
    run = run_pipelined if args.pipeline else run_sequential
    count = people = 0
    for item in tqdm(run(source, stages), desc=desc, unit="frame", total=total):
        count, people = count + 1, people + len(item.poses)
        yield item
    workers = stages[0].workers if args.pipeline else 1    # the network stage (video_stages)
    timings.add_video(times.ms, count, people, "pipelined" if args.pipeline else "sequential",
                      at_once={"network": workers})
