#!/usr/bin/env python
"""How much closer a distilled student comes to its teacher on the images it trained on.

The student and the teacher predict maps for each image of three sets (the estimator's
letterbox at 368x432, what `pose-tf evaluate` does), and for each set this prints the
pooled relative squared error of the student's maps against the teacher's:
sum over images of |student - teacher|^2 / sum of |teacher|^2, for the part heatmaps
(background channel left out) and the PAFs, over the images where the teacher's
strongest part peak exceeds `--peak-floor` (images without people would divide by ~0).

  train2017   coco_mini train2017: trained on, with labels and the teacher's maps
  stanford40  every 40th Stanford 40 photo (80): trained on, the teacher's maps only
  val2017     coco_mini val2017: never trained on

A student that learned the teacher's mapping rather than its training images has about
the same error on all three; a larger error on val2017 than on both others says its
network has fitted the images it trained on, whether or not they were labelled.

    python bench/distill_fit.py [--model M.keras] [--setting setting/X.yaml] [--limit N]
                                [--json out.json]
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import data_dir, teacher_graph  # noqa: E402

DEFAULT_MODEL = ROOT / "pose_tf" / "resources" / "default_model.keras"
STANFORD_EVERY = 40


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=str(DEFAULT_MODEL), help="the student (.keras)")
    p.add_argument("--teacher", default=str(teacher_graph()), help="the teacher (frozen graph)")
    p.add_argument("--limit", type=int, default=0, help="images per set (default: all)")
    p.add_argument("--peak-floor", type=float, default=0.3,
                   help="count an image when the teacher's strongest part peak exceeds this")
    p.add_argument("--json", help="write {set: {images, counted, heatmap_error, paf_error, "
                                   "median_heatmap_error}} here")
    return p.parse_args()


def image_sets(limit: int) -> dict:
    """{set name: image paths}, in a fixed order."""
    data = data_dir()
    stanford = sorted((data / "unlabelled" / "stanford40").rglob("*.jpg"))[::STANFORD_EVERY]
    sets = {"train2017": sorted((data / "coco_mini" / "train2017").glob("*.jpg")),
            "stanford40": stanford,
            "val2017": sorted((data / "coco_mini" / "val2017").glob("*.jpg"))}
    return {name: paths[: limit or None] for name, paths in sets.items()}


def squared_errors(s_maps, t_maps, num_heatmaps):
    """[4]: heatmap error, heatmap energy, PAF error, PAF energy of one image."""
    split = slice(0, num_heatmaps)
    pafs = slice(num_heatmaps + 1, None)            # after the background channel
    return np.array([np.sum(np.square(s_maps[..., split] - t_maps[..., split])),
                     np.sum(np.square(t_maps[..., split])),
                     np.sum(np.square(s_maps[..., pafs] - t_maps[..., pafs])),
                     np.sum(np.square(t_maps[..., pafs]))], np.float64)


def summarise(rows: np.ndarray, peaks: np.ndarray, floor: float) -> dict:
    counted = rows[peaks > floor]
    summary = {"images": int(len(rows)), "counted": int(len(counted))}
    if not len(counted):
        return {**summary, "heatmap_error": None, "paf_error": None, "median_heatmap_error": None}
    return {**summary,
            "heatmap_error": round(float(counted[:, 0].sum() / counted[:, 1].sum()), 4),
            "paf_error": round(float(counted[:, 2].sum() / counted[:, 3].sum()), 4),
            "median_heatmap_error": round(float(np.median(counted[:, 0] / counted[:, 1])), 4)}


def main():
    args = parse_args()
    from pose_tf.inference.estimator import Estimator
    from pose_tf.io.files import write_json_atomic
    from pose_tf.io.images import read_image

    student = Estimator.from_path(args.model)
    layout = student.layout
    if not layout.has_background:
        sys.exit(f"{args.model}: the student needs the teacher's layout (openpose18), "
                 f"not {layout.name}")
    teacher = Estimator.from_path(args.teacher, layout=layout.name)
    table = {}
    for name, paths in image_sets(args.limit).items():
        rows, peaks = [], []
        for number, path in enumerate(paths, 1):
            image = read_image(path)
            s_maps, _ = student.predict_maps(image)
            t_maps, _ = teacher.predict_maps(image)
            rows.append(squared_errors(s_maps, t_maps, layout.num_parts))
            peaks.append(float(t_maps[..., : layout.num_parts].max()))
            print(f"\r{name}: {number}/{len(paths)} images", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        table[name] = summarise(np.array(rows).reshape(-1, 4), np.array(peaks), args.peak_floor)
    print(f"student {args.model} against the teacher; relative squared error, pooled over "
          f"the images with a teacher peak above {args.peak_floor}")
    print(f"{'images':12s} {'counted':>8s} {'heatmaps':>9s} {'PAFs':>7s} {'median hm':>10s}")
    for name, row in table.items():
        cells = [row["heatmap_error"], row["paf_error"], row["median_heatmap_error"]]
        print(f"{name:12s} {row['counted']:4d}/{row['images']:<3d} " + " ".join(
            f"{v:9.3f}" if v is not None else f"{'-':>9s}" for v in cells))
    if args.json:
        write_json_atomic(args.json, {"model": args.model, "peak_floor": args.peak_floor,
                                      "sets": table}, indent=2)


if __name__ == "__main__":
    main()
