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


def load_results(path, coco_gt) -> List[dict]:
    """A COCO keypoint results file (what `--results-out` writes), checked like a ground
    truth: a list of objects with an integer `image_id` of the set, 51 finite `keypoints`
    and a finite `score`; errors name the file, the record and the key."""
    data = load_json(path, "results file")
    if not isinstance(data, list):
        raise PoseTfError(f"{path}: the top level is {_json_kind(data)}, not a list of detections "
                          f"(not a COCO results file)")
    known = set(coco_gt.getImgIds())
    for i, detection in enumerate(data):
        where = f"[{i}]"
        if not isinstance(detection, dict):
            raise PoseTfError(f"{path}: {where} is {_json_kind(detection)}, expected an object")
        if _integer(detection, "image_id", path, where) not in known:
            raise PoseTfError(f"{path}: {where}: image_id {detection['image_id']} is not an image "
                              f"of the ground truth")
        _numbers(detection, "keypoints", _KEYPOINT_VALUES, path, where)
        _numbers(detection, "score", None, path, where)
    return data


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
    if not results:
        log.warning("no detections at all: every metric is 0")
        return {**{k: 0.0 for k in METRIC_NAMES}, "mean_oks": 0.0, "detect_rate": 0.0}
    evaluator, summary = _cocoeval(coco_gt, results)
    metrics = {name: float(evaluator.stats[i]) for name, i in zip(METRIC_NAMES, _STATS_INDEX)}
    metrics.update(matched_oks(evaluator))
    metrics["summary"] = summary
    return metrics


def _cocoeval(coco_gt, results: List[dict]):
    """(COCOeval keypoint evaluator run to its stats, the text its summary printed) for a
    non-empty `results`, over every image of the set, without printing."""
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = COCOeval(coco_gt, coco_gt.loadRes(results), "keypoints")
        evaluator.params.imgIds = sorted(coco_gt.getImgIds())
        evaluator.evaluate()
        evaluator.accumulate()
    summary = io.StringIO()
    with contextlib.redirect_stdout(summary):
        evaluator.summarize()
    return evaluator, summary.getvalue()


def _keypoint_ap(coco_gt, results: List[dict]) -> float:
    """COCOeval's keypoint AP alone (0 without detections)."""
    return float(_cocoeval(coco_gt, results)[0].stats[0]) if results else 0.0


def _resampled_set(coco_gt, image_ids):
    """A COCO object whose images are `image_ids` in order, duplicates included, each under
    a new id 1..n (COCOeval scores a repeated id once), and the map old id -> new ids."""
    from pycocotools.coco import COCO

    data = coco_gt.dataset
    images, annotations, new_ids = [], [], {}
    for new_id, old_id in enumerate(image_ids, 1):
        images.append(dict(coco_gt.imgs[old_id], id=new_id))
        new_ids.setdefault(old_id, []).append(new_id)
        for ann in coco_gt.imgToAnns[old_id]:
            annotations.append(dict(ann, id=len(annotations) + 1, image_id=new_id))
    resampled = COCO()
    resampled.dataset = {"images": images, "annotations": annotations,
                         "categories": data["categories"]}
    with contextlib.redirect_stdout(io.StringIO()):
        resampled.createIndex()
    return resampled, new_ids


def bootstrap_ap(coco_gt, results: List[dict], rounds: int, baseline: Optional[List[dict]] = None,
                 seed: int = 0) -> Dict[str, float]:
    """How much the keypoint AP of `results` depends on which images the set happens to hold.

    Each round draws the set's images with replacement and scores the draw (the bootstrap
    over images: on a set of ~80 images its standard error is ~0.03 AP). With `baseline`,
    the results of another model on the same images, each round also scores the baseline
    on the same draw, and the spread of the *difference* says whether one model is better
    (paired: much narrower than either model's own interval).
    Returns AP_se, AP_low, AP_high (the 5th and 95th percentiles), and with a baseline
    AP_diff (results minus baseline on the whole set), AP_diff_se, AP_diff_low,
    AP_diff_high and AP_diff_above_0 (the share of rounds in which results scored higher).
    """
    if rounds < 2:
        raise ValueError(f"bootstrap needs at least 2 rounds, got {rounds}")
    ids = np.asarray(sorted(coco_gt.getImgIds()))
    runs = [results] + ([baseline] if baseline is not None else [])
    by_image = [_by_image(r) for r in runs]
    rng = np.random.default_rng(seed)
    scores = np.empty((rounds, len(runs)))
    for r in range(rounds):
        resampled, new_ids = _resampled_set(coco_gt, rng.choice(ids, len(ids)))
        for k, detections in enumerate(by_image):
            drawn = [dict(d, image_id=new_id) for old_id, news in new_ids.items()
                     for new_id in news for d in detections.get(old_id, ())]
            scores[r, k] = _keypoint_ap(resampled, drawn)
    out = _spread("AP", scores[:, 0])
    if baseline is not None:
        out.update(_spread("AP_diff", scores[:, 0] - scores[:, 1]))
        out["AP_diff"] = _keypoint_ap(coco_gt, results) - _keypoint_ap(coco_gt, baseline)
        out["AP_diff_above_0"] = float(np.mean(scores[:, 0] > scores[:, 1]))
    return out


def _by_image(results: List[dict]) -> Dict[int, List[dict]]:
    grouped: Dict[int, List[dict]] = {}
    for detection in results:
        grouped.setdefault(detection["image_id"], []).append(detection)
    return grouped


def _spread(name: str, values: np.ndarray) -> Dict[str, float]:
    low, high = np.percentile(values, [5, 95])
    return {f"{name}_se": float(np.std(values, ddof=1)), f"{name}_low": float(low),
            f"{name}_high": float(high)}


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
             progress: bool = True, bootstrap: int = 0, against=None) -> Dict[str, float]:
    """The whole of `pose-tf evaluate`: predict, write results (optional), score, and with
    `bootstrap` rounds the AP's spread over draws of the images (`bootstrap_ap`), paired
    with the results file `against` when given."""
    coco_gt = load_ground_truth(annotations)
    # A bad baseline file fails before the long part, not after it.
    baseline = load_results(against, coco_gt) if against else None
    results = predict(estimator, coco_gt, images_dir, progress)
    if results_out:
        write_json_atomic(results_out, results)
    metrics = score_results(coco_gt, results)
    if bootstrap:
        metrics.update(bootstrap_ap(coco_gt, results, bootstrap, baseline))
    return metrics


def format_table(metrics: Dict[str, float]) -> str:
    names = METRIC_NAMES + ("mean_oks", "detect_rate")
    head = " | ".join(f"{n:>11}" for n in names)
    vals = " | ".join(f"{metrics[n]:>11.3f}" for n in names)
    return f"{head}\n{vals}"


def format_bootstrap(metrics: Dict[str, float], rounds: int) -> str:
    """The lines `pose-tf evaluate --bootstrap` prints under the table."""
    lines = [f"AP {metrics['AP']:.3f}: standard error {metrics['AP_se']:.3f}, 90% interval "
             f"{metrics['AP_low']:.3f}-{metrics['AP_high']:.3f} ({rounds} draws of the images)"]
    if "AP_diff" in metrics:
        lines.append(f"AP minus --against: {metrics['AP_diff']:+.3f}, standard error "
                     f"{metrics['AP_diff_se']:.3f}, 90% interval {metrics['AP_diff_low']:+.3f} to "
                     f"{metrics['AP_diff_high']:+.3f}, higher in {100 * metrics['AP_diff_above_0']:.0f}% "
                     f"of the draws")
    return "\n".join(lines)
