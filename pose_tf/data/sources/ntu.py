"""NTU RGB+D: the Kinect v2 skeletons' colour-frame 2D joints, on frames of the RGB videos.

A `.skeleton` file (format of the dataset's `read_skeleton_file.m`) is whitespace-
separated text:

    framecount
    per frame:  bodycount
      per body: bodyID clipedEdges handLeftConfidence handLeftState handRightConfidence
                handRightState isRestricted leanX leanY trackingState
                jointCount (25)
                per joint: x y z depthX depthY colorX colorY orientationW orientationX
                           orientationY orientationZ trackingState

`--annotations` is a .skeleton file or a folder of them; `--images` the folder of the
matching `<name>_rgb.avi` videos (1920x1080). Joint v: trackingState 2 (tracked) -> 2,
1 (inferred) -> 1, 0 (not tracked) -> 0; joints outside the frame get 0. The Kinect
"head" is the head centre, not the nose, so face joints are flagged unlabelled. Frames
where Kinect saw nobody are skipped (people may still be there: not a safe negative).
`frame_step` keeps every n-th frame.
"""
from __future__ import annotations

import os

import numpy as np

from ...core.errors import PoseTfError
from ...core.keypoints import JOINT_SETS
from .base import ReadResult, box_of_keypoints, make_entry

NAME = "ntu"
JOINT_SET = "ntu25"
COLOR_SIZE = (1080, 1920)     # h, w of the Kinect v2 colour camera
NUM_JOINTS = 25


class _Tokens:
    def __init__(self, text: str):
        self.items, self.pos = text.split(), 0

    def take(self, n=1):
        if self.pos + n > len(self.items):
            raise ValueError("file ends early")
        out = self.items[self.pos:self.pos + n]
        self.pos += n
        return out

    def int(self):
        return int(self.take()[0])


def parse_skeleton(text: str) -> list:
    """-> list over frames of lists of (body_id, joints [25, 3] colorX, colorY, state)."""
    tok = _Tokens(text)
    frames = []
    for _ in range(tok.int()):
        bodies = []
        for _ in range(tok.int()):
            body = tok.take(10)
            body_id = int(body[0])
            count = tok.int()
            joints = np.zeros((count, 3), np.float64)
            for j in range(count):
                values = tok.take(12)
                joints[j] = (float(values[5]), float(values[6]), int(values[11]))
            if count != NUM_JOINTS:
                raise ValueError(f"body {body_id}: {count} joints, expected {NUM_JOINTS}")
            bodies.append((body_id, joints))
        frames.append(bodies)
    return frames


def frame_person(joints: np.ndarray):
    """[25, 3] (colorX, colorY, trackingState) -> COCO-17 [17, 3], or None if empty."""
    h, w = COLOR_SIZE
    state = joints[:, 2].astype(int)
    inside = ((joints[:, 0] >= 0) & (joints[:, 0] <= w - 1)
              & (joints[:, 1] >= 0) & (joints[:, 1] <= h - 1) & np.isfinite(joints[:, :2]).all(1))
    kp = np.zeros((NUM_JOINTS, 3), np.float32)
    ok = inside & (state > 0)
    kp[ok, :2] = joints[ok, :2]
    kp[ok, 2] = np.where(state[ok] >= 2, 2, 1)
    coco = JOINT_SETS[JOINT_SET].to_coco(kp)
    return coco if (coco[:, 2] > 0).any() else None


def skeleton_files(annotations) -> list:
    path = os.fspath(annotations)
    if os.path.isdir(path):
        found = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".skeleton"))
        if not found:
            raise PoseTfError(f"{path}: no .skeleton files in this folder")
        return found
    return [path]


def read(annotations, images, frame_step: int = 1, **_) -> ReadResult:
    images = os.fspath(images)
    labelled = JOINT_SETS[JOINT_SET].labelled()
    entries, problems = [], []
    for path in skeleton_files(annotations):
        name = os.path.basename(path)[: -len(".skeleton")]
        try:
            with open(path, encoding="ascii") as f:
                frames = parse_skeleton(f.read())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{os.path.basename(path)}: {exc}; file skipped")
            continue
        video = os.path.join(images, f"{name}_rgb.avi")
        digits = int("".join(c for c in name if c.isdigit()) or 0)
        for index in range(0, len(frames), max(1, int(frame_step))):
            people = []
            for body_id, joints in frames[index]:
                kp = frame_person(joints)
                if kp is not None:
                    bbox = box_of_keypoints(kp)
                    people.append({"keypoints": kp, "bbox": bbox, "area": bbox[2] * bbox[3],
                                   "track_id": body_id % (1 << 62)})
            if not frames[index]:
                continue
            entries.append(make_entry(
                NAME, digits * 10000 + index, f"{name}_rgb.avi/{index:05d}.jpg", video, people,
                labelled, frame_index=index, expected_size=COLOR_SIZE,
                record=f"{os.path.basename(path)} frame {index}", images_root=images))
    return ReadResult(entries, problems)
