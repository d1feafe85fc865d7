#!/usr/bin/env python
"""Ablation of post-processing choices on a network's maps (COCO AP; the peer's by default).

Maps are computed once per input size; every post-processing variant then re-decodes the
same maps, so the table isolates what each choice is worth. Tune on a *train* split and
report on val:
    python bench/ablate_postprocess.py --split train2017 [--model peer|default|PATH] [--json out.json]
"""
import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import SHARED, data_dir, peer_graph  # noqa: E402
from pose_tf.grouping import PostprocessParams, decode  # noqa: E402

VARIANTS = {
    "default": {},
    "no sub-pixel refinement": {"refine": False},
    "no missing-joint placement": {"complete": False},
    "peak threshold 0.1": {"peak_threshold": 0.1},
    "peak threshold 0.03": {"peak_threshold": 0.03},
    "min parts 4": {"min_parts": 4},
    "min parts 2": {"min_parts": 2},
    "min mean score 0.3": {"min_mean_score": 0.3},
    "min mean score 0.1": {"min_mean_score": 0.1},
    "inlier ratio 0.6": {"min_inlier_ratio": 0.6},
    "paf threshold 0.1": {"paf_threshold": 0.1},
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(SHARED))
    ap.add_argument("--split", default="train2017")
    ap.add_argument("--sizes", default="368x432,432x496,480x640")
    ap.add_argument("--model", default="peer",
                    help="peer (tf-pose mobilenet_v2_small), default (the shipped default model) "
                         "or a network path")
    ap.add_argument("--json")
    args = ap.parse_args()

    from pose_tf.evaluation.coco import load_ground_truth, score_results
    from pose_tf.inference.estimator import Estimator
    from pose_tf.io.images import read_image

    coco = data_dir(args.shared) / "coco_mini"
    gt = load_ground_truth(coco / f"annotations/person_keypoints_{args.split.replace('2017', '')}2017.json")
    from pose_tf.commands._model_args import DEFAULT_MODEL

    model = {"peer": str(peer_graph(args.shared)), "default": str(DEFAULT_MODEL)}.get(args.model, args.model)
    layout = "openpose18" if model.endswith(".pb") else None
    rows = {}
    for size in args.sizes.split(","):
        h, w = map(int, size.split("x"))
        est = Estimator.from_path(model, layout=layout, input_size=(h, w))
        cached = [(img["id"], est.predict_maps(read_image(coco / args.split / img["file_name"])))
                  for img in gt.dataset["images"]]
        for name, change in VARIANTS.items():
            change = dict(change)
            complete = change.pop("complete", True)
            params = dataclasses.replace(PostprocessParams(), **change)
            results = [p.to_coco(i) for i, (maps, c2i) in cached
                       for p in decode(maps, est.layout, params, c2i, complete)]
            m = score_results(gt, results)
            rows[f"{size} {name}"] = {k: m[k] for k in ("AP", "AP50", "AP75", "AR")}
            print(f"{size:>8} {name:<28} AP {m['AP']:.3f}  AP50 {m['AP50']:.3f}  AR {m['AR']:.3f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
