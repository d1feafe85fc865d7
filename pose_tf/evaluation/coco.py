"""COCO keypoint evaluation: run an estimator over a COCO set and score it with pycocotools.

Besides COCOeval's AP/AR we report the two figures of the original project's table:
`mean_oks`, the mean OKS of ground-truth people matched at OKS >= 0.5, and `detect_rate`,
the share of ground-truth people with keypoints so matched.
"""
from __future__ import annotations

import contextlib
import io
import logging
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np

from ..core.errors import PoseTfError
from ..io.files import load_json, write_json_atomic

log = logging.getLogger(__name__)

METRIC_NAMES = ("AP", "AP50", "AP75", "APm", "APl", "AR")
# Positions of those metrics in COCOeval.stats for iouType="keypoints".
_STATS_INDEX = (0, 1, 2, 3, 4, 5)


def load_ground_truth(annotations_path):
    """pycocotools COCO object, with errors that name the file instead of tracebacks."""
    from pycocotools.coco import COCO

    data = load_json(annotations_path, "annotation file")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise PoseTfError(f"{annotations_path}: missing key {key!r} (not a COCO keypoint file)")
    image_ids = {img["id"] for img in data["images"]}
    unknown = sorted({a["image_id"] for a in data["annotations"]} - image_ids)
    if unknown:
        raise PoseTfError(f"{annotations_path}: {len(unknown)} annotation(s) refer to unknown "
                          f"image id(s), e.g. {unknown[0]}")
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def score_results(coco_gt, results: List[dict]) -> Dict[str, float]:
    """COCOeval keypoint metrics + mean_oks + detect_rate for `results` (COCO result dicts)."""
    from pycocotools.cocoeval import COCOeval

    if not results:
        log.warning("no detections at all: every metric is 0")
        return {**{k: 0.0 for k in METRIC_NAMES}, "mean_oks": 0.0, "detect_rate": 0.0}
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes(results)
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        evaluator.params.imgIds = sorted(coco_gt.getImgIds())
        evaluator.evaluate()
        evaluator.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        evaluator.summarize()
    metrics = {name: float(evaluator.stats[i]) for name, i in zip(METRIC_NAMES, _STATS_INDEX)}
    metrics.update(matched_oks(evaluator))
    metrics["summary"] = summary.getvalue()
    return metrics


def matched_oks(evaluator) -> Dict[str, float]:
    """Greedy OKS >= 0.5 matching per image, in score order, as COCOeval matches."""
    matched, total = [], 0
    for (img_id, cat_id), ious in evaluator.ious.items():
        gts = [g for g in evaluator._gts[img_id, cat_id] if not g["iscrowd"] and g["num_keypoints"] > 0]
        total += len(gts)
        if len(ious) == 0 or not gts:
            continue
        all_gts = evaluator._gts[img_id, cat_id]
        keep = [i for i, g in enumerate(all_gts) if not g["iscrowd"] and g["num_keypoints"] > 0]
        ious = np.asarray(ious)[:, keep]          # [dets sorted by score, kept gts]
        used = np.zeros(len(keep), bool)
        for row in ious:
            candidates = np.where(~used & (row >= 0.5), row, -1.0)
            best = int(np.argmax(candidates))
            if candidates[best] >= 0.5:
                used[best] = True
                matched.append(float(row[best]))
    return {"mean_oks": float(np.mean(matched)) if matched else 0.0,
            "detect_rate": len(matched) / total if total else 0.0}


def predict(estimator: Callable, coco_gt, images_dir, progress: bool = True) -> List[dict]:
    """Run `estimator` (image -> list[Pose]) on every image of the set; COCO result dicts."""
    from tqdm import tqdm

    from ..io.files import path_in_folder
    from ..io.images import read_image

    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise PoseTfError(f"image folder not found: {images_dir}")
    results = []
    for img in tqdm(coco_gt.dataset["images"], desc="evaluate", unit="img", disable=not progress):
        # A name leading outside the folder is a one-line error before anything is read,
        # like a missing image.
        image = read_image(path_in_folder(images_dir, img["file_name"]))
        results.extend(p.to_coco(img["id"]) for p in estimator(image))
    return results


def evaluate(estimator: Callable, annotations, images_dir, results_out: Optional[str] = None,
             progress: bool = True) -> Dict[str, float]:
    """The whole of `pose-tf evaluate`: predict, write results (optional), score."""
    coco_gt = load_ground_truth(annotations)
    results = predict(estimator, coco_gt, images_dir, progress)
    if results_out:
        write_json_atomic(results_out, results)
    return score_results(coco_gt, results)


def format_table(metrics: Dict[str, float]) -> str:
    names = METRIC_NAMES + ("mean_oks", "detect_rate")
    head = " | ".join(f"{n:>11}" for n in names)
    vals = " | ".join(f"{metrics[n]:>11.3f}" for n in names)
    return f"{head}\n{vals}"
