"""PoseTrack: 2018 per-sequence JSON and 2017 annolist JSON (as poseval reads them).

`--annotations` is one JSON file or a folder of them (one per sequence, searched
recursively); each file's layout is detected. `--images` is the dataset root that the
files' image names are relative to (e.g. `images/val/000342_mpii/000000.jpg`).

The files are parsed by pose_tf.io.posetrack, the package's one PoseTrack reader (also
behind tracking and evaluate-tracking), so the joints a record holds are the joints the
evaluation scores: 2017 persons are `annopoints[0]`, a listed point exists whatever its
`is_visible` (0 = occluded, v 1; 1 or absent = visible, v 2), a 2018 keypoint exists unless
stored (0, 0, 0) and its third value is that flag (annotated joints v 2); the COCO-style
export of the Bonn Multi-Person PoseTrack clips (the 14 `mpii14` joints) keeps COCO's codes.
What is left here is the converter's own business:
- only labelled frames are converted (an unlabelled frame has people but no annotation);
- `ignore_regions` polygons go into the ignore mask, and so do people without any COCO
  joint: by their person box (2018), else their head rectangle (2017 gives no other box);
- head top/bottom and neck have no COCO-17 joint; eyes (and the 2018 ear slots, never
  annotated) are flagged unlabelled;
- image ids: the 2018 `id`; for 2017 the digits of the frame's path;
- a malformed record is reported and its frame skipped, not fatal.
"""
from __future__ import annotations

import os

from ...core.errors import PoseTfError
from ...io import posetrack as pt
from .base import ReadResult, box_of_keypoints, load_json, make_entry, resolve_image
from .coco import _int_id

NAME = "posetrack"


def annotation_files(annotations) -> list:
    path = os.fspath(annotations)
    if os.path.isdir(path):
        found = sorted(os.path.join(root, f) for root, _, files in os.walk(path)
                       for f in files if f.endswith(".json"))
        if not found:
            raise PoseTfError(f"{path}: no .json annotation files in this folder")
        return found
    return [path]


def read(annotations, images, **_) -> ReadResult:
    entries, problems = [], []
    for path in annotation_files(annotations):
        result = read_file(path, os.fspath(images))
        entries.extend(result.entries)
        problems.extend(result.problems)
    entries.sort(key=lambda e: (e.filename, e.image_id))
    return ReadResult(entries, problems)


def read_file(path, images) -> ReadResult:
    """The entries of one PoseTrack 2017 or 2018 file."""
    name = os.path.basename(path)
    data = load_json(path)
    problems = []
    try:
        if isinstance(data, dict) and "annolist" in data:
            seq, year = pt.parse_posetrack17(data, name, problems), 2017
        elif isinstance(data, dict) and "images" in data:
            seq, year = pt.parse_posetrack18(data, name, problems), 2018
        else:
            return ReadResult([], [f"{name}: neither PoseTrack 2018 ('images') nor 2017 "
                                   f"('annolist') layout; file skipped"])
    except PoseTfError as exc:
        return ReadResult([], [f"{exc}; file skipped"])
    entries = []
    labelled = seq.labelled()
    for frame in seq.frames:
        if not frame.is_labeled:
            continue
        where = f"{name} image {frame.image_id}" if year == 2018 else f"{name} annolist[{frame.image_id}]"
        if not frame.file_name:
            problems.append(f"{where}: no image file name; skipped")
            continue
        people, ignore, bad = _people(seq, frame, year)
        if bad:
            problems.append(f"{where}: {bad}; skipped")
            continue
        polygons = [r.reshape(-1).tolist() for r in frame.ignore_regions]
        if polygons:
            ignore.append(("polygon", polygons))
        image_id = _int_id(frame.image_id) if year == 2018 else _path_id(frame.file_name, frame.image_id)
        entries.append(make_entry(NAME, image_id, frame.file_name,
                                  resolve_image(images, frame.file_name), people, labelled,
                                  ignore_regions=ignore, expected_size=frame.size, record=where,
                                  images_root=images))
    return ReadResult(entries, problems)


def _people(seq, frame, year):
    """(people dicts, ignore regions, problem or "") of one frame."""
    people, ignore = [], []
    for person, kp in zip(frame.people, seq.coco17(frame)):
        codes = set(person.keypoints[:, 2].tolist()) - {0.0, 1.0, 2.0}
        if year == 2018 and codes:
            return [], [], f"keypoint visibility {min(codes):g} not one of [0, 1, 2]"
        box = person.bbox.tolist() if person.bbox is not None else None
        if not (kp[:, 2] > 0).any():      # nobody labelled this person: do not learn background
            box = box or _head_box(person.head_rect)
            if box is not None:
                ignore.append(("box", box))
            continue
        box = box or box_of_keypoints(kp)
        people.append({"keypoints": kp, "bbox": box, "area": box[2] * box[3],
                       "track_id": -1 if person.track_id is None else person.track_id})
    return people, ignore, ""


def _head_box(rect):
    """Head rectangle (x1, y1, x2, y2) as a box: the only box of a 2017 person without joints."""
    if rect is None:
        return None
    x1, y1, x2, y2 = (float(v) for v in rect)
    return [min(x1, x2), min(y1, y2), abs(x2 - x1), abs(y2 - y1)]


def _path_id(image: str, fallback: int) -> int:
    """All digits of the frame's path: sequence and frame number (unique per frame)."""
    digits = "".join(c for c in os.path.splitext(image)[0] if c.isdigit())
    return int(digits[-18:]) if digits else fallback
