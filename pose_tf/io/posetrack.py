"""PoseTrack files: 2018 JSON (COCO-style, one file per sequence), 2017 annolist JSON, and
the Bonn Multi-Person PoseTrack tracks, read into one small in-memory structure. This is the
one PoseTrack parser of the package: tracking, evaluate-tracking, fit-tracker and the dataset
converter (data/sources/posetrack.py) all read through it.

The structure keeps each file's own joints and names (`Sequence.joint_names`); metrics
compare joints by name, and `Sequence.coco17` / `Person.to_pose` map any of them onto the
17 COCO keypoints (by name; the two ear slots of the 2018 layout are placeholders that the
official files leave zeroed, so they are never mapped).

Which joints exist, and how visible they are, follows the official evaluation (poseval):
- 2017: a person's joints are the points of `annopoints[0]`. poseval reads only that entry
  (`rectGT["annopoints"][0]["point"]`) and a 2017 file has one per rect; later entries are
  ignored. Every listed point exists: poseval never looks at `is_visible` when it scores.
- 2018: a keypoint exists unless it is stored as (0, 0) with visibility 0, the rule poseval
  applies when it converts 2018 files (`Person.to_old` skips exactly those points).
- `is_visible` is an occlusion flag of an existing point: absent means visible (poseval's
  `to_new` writes 1 when the key is missing). In COCO codes (`Sequence.coco17`): an existing
  point flagged 0 is occluded (v = 1), otherwise visible (v = 2). The 2018 files' third value
  is that same flag (poseval turns it into `is_visible`), so an annotated joint (1) is v = 2;
  only the COCO-style export of the Bonn clips (`visibility == "coco"`, joints `mpii14`)
  stores COCO's own codes (1 occluded, 2 visible), kept as they are.

Coordinates: `Person`s hold the files' own pixel indices (metrics compare them with each
other as they are, and `Sequence.coco17` returns them so), the dataset convention of
pose_tf.core.geometry. Each consumer converts once at its border: `Person.to_pose` /
`Sequence.poses` for tracking (to continuous), `Person.from_pose` back for writing, and the
converter's `build_sample` for records.

Files are read and written the way the official poseval tool reads them: a 2018 file has
exactly one category "person" whose `keypoints` names include the 15 PoseTrack joints;
predictions carry `scores` (one per keypoint) and a `track_id` per person.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence as Seq

import numpy as np

from ..core.errors import PoseTfError, require_file
from ..core.geometry import continuous_to_index, index_to_continuous
from ..core.keypoints import (COCO_KEYPOINTS, JOINT_SETS, KEYPOINT_INDEX, NUM_KEYPOINTS,
                              JointSet)
from ..core.pose import Pose
from .files import load_json, write_json_atomic

# poseval's joint ids (eval_helpers.Joint): the PoseTrack 2017 `id` of each point.
POSETRACK17_JOINTS = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
    "left_wrist", "head_bottom", "nose", "head_top",
)
# The keypoint names of a PoseTrack 2018 file, COCO order (ears are never annotated).
POSETRACK18_JOINTS = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear") + COCO_KEYPOINTS[5:]

# Skeleton written into 2018 files (1-based, as in the official files).
_POSETRACK18_SKELETON = [
    [16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
    [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]

# How a file's third keypoint value reads: "posetrack", poseval's is_visible flag (0 occluded,
# else visible); "coco", COCO's codes (1 occluded, 2 visible; the Bonn COCO-style export).
VISIBILITY_FLAG, VISIBILITY_COCO = "posetrack", "coco"


def coco_joint_set(joint_names: Seq[str]) -> JointSet:
    """The file's joints as a `JointSet` (COCO-17 by name). The PoseTrack 2018 layout's ear
    slots are placeholders ("will be left zeroed out", poseval's convert.py): unmapped."""
    if tuple(joint_names) == POSETRACK18_JOINTS:
        return JOINT_SETS["posetrack"]
    if tuple(joint_names) == POSETRACK17_JOINTS:
        return JOINT_SETS["posetrack17"]
    return JointSet("posetrack-file", tuple(joint_names))


@dataclass
class Person:
    keypoints: np.ndarray                 # [J, 3] x, y, visibility (joint order: the sequence's)
    track_id: Optional[int] = None
    scores: Optional[np.ndarray] = None   # [J] per-joint confidence (predictions)
    head_rect: Optional[np.ndarray] = None  # (x1, y1, x2, y2), the PCKh reference
    score: Optional[float] = None         # person confidence
    bbox: Optional[np.ndarray] = None     # (x, y, w, h), the person box a 2018 file gives

    def __post_init__(self):
        self.keypoints = np.asarray(self.keypoints, np.float64).reshape(-1, 3)
        if self.scores is not None:
            self.scores = np.asarray(self.scores, np.float64).reshape(-1)
        if self.head_rect is not None:
            self.head_rect = np.asarray(self.head_rect, np.float64).reshape(4)
        if self.bbox is not None:
            self.bbox = np.asarray(self.bbox, np.float64).reshape(4)

    @property
    def present(self) -> np.ndarray:
        """Boolean [J]: joints that exist (poseval drops only (0, 0) points with v = 0)."""
        k = self.keypoints
        return ~((k[:, 0] == 0) & (k[:, 1] == 0) & (k[:, 2] == 0))

    def coco17(self, joint_names: Seq[str], visibility: str = VISIBILITY_FLAG) -> np.ndarray:
        """[17, 3] COCO-order (x, y, v), the file's pixel indices; v = 2 visible, 1 occluded
        (see the module's docstring), absent and unmapped joints (0, 0, 0)."""
        k, present = self.keypoints, self.present
        flag = k[:, 2]
        code = np.where(flag >= 2, 2, 1) if visibility == VISIBILITY_COCO else np.where(flag > 0, 2, 1)
        own = np.where(present[:, None], np.column_stack([k[:, :2], code]), 0.0)
        return coco_joint_set(joint_names).to_coco(own)

    def to_pose(self, joint_names: Seq[str]) -> Pose:
        """COCO-17 `Pose` (joints matched by name; others dropped, missing ones score 0),
        in continuous coordinates; a joint's score is its file score, else 1."""
        kps = index_to_continuous(self.coco17(joint_names))
        conf = np.ones(len(self.keypoints)) if self.scores is None else self.scores
        idx = coco_joint_set(joint_names).coco_index()
        conf17 = np.zeros(NUM_KEYPOINTS, np.float32)
        conf17[idx[idx >= 0]] = np.maximum(conf[idx >= 0], 1e-3)
        kps[:, 2] = np.where(kps[:, 2] > 0, conf17, 0.0)
        return Pose(kps, self.score if self.score is not None else 1.0, self.track_id)

    @classmethod
    def from_pose(cls, pose: Pose, joint_names: Seq[str]) -> "Person":
        """A predicted person in `joint_names` order (file pixel indices); undetected or
        unknown joints absent."""
        kps = np.zeros((len(joint_names), 3))
        scores = np.zeros(len(joint_names))
        index_kps = continuous_to_index(pose.keypoints, pose.detected)
        for j, name in enumerate(joint_names):
            k = KEYPOINT_INDEX.get(name)
            if k is None or pose.keypoints[k, 2] <= 0:
                continue
            kps[j] = (index_kps[k, 0], index_kps[k, 1], 1.0)
            scores[j] = pose.keypoints[k, 2]
        return cls(kps, pose.track_id, scores, None, pose.score)


@dataclass
class Frame:
    file_name: str
    frame_id: int
    image_id: int
    people: List[Person] = field(default_factory=list)
    is_labeled: bool = True
    ignore_regions: List[np.ndarray] = field(default_factory=list)  # polygons [N, 2]
    size: Optional[tuple] = None     # (height, width) when the file states it (2018)


@dataclass
class Sequence:
    name: str
    joint_names: tuple
    frames: List[Frame] = field(default_factory=list)
    split: str = ""          # "train"/"test" when the source says so (Bonn)
    source: str = ""         # the file it came from, for error messages
    visibility: str = VISIBILITY_FLAG   # how the keypoints' third value reads

    def coco17(self, frame: Frame) -> np.ndarray:
        """[N, 17, 3] the frame's people in COCO order (x, y, v): the file's pixel indices,
        v = 2 visible, 1 occluded, 0 absent (see the module's docstring)."""
        out = [p.coco17(self.joint_names, self.visibility) for p in frame.people]
        return np.asarray(out, np.float32).reshape(len(out), NUM_KEYPOINTS, 3)

    def labelled(self) -> np.ndarray:
        """Boolean [17]: the COCO keypoints this file's joints can label."""
        return coco_joint_set(self.joint_names).labelled()

    def poses(self) -> List[List[Pose]]:
        """Per frame, the people as COCO-17 `Pose`s in continuous coordinates (track ids kept)."""
        return [[p.to_pose(self.joint_names) for p in f.people] for f in self.frames]


# --------------------------------------------------------------------------------------
# Reading
#
# The parse functions raise a PoseTfError naming the file and record for anything
# malformed. Given a `problems` list instead, they report a malformed frame (2017 entry,
# 2018 image or one of its annotations) there and leave the frame out (the converter's
# mode: one bad record must not stop a conversion); evaluation reads strictly.

def _load_json(path) -> dict:
    data = load_json(path, "PoseTrack file")
    if not isinstance(data, dict):
        raise PoseTfError(f"{path}: top level must be a JSON object")
    return data


def _need(record: dict, key: str, where: str):
    try:
        return record[key]
    except (KeyError, TypeError):
        raise PoseTfError(f"{where}: missing key {key!r}") from None


def _scalar(value, default=None):
    """2017 files wrap scalars in 1-element lists (a MATLAB export): unwrap."""
    while isinstance(value, list):
        if not value:
            return default
        value = value[0]
    return default if value is None else value


def _number(record: dict, key: str, where: str) -> float:
    value = _scalar(_need(record, key, where))
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise PoseTfError(f"{where}: {key!r} is not a number ({value!r:.40})") from None
    if not math.isfinite(out):
        raise PoseTfError(f"{where}: {key!r} is not finite")
    return out


def _visible_flag(point: dict) -> float:
    """A 2017 point's is_visible; absent = visible (poseval's convert.py writes 1)."""
    value = _scalar(point.get("is_visible"), 1)
    if isinstance(value, str):
        return 0.0 if value.strip().lower() in ("0", "false") else 1.0
    return float(value)


def _tolerant(problems, where, parse):
    """parse() -> its result; in the lenient mode a PoseTfError (or a malformed value) is
    reported and None returned."""
    try:
        return parse()
    except (PoseTfError, KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        message = str(exc) if isinstance(exc, PoseTfError) else f"{where}: {exc or type(exc).__name__}"
        if problems is None:
            if isinstance(exc, PoseTfError):
                raise
            raise PoseTfError(message) from None
        problems.append(f"{message}; frame skipped")
        return None


def read_sequences(path) -> List[Sequence]:
    """All sequences in a file (2018, 2017 or Bonn tracks JSON) or a folder of *.json files."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise PoseTfError(f"{path}: folder holds no .json files")
        return [s for f in files for s in read_sequences(f)]
    data = _load_json(path)
    if "annolist" in data:
        return [parse_posetrack17(data, str(path))]
    if "videos" in data:
        return _parse_bonn(data, str(path))
    if "images" in data:
        return [parse_posetrack18(data, str(path))]
    raise PoseTfError(f"{path}: not a PoseTrack file (expected key 'images', 'annolist' or 'videos')")


def read_posetrack18(path) -> Sequence:
    return parse_posetrack18(_load_json(path), os.fspath(path))


def read_posetrack17(path) -> Sequence:
    return parse_posetrack17(_load_json(path), os.fspath(path))


def parse_posetrack18(data: dict, source: str, problems: Optional[list] = None) -> Sequence:
    """A 2018 (COCO-style) document; see the module's docstring for the rules."""
    cats = _need(data, "categories", source)
    if not isinstance(cats, list) or len(cats) != 1:
        raise PoseTfError(f"{source}: 'categories' must hold exactly one category (person)")
    names = tuple(_need(cats[0], "keypoints", f"{source}: categories[0]"))
    images = _need(data, "images", source)
    frames, by_id, bad = [], {}, set()
    for i, info in enumerate(images):
        where = f"{source}: images[{i}]"
        frame = _tolerant(problems, where, lambda: _frame18(info, i, where))
        if frame is not None:
            frames.append(frame)
            by_id[frame.image_id] = frame
    for i, ann in enumerate(data.get("annotations") or []):      # none: nobody in any frame
        where = f"{source}: annotations[{i}]"

        def parse():
            image_id = _need(ann, "image_id", where)
            if image_id not in by_id:
                raise PoseTfError(f"{where}: image_id {image_id!r} is not in 'images'")
            return image_id, _person18(ann, len(names), where)

        parsed = _tolerant(problems, where, parse)
        if parsed is None:
            if isinstance(ann, dict) and ann.get("image_id") in by_id:
                bad.add(ann["image_id"])
            continue
        by_id[parsed[0]].people.append(parsed[1])
    frames = [f for f in frames if f.image_id not in bad]
    name = Path(source).stem
    if images and isinstance(images[0], dict):
        name = str(images[0].get("vid_id", name))
    # The Bonn clips' COCO-style export lists the 14 mpii14 joints and COCO's visibility codes.
    visibility = VISIBILITY_COCO if names == JOINT_SETS["mpii14"].names else VISIBILITY_FLAG
    return Sequence(name=name, joint_names=names, frames=frames, source=source,
                    visibility=visibility)


def _frame18(info: dict, i: int, where: str) -> Frame:
    image_id = _need(info, "id", where)
    size = (int(info["height"]), int(info["width"])) if "height" in info and "width" in info else None
    return Frame(file_name=str(info.get("file_name", "")),
                 frame_id=int(info.get("frame_id", i)), image_id=image_id,
                 is_labeled=bool(info.get("is_labeled", True)),
                 ignore_regions=_regions18(info), size=size)


def _regions18(info: dict) -> List[np.ndarray]:
    xs, ys = info.get("ignore_regions_x") or [], info.get("ignore_regions_y") or []
    return [np.stack([np.asarray(x, float), np.asarray(y, float)], 1)
            for x, y in zip(xs, ys) if len(x) == len(y) and len(x) >= 3]


def _person18(ann: dict, num_joints: int, where: str) -> Person:
    kps = np.asarray(ann.get("keypoints") or np.zeros(3 * num_joints), np.float64)
    if kps.size != 3 * num_joints:
        raise PoseTfError(f"{where}: 'keypoints' has {kps.size} values, expected {3 * num_joints}")
    if not np.isfinite(kps).all():
        raise PoseTfError(f"{where}: 'keypoints' holds NaN or infinity")
    scores = ann.get("scores")
    if scores is not None and len(scores) == 0:
        scores = None
    if scores is not None and len(scores) != num_joints:
        raise PoseTfError(f"{where}: 'scores' has {len(scores)} values, expected {num_joints}")
    if scores is not None and not np.isfinite(np.asarray(scores, np.float64)).all():
        # a NaN score would sort arbitrarily in the AP ranking (null reads as NaN too)
        raise PoseTfError(f"{where}: 'scores' holds NaN, infinity or null")
    head = None
    if ann.get("bbox_head"):         # official 2018: x, y, w, h
        x, y, w, h = ann["bbox_head"]
        head = (x, y, x + w, y + h)
    elif ann.get("head_rect"):       # Bonn conversion: x1, y1, x2, y2
        head = ann["head_rect"]
    box = _box(ann.get("bbox"))
    track = ann.get("track_id")
    return Person(kps, None if track is None else int(track), scores, head, ann.get("score"), box)


def _box(value) -> Optional[np.ndarray]:
    """A person box x, y, w, h; anything else is no box (poseval never reads it)."""
    try:
        box = np.asarray(value, np.float64).reshape(-1)
    except (TypeError, ValueError):
        return None
    ok = box.shape == (4,) and np.isfinite(box).all() and (box[2:] >= 0).all()
    return box if ok else None


def parse_posetrack17(data: dict, source: str, problems: Optional[list] = None) -> Sequence:
    """A 2017 annolist document; see the module's docstring for the rules."""
    frames = []
    for i, entry in enumerate(_need(data, "annolist", source)):
        where = f"{source}: annolist[{i}]"
        frame = _tolerant(problems, where, lambda: _frame17(entry, i, where))
        if frame is not None:
            frames.append(frame)
    name = Path(frames[0].file_name).parent.name if frames and frames[0].file_name else Path(source).stem
    return Sequence(name=name or Path(source).stem, joint_names=POSETRACK17_JOINTS,
                    frames=frames, source=source)


def _frame17(entry: dict, i: int, where: str) -> Frame:
    image = _scalar(_need(entry, "image", where), {})
    people = [_person17(r, f"{where}.annorect[{j}]")
              for j, r in enumerate(entry.get("annorect") or [])]
    return Frame(str(image.get("name", "")), int(_scalar(entry.get("imgnum"), i + 1)) - 1, i,
                 people, bool(int(_scalar(entry.get("is_labeled"), 1))),
                 _regions17(entry.get("ignore_regions") or [], where))


def _regions17(regions, where: str) -> List[np.ndarray]:
    out = []
    for r, region in enumerate(regions):
        pts = [(_number(p, "x", f"{where}.ignore_regions[{r}]"),
                _number(p, "y", f"{where}.ignore_regions[{r}]")) for p in region.get("point") or []]
        if len(pts) >= 3:
            out.append(np.asarray(pts, float))
    return out


def _person17(rect: dict, where: str) -> Person:
    n = len(POSETRACK17_JOINTS)
    kps, scores, any_score = np.zeros((n, 3)), np.zeros(n), False
    # poseval reads annopoints[0] only (one entry per rect in 2017 files): so do we.
    annopoints = rect.get("annopoints") or []
    points = annopoints[0].get("point") if annopoints and isinstance(annopoints[0], dict) else None
    for k, p in enumerate(points or []):
        at = f"{where}.point[{k}]"
        pid = int(_scalar(_need(p, "id", at), -1))
        if not 0 <= pid < n:
            raise PoseTfError(f"{at}: joint id {pid} outside 0..{n - 1}")
        # Every listed point exists (poseval ignores is_visible); the flag says occluded (0) or
        # visible (1, or no key). A point at exactly (0, 0) flagged 0 would read as absent;
        # poseval would count it. Such points do not occur in real files.
        kps[pid] = (_number(p, "x", at), _number(p, "y", at), _visible_flag(p))
        if "score" in p:
            scores[pid], any_score = _number(p, "score", at), True
    head = None
    if all(k in rect for k in ("x1", "y1", "x2", "y2")):
        head = tuple(_number(rect, k, where) for k in ("x1", "y1", "x2", "y2"))
    track = _scalar(rect.get("track_id"))
    score = _scalar(rect.get("score"))
    return Person(kps, None if track is None else int(track), scores if any_score else None, head,
                  None if score is None else float(score))


# --------------------------------------------------------------------------------------
# Bonn Multi-Person PoseTrack (tracks_all_videos.json + annolist/{train,test}/annolist.mat)

def _parse_bonn(data: dict, source: str, annolist_dir=None) -> List[Sequence]:
    ids = _need(data, "joint_mpii_ids", source)
    names = JOINT_SETS["mpii14"].names
    if len(ids) != len(names):
        raise PoseTfError(f"{source}: 'joint_mpii_ids' has {len(ids)} joints, expected {len(names)}")
    sequences = []
    for v, video in enumerate(_need(data, "videos", source)):
        where = f"{source}: videos[{v}]"
        frames = []
        for f, people in enumerate(_need(video, "frames", where)):
            frames.append(Frame(f"{f + 1:05d}.jpg", f, f, [
                _bonn_person(p, f"{where}.frames[{f}][{k}]") for k, p in enumerate(people)]))
        sequences.append(Sequence(str(_need(video, "name", where)), names, frames,
                                  split=str(video.get("split", "")), source=source))
    return sequences


def _bonn_person(record: dict, where: str) -> Person:
    person = Person(_need(record, "keypoints", where), int(_need(record, "track_id", where)))
    if not np.isfinite(person.keypoints).all():
        raise PoseTfError(f"{where}: 'keypoints' holds NaN or infinity")
    return person


def read_bonn(tracks_json, annolist_dir=None) -> List[Sequence]:
    """The Bonn videos; with `annolist_dir` (holding train/ and test/annolist.mat) each person
    also gets its head rectangle, and the split is taken from which .mat lists the video.

    Correspondence (checked on all 14,574 person-frames): a video's `name` in the JSON is
    the `name` field of one entry of `annolist.mat`; the JSON person with `track_id` t in
    frame f is `annopoints[t, f]` of that entry (same joint coordinates).
    """
    sequences = _parse_bonn(_load_json(tracks_json), os.fspath(tracks_json))
    if annolist_dir is not None:
        _attach_annolist(sequences, Path(annolist_dir))
    return sequences


def annolist_video_names(mat_path) -> List[str]:
    """Video names listed in a Bonn `annolist.mat` (the split it defines)."""
    return [str(e.name) for e in _load_annolist(mat_path)]


def _load_annolist(mat_path):
    import scipy.io

    mat_path = require_file(mat_path, "annolist file")
    try:
        mat = scipy.io.loadmat(mat_path, struct_as_record=False, squeeze_me=True)
    except Exception as exc:  # scipy raises several types for bad files
        raise PoseTfError(f"{mat_path}: cannot read MATLAB file: {exc}") from None
    if "annolist" not in mat:
        raise PoseTfError(f"{mat_path}: no variable 'annolist'")
    return np.atleast_1d(mat["annolist"])


def _attach_annolist(sequences: List[Sequence], folder: Path) -> None:
    by_name = {s.name: s for s in sequences}
    for split in ("train", "test"):
        for entry in _load_annolist(folder / split / "annolist.mat"):
            seq = by_name.get(str(entry.name))
            if seq is None:
                continue
            seq.split = split
            annopoints = np.asarray(entry.annopoints, object).reshape(
                int(entry.num_persons), int(entry.num_frames))
            for f, frame in enumerate(seq.frames):
                for person in frame.people:
                    rect = np.atleast_1d(getattr(annopoints[person.track_id, f], "head_rect", []))
                    if rect.size == 4:
                        person.head_rect = rect.astype(np.float64)
    for seq in sequences:
        fill_missing_head_rects(seq)


# MPII head rectangles vs the upper-neck/head-top segment L: 0.6 * diagonal = 0.75 * L
# (median over the 9,160 Bonn person-frames that have both; 10-90 %: 0.70-0.83).
_HEADSIZE_PER_NECK_TOP = 0.75


def fill_missing_head_rects(seq: Sequence) -> None:
    """Give every person without a head rectangle one (5,186 Bonn person-frames lack it).

    From the neck and head-top joints when both exist (a square whose PCKh head size is
    0.75 x their distance), else the median head size of the same track, else of the video.
    """
    names = list(seq.joint_names)
    if "upper_neck" not in names or "head_top" not in names:
        return
    neck, top = names.index("upper_neck"), names.index("head_top")
    sizes = {}
    for frame in seq.frames:
        for p in frame.people:
            if p.head_rect is not None:
                sizes.setdefault(p.track_id, []).append(head_size(p.head_rect))
            elif p.present[neck] and p.present[top]:
                centre = 0.5 * (p.keypoints[neck, :2] + p.keypoints[top, :2])
                size = _HEADSIZE_PER_NECK_TOP * np.linalg.norm(p.keypoints[neck, :2] - p.keypoints[top, :2])
                p.head_rect = _square_rect(centre, max(size, 1.0))
                sizes.setdefault(p.track_id, []).append(head_size(p.head_rect))
    video = [s for v in sizes.values() for s in v]
    for frame in seq.frames:
        for p in frame.people:
            if p.head_rect is None and p.present.any():
                pool = sizes.get(p.track_id) or video or [20.0]
                centre = p.keypoints[p.present, :2].mean(0)
                p.head_rect = _square_rect(centre, float(np.median(pool)))


def _square_rect(centre, size) -> np.ndarray:
    half = size / (0.6 * np.sqrt(2.0)) / 2.0  # side s with 0.6 * s * sqrt(2) == size
    return np.array([centre[0] - half, centre[1] - half, centre[0] + half, centre[1] + half])


def head_size(rect) -> float:
    """poseval's PCKh reference: 0.6 x the head rectangle's diagonal."""
    x1, y1, x2, y2 = rect
    return 0.6 * float(np.hypot(x2 - x1, y2 - y1))


# --------------------------------------------------------------------------------------
# Writing

def sequence_from_poses(name: str, frames_poses: List[List[Pose]], file_names: List[str],
                        joint_names: Seq[str] = POSETRACK18_JOINTS) -> Sequence:
    """Tracked poses -> a prediction `Sequence` (PoseTrack 2018 joints by default)."""
    if len(file_names) != len(frames_poses):
        raise ValueError("one file name per frame is needed")
    frames = [Frame(fn, i, i, [Person.from_pose(p, joint_names) for p in poses])
              for i, (fn, poses) in enumerate(zip(file_names, frames_poses))]
    return Sequence(name=name, joint_names=tuple(joint_names), frames=frames)


def to_posetrack18(seq: Sequence) -> dict:
    """The 2018 JSON document of one sequence (dict), as poseval's `Video.from_new` reads it."""
    images, annotations = [], []
    for f in seq.frames:
        images.append({"id": int(f.image_id), "file_name": f.file_name, "frame_id": int(f.frame_id),
                       "vid_id": seq.name, "nframes": len(seq.frames),
                       "is_labeled": bool(f.is_labeled), "has_no_densepose": True})
        if f.ignore_regions:
            images[-1]["ignore_regions_x"] = [r[:, 0].tolist() for r in f.ignore_regions]
            images[-1]["ignore_regions_y"] = [r[:, 1].tolist() for r in f.ignore_regions]
        for k, p in enumerate(f.people):
            annotations.append(_annotation18(p, f, k, len(seq.joint_names)))
    return {"images": images, "annotations": annotations, "categories": [{
        "id": 1, "name": "person", "supercategory": "person",
        "keypoints": list(seq.joint_names),
        "skeleton": _POSETRACK18_SKELETON if tuple(seq.joint_names) == POSETRACK18_JOINTS else []}]}


def _annotation18(p: Person, f: Frame, index: int, num_joints: int) -> dict:
    kps = np.where(p.present[:, None], p.keypoints, 0.0)
    ann = {"id": int(f.image_id) * 100 + index, "image_id": int(f.image_id), "category_id": 1,
           "track_id": None if p.track_id is None else int(p.track_id),
           "keypoints": [round(float(v), 3) for v in kps.reshape(-1)]}
    if p.scores is not None:
        ann["scores"] = [round(float(v), 5) for v in p.scores]
    if p.score is not None:
        ann["score"] = round(float(p.score), 5)
    if p.present.any():
        pts = p.keypoints[p.present, :2]
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        ann["bbox"] = [round(float(v), 3) for v in (x0, y0, x1 - x0, y1 - y0)]
    if p.head_rect is not None:
        x1, y1, x2, y2 = (float(v) for v in p.head_rect)
        ann["bbox_head"] = [round(v, 3) for v in (x1, y1, x2 - x1, y2 - y1)]
    return ann


def to_posetrack17(seq: Sequence) -> dict:
    """The 2017 annolist document; joints are matched by name onto poseval's 15 ids."""
    ids = {name: POSETRACK17_JOINTS.index(name) for name in seq.joint_names
           if name in POSETRACK17_JOINTS}
    annolist = []
    for f in seq.frames:
        rects = [_annorect17(p, seq.joint_names, ids) for p in f.people]
        entry = {"image": [{"name": f.file_name}], "imgnum": [int(f.frame_id) + 1],
                 "annorect": rects, "is_labeled": [1 if f.is_labeled else 0]}
        if f.ignore_regions:
            entry["ignore_regions"] = [{"point": [{"x": [float(x)], "y": [float(y)]} for x, y in r]}
                                       for r in f.ignore_regions]
        annolist.append(entry)
    return {"annolist": annolist}


def _annorect17(p: Person, names, ids) -> dict:
    points = []
    for j, name in enumerate(names):
        if name not in ids or not p.present[j]:
            continue
        point = {"id": [ids[name]], "x": [float(p.keypoints[j, 0])], "y": [float(p.keypoints[j, 1])],
                 "is_visible": [int(p.keypoints[j, 2] > 0)]}
        if p.scores is not None:
            point["score"] = [float(p.scores[j])]
        points.append(point)
    rect = {"track_id": [None if p.track_id is None else int(p.track_id)],
            "annopoints": [{"point": points}]}
    if p.head_rect is not None:
        for key, v in zip(("x1", "y1", "x2", "y2"), p.head_rect):
            rect[key] = [float(v)]
    if p.score is not None:
        rect["score"] = [float(p.score)]
    return rect


def write_posetrack18(seq: Sequence, path, info: Optional[dict] = None) -> None:
    """`info`: a COCO-style top-level "info" object (poseval reads only images,
    annotations and categories)."""
    document = to_posetrack18(seq)
    if info:
        document = {"info": info, **document}
    write_json_atomic(path, document)


def write_posetrack17(seq: Sequence, path) -> None:
    write_json_atomic(path, to_posetrack17(seq))
