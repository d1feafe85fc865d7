"""`pose-tf demo`: multi-person poses on an image, a folder, a video or a webcam."""
import logging
from pathlib import Path

from ._model_args import add_model_arguments, estimator_from_args
from ._timings import FrameTimings

NAME = "demo"
HELP = "draw multi-person poses on an image, folder, video file or webcam; write JSON"
log = logging.getLogger(__name__)


def add_arguments(p):
    p.add_argument("input", nargs="?", default=None,
                   help="image, folder of images, video file, or webcam index (e.g. 0); "
                        "default: the demo image that ships with the project")
    add_model_arguments(p)
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--max-frames", type=int, default=0, help="stop a video/webcam after N frames")


def people_json(poses):
    """COCO-style keypoints per person, as written next to every drawn output."""
    return [{"keypoints": [round(float(v), 2) for v in p.keypoints.reshape(-1)],
             "score": round(p.score, 4), "bbox": [round(float(v), 1) for v in p.bbox()]}
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
    from tqdm import tqdm

    from ..core.errors import PoseTfError
    from ..io.files import write_json_atomic
    from ..io.images import input_kind, list_images, read_image, write_image
    from ..io.video import VideoSource, VideoWriter
    from ..viz import draw_poses

    source = args.input or default_input()
    kind = input_kind(source)
    estimator = estimator_from_args(args)
    out = Path(args.out)
    stats = FrameTimings()

    if kind in ("image", "folder"):
        files = [Path(source)] if kind == "image" else list_images(source)
        skipped = 0
        for path in tqdm(files, desc="demo", unit="img", disable=len(files) == 1):
            try:
                image = read_image(path)
            except PoseTfError as exc:
                if kind == "image":
                    raise
                log.warning("skipped %s", exc)
                skipped += 1
                continue
            poses = estimator(image)
            stats.add(estimator.timings, len(poses))
            write_image(out / f"{path.stem}.jpg", draw_poses(image, poses))
            write_json_atomic(out / f"{path.stem}.json", {"image": str(path), "people": people_json(poses)})
        if skipped == len(files):
            raise PoseTfError(f"{source}: none of the {len(files)} image(s) could be read")
    else:
        video = VideoSource(source, args.max_frames)
        stem = f"webcam{source}" if kind == "webcam" else Path(source).stem
        frames, writer = [], None
        for i, frame in enumerate(tqdm(video, desc="demo", unit="frame", total=len(video) or None)):
            if writer is None:
                writer = VideoWriter(out / f"{stem}.mp4", video.fps, (frame.shape[1], frame.shape[0]))
            poses = estimator(frame)
            stats.add(estimator.timings, len(poses))
            writer.write(draw_poses(frame, poses))
            frames.append({"frame": i, "people": people_json(poses)})
        writer.close()
        write_json_atomic(out / f"{stem}.json", {"video": str(source), "fps": video.fps, "frames": frames})
    print(f"{stats.summary()}\nwrote {out}/")
    return 0
