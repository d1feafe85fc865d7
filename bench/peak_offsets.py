#!/usr/bin/env python
"""Where decoded joints sit against COCO ground truth, and what moving them is worth.

For each network, maps are predicted once per coco_mini image (the estimator's letterbox,
368x432 box, scale 1, no flip: what `pose-tf evaluate` does) and peaks found as decoding
finds them. Each annotated, visible joint is matched to the nearest peak of its part
within 2 map cells; the table gives the share matched, the mean signed offset (dx right,
dy down) and the median distance, in map cells of our pixel convention
(`pose_tf.core.geometry.cell_to_image`). Then the same maps are decoded with every peak
moved by a fixed (dx, dy) cells and scored by pycocotools: a network trained on another
convention shows a constant offset, and the AP says whether undoing it pays.

The default shift, (-1/8, -1/16) cell, is tf-pose-estimation's training convention read
in ours: its Gaussians sit at pixel indices and are area-resized by 8 (cell i = pixel
8i + 3.5, half a pixel off our 8i + 4), and its flip maps x to `width - x` (one pixel off
for pixel indices, half a pixel on average over flipped and unflipped crops).

    python bench/peak_offsets.py [--models default,teacher] [--split train2017|val2017]
                                 [--shift DX,DY ...] [--json out.json]
"""
import argparse
import contextlib
import io
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import data_dir, peer_graph, teacher_graph  # noqa: E402

MATCH_RADIUS = 2.0          # map cells: a peak farther than this is another joint's
TF_POSE_SHIFT = (-1 / 8, -1 / 16)


def models():
    from pose_tf.commands._model_args import DEFAULT_MODEL

    return {"default": (str(DEFAULT_MODEL), None),
            "teacher": (str(teacher_graph()), "openpose18"),
            "peer": (str(peer_graph()), "openpose18")}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", default="default,teacher", help=f"comma list of {', '.join(models())}")
    p.add_argument("--split", default="train2017", choices=["train2017", "val2017"])
    p.add_argument("--shift", action="append", default=[],
                   help="DX,DY in map cells, repeatable (default: 0,0 and tf-pose's -0.125,-0.0625)")
    p.add_argument("--json", help="write {model: {offsets, ap_by_shift}} here")
    return p.parse_args()


def joint_offsets(peaks, cell_to_image, annotations, to_coco):
    """Rows (matched, dx, dy) in map cells, one per visible annotated joint."""
    sx, sy, ox, oy = cell_to_image
    rows = []
    for annotation in annotations:
        joints = np.asarray(annotation["keypoints"], np.float64).reshape(-1, 3)
        for joint, (x, y, visible) in enumerate(joints):
            if visible <= 0:
                continue
            mine = peaks[peaks[:, 3] == to_coco[joint]]
            dx = (mine[:, 0] * sx + ox - x) / sx
            dy = (mine[:, 1] * sy + oy - y) / sy
            distance = np.hypot(dx, dy)
            if not len(mine) or distance.min() > MATCH_RADIUS:
                rows.append((0.0, np.nan, np.nan))
                continue
            nearest = int(np.argmin(distance))
            rows.append((1.0, dx[nearest], dy[nearest]))
    return rows


def summarise(rows):
    table = np.asarray(rows, np.float64).reshape(-1, 3)
    matched = table[table[:, 0] > 0]
    return {"joints": len(table), "matched": round(float(table[:, 0].mean()), 4),
            "mean_dx": round(float(matched[:, 1].mean()), 4),
            "mean_dy": round(float(matched[:, 2].mean()), 4),
            "median_distance": round(float(np.median(np.hypot(matched[:, 1], matched[:, 2]))), 4)}


def main():
    args = parse_args()
    from pose_tf.evaluation.coco import load_ground_truth, score_results
    from pose_tf.grouping import find_peaks
    from pose_tf.inference.estimator import Estimator
    from pose_tf.io.files import path_in_folder, write_json_atomic
    from pose_tf.io.images import read_image

    shifts = [tuple(float(v) for v in s.split(",")) for s in args.shift] or [(0.0, 0.0), TF_POSE_SHIFT]
    root = data_dir() / "coco_mini"
    gt = load_ground_truth(root / "annotations" / f"person_keypoints_{args.split}.json")
    known = models()
    report = {}
    for name in args.models.split(","):
        if name not in known:
            raise SystemExit(f"--models: unknown {name!r}; known: {', '.join(known)}")
        path, layout = known[name]
        estimator = Estimator.from_path(path, layout=layout)
        to_coco = np.asarray(estimator.layout.to_coco)
        rows, results = [], {shift: [] for shift in shifts}
        for info in gt.dataset["images"]:
            image = read_image(path_in_folder(root / args.split, info["file_name"]))
            maps, (sx, sy, ox, oy) = estimator.predict_maps(image)
            annotations = gt.loadAnns(gt.getAnnIds(imgIds=info["id"], iscrowd=False))
            rows += joint_offsets(find_peaks(maps, estimator.layout, estimator.params),
                                  (sx, sy, ox, oy), annotations, to_coco)
            for dx, dy in shifts:
                moved = (sx, sy, ox + dx * sx, oy + dy * sy)
                results[(dx, dy)] += [p.to_coco(info["id"]) for p in estimator.decode(maps, moved)]
        scores = {}
        for shift, found in results.items():
            with contextlib.redirect_stdout(io.StringIO()):
                metrics = score_results(gt, found) if found else {}
            scores[f"{shift[0]:+.4f},{shift[1]:+.4f}"] = {
                k: round(float(metrics.get(k, 0.0)), 4) for k in ("AP", "AP50", "AP75", "AR")}
        report[name] = {"model": path, "offsets": summarise(rows), "ap_by_shift": scores}
    print(f"coco_mini {args.split}, {len(gt.dataset['images'])} images; offsets in map cells "
          f"(dx right, dy down), joints matched within {MATCH_RADIUS:g} cells")
    print(f"{'model':10s} {'joints':>6s} {'matched':>8s} {'mean dx':>8s} {'mean dy':>8s} {'median':>7s}")
    for name, entry in report.items():
        o = entry["offsets"]
        print(f"{name:10s} {o['joints']:6d} {o['matched']:8.3f} {o['mean_dx']:+8.3f} "
              f"{o['mean_dy']:+8.3f} {o['median_distance']:7.3f}")
    print(f"\n{'model':10s} {'peaks moved by (cells)':>24s} {'AP':>7s} {'AP50':>7s} {'AP75':>7s} {'AR':>7s}")
    for name, entry in report.items():
        for shift, row in entry["ap_by_shift"].items():
            print(f"{name:10s} {shift:>24s} " + " ".join(f"{row[k]:7.4f}" for k in ("AP", "AP50", "AP75", "AR")))
    if args.json:
        write_json_atomic(args.json, {"split": args.split, "models": report}, indent=2)


if __name__ == "__main__":
    main()
