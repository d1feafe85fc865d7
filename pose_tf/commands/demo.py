"""`pose-tf demo`: multi-person poses on an image, a folder, a video or a webcam."""
from pathlib import Path

from ._model_args import add_model_arguments, check_output_folder, estimator_from_args, whole_number
from ._timings import FrameTimings
from ._video_args import add_video_arguments, processing_info, run_video

NAME = "demo"
HELP = "draw multi-person poses on an image, folder, video file or webcam; write JSON"


def add_arguments(p):
    p.add_argument("input", nargs="?", default=None,
                   help="image, folder of images, video file, or webcam index (e.g. 0); "
                        "default: the demo image that ships with the project")
    add_model_arguments(p)
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--max-frames", type=whole_number(0, " (0: all)"), default=0,
                   help="stop a video/webcam after N frames (default 0: all)")
    add_video_arguments(p)


def people_json(poses):
    """COCO-style keypoints per person (and its track id in a video), as written next to
    every drawn output."""
    return [{"keypoints": [round(float(v), 2) for v in p.keypoints.reshape(-1)],
             "score": round(p.score, 4), "bbox": [round(float(v), 1) for v in p.bbox()],
             **({} if p.track_id is None else {"track_id": int(p.track_id)})}
            for p in poses]


def default_input() -> str:
    """The shipped demo image (package data: pose_tf/resources/demo.jpg)."""
    from .. import resources
    from ..core.errors import PoseTfError

    demo_image = resources.path("demo.jpg")
    if not demo_image.is_file():
        raise PoseTfError(f"no demo image ships ({demo_image} missing): pass an INPUT")
    return str(demo_image)


def run(args):
    from ..io.images import input_kind

    source = args.input or default_input()
    kind = input_kind(source)
    check_output_folder(args.out)
    estimator = estimator_from_args(args)
    out = Path(args.out)
    draw = _video if kind in ("video", "webcam") else _images
    stats, note = draw(source, kind, estimator, out, args)
    print("\n".join(line for line in (stats.summary(), note, f"wrote {out}/") if line))
    return 0


def _images(source, kind, estimator, out: Path, args):
    """An image (unreadable: an error) or a folder (unreadable ones skipped, counted)."""
    from tqdm import tqdm

    from ..io.files import write_json_atomic
    from ..io.images import ImageFrames, list_images, read_image, write_image
    from ..viz import draw_poses

    if kind == "image":
        frames = [(Path(source), read_image(source))]
    else:
        frames = ImageFrames(list_images(source), source)
    stats = FrameTimings(estimator.precision)
    for path, image in tqdm(frames, desc="demo", unit="img", disable=len(frames) == 1):
        if image is None:
            continue
        poses = estimator(image)
        stats.add(estimator.timings, len(poses))
        write_image(out / f"{path.stem}.jpg", draw_poses(image, poses))
        write_json_atomic(out / f"{path.stem}.json", {"image": str(path), "people": people_json(poses)})
    return stats, "" if kind == "image" else frames.summary()


def _video(source, kind, estimator, out: Path, args):
    """A video file or a webcam: one drawn .mp4 (complete or absent) and one JSON. People
    are tracked so that their keypoints can be smoothed (`--no-smooth` to see them raw)."""
    from ..io.files import write_json_atomic
    from ..io.video import VideoSource, VideoWriter
    from ..tracking.tracker import PoseTracker, load_tracker_config
    from ..viz import draw_poses

    video = VideoSource(source, args.max_frames)
    stem = f"webcam{source}" if kind == "webcam" else Path(source).stem
    stats, frames = FrameTimings(estimator.precision), []
    tracker = PoseTracker(load_tracker_config(None))
    # The writer opens on the first frame; leaving the block early removes its temp file.
    with VideoWriter(out / f"{stem}.mp4", video.fps) as writer:
        for item in run_video(enumerate(video), estimator, args, video.fps, stats, writer, draw_poses,
                              tracker, len(video) or None, desc="demo"):
            frames.append({"frame": item.key, "people": people_json(item.poses)})
    write_json_atomic(out / f"{stem}.json", {"video": str(source), "fps": video.fps,
                                             "processing": processing_info(args, estimator.precision),
                                             "frames": frames})
    return stats, ""
