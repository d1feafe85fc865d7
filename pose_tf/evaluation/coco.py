"""COCO keypoint evaluation: run an estimator over a COCO set and score it with pycocotools.

Besides COCOeval's AP/AR we report the two figures of the original project's table:
`mean_oks`, the mean OKS of ground-truth people matched at OKS >= 0.5, and `detect_rate`,
the share of ground-truth people with keypoints so matched.
"""
from __future__ import annotations

import contextlib
import io
import logging
import math
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
    check_keypoint_file(data, annotations_path)
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


# ------------------------------------------------------------------ ground-truth checks
# pycocotools trusts its input: a wrong type is a traceback deep inside it, and some
# mistakes are worse, scored without a word. A NaN keypoint makes its OKS term NaN, which
# no comparison passes, so the person counts as undetectable and AP goes *up*; an empty
# `categories` makes every metric -1. So the file is checked once, here, before it is used.

_PERSON = 1                       # the category Pose.to_coco gives every detection
_KEYPOINT_VALUES = 17 * 3         # COCOeval's OKS sigmas are COCO's 17 keypoints: x, y, v each


def check_keypoint_file(data, path) -> None:
    """Refuse a ground truth pycocotools would crash on or mis-score, in one line naming
    the file, the record (e.g. annotations[3] (id 7)) and the key."""
    if not isinstance(data, dict):
        raise PoseTfError(f"{path}: the top level is {_json_kind(data)}, not an object "
                          f"(not a COCO keypoint file)")
    images, annotations, categories = (_records(data, key, path)
                                       for key in ("images", "annotations", "categories"))
    category_ids = {_integer(c, "id", path, f"categories[{i}]") for i, c in enumerate(categories)}
    if _PERSON not in category_ids:
        what = "is empty" if not categories else f"has no category id {_PERSON} (person)"
        raise PoseTfError(f"{path}: 'categories' {what}: the detections (category {_PERSON}) "
                          f"would be scored against nothing")
    image_ids = set()
    for i, image in enumerate(images):
        image_ids.add(_integer(image, "id", path, f"images[{i}]"))
        where = f"images[{i}] (id {image['id']})"
        name = _value(image, "file_name", path, where)
        if not isinstance(name, str) or not name:
            raise PoseTfError(f"{path}: {where}: 'file_name' must be a non-empty string, got {name!r}")
    for i, annotation in enumerate(annotations):
        _check_annotation(annotation, path, i, category_ids)
    unknown = sorted({a["image_id"] for a in annotations} - image_ids)
    if unknown:
        raise PoseTfError(f"{path}: {len(unknown)} annotation(s) refer to unknown "
                          f"image id(s), e.g. {unknown[0]}")


def _check_annotation(annotation: dict, path, index: int, category_ids) -> None:
    where = f"annotations[{index}]"
    where = f"{where} (id {_integer(annotation, 'id', path, where)})"
    for key in ("image_id", "category_id", "iscrowd", "num_keypoints"):
        _integer(annotation, key, path, where)
    if annotation["category_id"] not in category_ids:
        raise PoseTfError(f"{path}: {where}: 'category_id' {annotation['category_id']} is not "
                          f"in 'categories'")
    _numbers(annotation, "area", None, path, where)
    _numbers(annotation, "bbox", 4, path, where)
    _numbers(annotation, "keypoints", _KEYPOINT_VALUES, path, where)


def _records(data: dict, key: str, path) -> list:
    """data[key] as a list of objects."""
    if key not in data:
        raise PoseTfError(f"{path}: missing key {key!r} (not a COCO keypoint file)")
    records = data[key]
    if not isinstance(records, list):
        raise PoseTfError(f"{path}: {key!r} is {_json_kind(records)}, expected a list of objects")
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise PoseTfError(f"{path}: {key}[{i}] is {_json_kind(record)}, expected an object")
    return records


def _value(record: dict, key: str, path, where: str):
    if key not in record:
        raise PoseTfError(f"{path}: {where}: missing key {key!r}")
    return record[key]


def _integer(record: dict, key: str, path, where: str) -> int:
    value = _value(record, key, path, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise PoseTfError(f"{path}: {where}: {key!r} is {_json_kind(value)}, expected an integer")
    return value


def _numbers(record: dict, key: str, count: Optional[int], path, where: str) -> None:
    """record[key] is one finite number (`count` None) or a list of `count` of them."""
    value = _value(record, key, path, where)
    if count is None:
        values, names = [value], [repr(key)]
    elif not isinstance(value, list):
        raise PoseTfError(f"{path}: {where}: {key!r} is {_json_kind(value)}, expected a list of "
                          f"{count} numbers")
    elif len(value) != count:
        raise PoseTfError(f"{path}: {where}: {key!r} has {len(value)} values, expected {count}"
                          + (" (17 keypoints x, y, visibility)" if key == "keypoints" else ""))
    else:
        values, names = value, (f"{key!r}[{j}]" for j in range(count))
    for v, name in zip(values, names):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise PoseTfError(f"{path}: {where}: {name} is {_json_kind(v)} ({v!r}), not a number")
        if not math.isfinite(v):
            raise PoseTfError(f"{path}: {where}: {name} is {v}, not a finite number")


def _json_kind(value) -> str:
    """What a JSON value is, in JSON's words, for messages."""
    if isinstance(value, bool):
        return "true/false"
    for kind, name in ((str, "a string"), (dict, "an object"), (list, "a list"),
                       ((int, float), "a number"), (type(None), "null")):
        if isinstance(value, kind):
            return name
    return type(value).__name__


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
