"""The one keypoint convention of pose-tf, and the network layouts mapped onto it.

Inside the package every person has the 17 COCO keypoints, in COCO order. Dataset
adapters map their own joints onto these and flag which of the 17 they really label;
networks may predict in another *layout* (e.g. the 18-part OpenPose layout with a neck)
and `Layout.to_coco` maps their parts back. The OpenPose neck is derived, never stored.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Tuple

import numpy as np

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = len(COCO_KEYPOINTS)
KEYPOINT_INDEX = {name: i for i, name in enumerate(COCO_KEYPOINTS)}

# Index of the mirrored joint, for horizontal flips (left <-> right).
COCO_FLIP = np.array([0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15], np.int32)

# Per-keypoint falloff of COCO's Object Keypoint Similarity (pycocotools' values).
COCO_SIGMAS = np.array(
    [.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89],
    np.float32) / 10.0

# The official COCO skeleton (0-based), used for drawing.
COCO_SKELETON = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6), (5, 7),
    (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)


@dataclass(frozen=True)
class Layout:
    """How a network's output channels are organised.

    Output tensor: [h, w, C] with `num_parts` heatmaps, then a background channel if
    `has_background`, then 2 PAF channels per limb. `paf_channels[l]` gives the (x, y)
    channel pair of limb l, relative to the first PAF channel. `to_coco[k]` is the part
    index that gives COCO keypoint k.
    """

    name: str
    part_names: tuple
    limbs: tuple                 # ((part_a, part_b), ...) in grouping order
    paf_channels: tuple          # ((cx, cy), ...) per limb, relative to the PAF block
    to_coco: tuple               # part index for each of the 17 COCO keypoints
    has_background: bool = True
    flip_parts: tuple = field(default=())   # mirrored part index per part

    @property
    def num_parts(self) -> int:
        return len(self.part_names)

    @property
    def num_limbs(self) -> int:
        return len(self.limbs)

    @property
    def paf_offset(self) -> int:
        return self.num_parts + int(self.has_background)

    @property
    def num_channels(self) -> int:
        return self.paf_offset + 2 * self.num_limbs

    def limb_array(self) -> np.ndarray:
        return np.asarray(self.limbs, np.int32).reshape(-1, 2)

    def paf_channel_array(self) -> np.ndarray:
        return np.asarray(self.paf_channels, np.int32).reshape(-1, 2)

    def flip_limbs(self) -> np.ndarray:
        """Index of the mirrored limb for each limb (a limb maps to itself if symmetric)."""
        index = {tuple(l): i for i, l in enumerate(self.limbs)}
        out = []
        for a, b in self.limbs:
            fa, fb = self.flip_parts[a], self.flip_parts[b]
            out.append(index[(fa, fb)] if (fa, fb) in index else index[(fb, fa)])
        return np.asarray(out, np.int32)

    def flip_channels(self) -> Tuple[np.ndarray, np.ndarray]:
        """(index [C] int32, sign [C] float32): maps predicted on a mirrored image, mirrored
        back along x, become the original image's maps as `sign * mirrored[..., index]`.
        Parts swap sides; a PAF takes its mirrored limb's channels, its x component negated,
        and both components negated where the mirrored limb runs the other way."""
        index = np.arange(self.num_channels, dtype=np.int32)
        sign = np.ones(self.num_channels, np.float32)
        index[: self.num_parts] = self.flip_parts
        channels = self.paf_channel_array() + self.paf_offset
        for limb, mirror in enumerate(self.flip_limbs()):
            a, b = self.limbs[limb]
            same_direction = tuple(self.limbs[mirror]) == (self.flip_parts[a], self.flip_parts[b])
            direction = 1.0 if same_direction else -1.0
            (cx, cy), (mx, my) = channels[limb], channels[mirror]
            index[mx], sign[mx] = cx, -direction
            index[my], sign[my] = cy, direction
        return index, sign

    def split(self, maps: np.ndarray):
        """Split [..., C] maps into (part heatmaps without background, PAFs)."""
        return maps[..., : self.num_parts], maps[..., self.paf_offset:]


def _k(*names):
    return tuple(KEYPOINT_INDEX[n] for n in names)


# Limbs of our own networks over COCO-17, torso first so that greedy assembly grows people
# from their most reliable connections outwards. Shoulder-nose limbs keep the head attached
# when eyes and ears are not visible.
_COCO17_LIMBS = (
    _k("left_shoulder", "right_shoulder"), _k("left_shoulder", "left_hip"),
    _k("right_shoulder", "right_hip"), _k("left_hip", "right_hip"),
    _k("left_shoulder", "left_elbow"), _k("left_elbow", "left_wrist"),
    _k("right_shoulder", "right_elbow"), _k("right_elbow", "right_wrist"),
    _k("left_hip", "left_knee"), _k("left_knee", "left_ankle"),
    _k("right_hip", "right_knee"), _k("right_knee", "right_ankle"),
    _k("left_shoulder", "nose"), _k("right_shoulder", "nose"),
    _k("nose", "left_eye"), _k("nose", "right_eye"),
    _k("left_eye", "left_ear"), _k("right_eye", "right_ear"),
    _k("left_shoulder", "left_ear"), _k("right_shoulder", "right_ear"),
)

COCO17 = Layout(
    name="coco17",
    part_names=COCO_KEYPOINTS,
    limbs=_COCO17_LIMBS,
    paf_channels=tuple((2 * i, 2 * i + 1) for i in range(len(_COCO17_LIMBS))),
    to_coco=tuple(range(NUM_KEYPOINTS)),
    has_background=True,
    flip_parts=tuple(int(i) for i in COCO_FLIP),
)

# tf-pose-estimation / OpenPose COCO layout: 18 parts (with neck) + background, 19 limbs.
# The PAF channel pairs were checked against the peer network's real output: each pair
# is the one whose field best aligns with the ground-truth limb direction on coco_mini.
OPENPOSE18 = Layout(
    name="openpose18",
    part_names=("nose", "neck", "right_shoulder", "right_elbow", "right_wrist",
                "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee",
                "right_ankle", "left_hip", "left_knee", "left_ankle", "right_eye",
                "left_eye", "right_ear", "left_ear"),
    limbs=((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
           (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
           (2, 16), (5, 17)),
    paf_channels=((12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1),
                  (2, 3), (4, 5), (6, 7), (8, 9), (10, 11), (28, 29), (30, 31), (34, 35),
                  (32, 33), (36, 37), (18, 19), (26, 27)),
    to_coco=(0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10),
    has_background=True,
    flip_parts=(0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16),
)

LAYOUTS = {layout.name: layout for layout in (COCO17, OPENPOSE18)}

# Parts of a layout that are not COCO keypoints but the midpoint of two of them, labelled
# when both are (OpenPose's neck, as its own training data derives it).
DERIVED_PARTS = {"neck": (KEYPOINT_INDEX["left_shoulder"], KEYPOINT_INDEX["right_shoulder"])}


def get_layout(name: str) -> Layout:
    from .errors import PoseTfError

    try:
        return LAYOUTS[name]
    except KeyError:
        raise PoseTfError(
            f"unknown layout {name!r}; known layouts: {', '.join(sorted(LAYOUTS))}") from None


# --------------------------------------------------------------------------------------
# Source joint sets: how each dataset's own joints map onto COCO-17. Joints a source does
# not have are flagged as unlabelled (never faked), so the loss can ignore them.

@dataclass(frozen=True)
class JointSet:
    name: str
    names: tuple                # the source's joint names, in its own order

    def coco_index(self) -> np.ndarray:
        """For each source joint, its COCO-17 index, or -1 if COCO has no such joint."""
        return np.array([KEYPOINT_INDEX.get(n, -1) for n in self.names], np.int32)

    def labelled(self) -> np.ndarray:
        """Boolean [17]: which COCO keypoints this source annotates."""
        out = np.zeros(NUM_KEYPOINTS, bool)
        idx = self.coco_index()
        out[idx[idx >= 0]] = True
        return out

    def to_coco(self, keypoints) -> np.ndarray:
        """Map [..., J, 3] source keypoints (x, y, v) to [..., 17, 3]; missing joints are 0."""
        keypoints = np.asarray(keypoints, np.float32)
        out = np.zeros(keypoints.shape[:-2] + (NUM_KEYPOINTS, 3), np.float32)
        idx = self.coco_index()
        out[..., idx[idx >= 0], :] = keypoints[..., idx >= 0, :]
        return out


_MIRROR = ("shoulder", "elbow", "wrist", "hip", "knee", "ankle")

JOINT_SETS = {s.name: s for s in (
    JointSet("coco17", COCO_KEYPOINTS),
    # MPII Human Pose, official order (pelvis/thorax/neck/head top have no COCO joint).
    JointSet("mpii16", ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
                        "left_ankle", "pelvis", "thorax", "upper_neck", "head_top",
                        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder",
                        "left_elbow", "left_wrist")),
    # Bonn Multi-Person PoseTrack (Iqbal et al. 2017): MPII joints without pelvis/thorax.
    JointSet("mpii14", ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
                        "left_ankle", "upper_neck", "head_top", "right_wrist", "right_elbow",
                        "right_shoulder", "left_shoulder", "left_elbow", "left_wrist")),
    # PoseTrack 2017/2018: COCO order, but slots 1/2 hold head_bottom/head_top, no ears.
    JointSet("posetrack", ("nose", "head_bottom", "head_top", "left_ear_unused",
                           "right_ear_unused") + COCO_KEYPOINTS[5:]),
    # AI Challenger keypoint set (14 joints).
    JointSet("aic14", ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                       "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle",
                       "left_hip", "left_knee", "left_ankle", "head_top", "neck")),
    # CrowdPose (14 joints).
    JointSet("crowdpose14", ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                             "left_wrist", "right_wrist", "left_hip", "right_hip",
                             "left_knee", "right_knee", "left_ankle", "right_ankle",
                             "head_top", "neck")),
    # CMU Panoptic "coco19" (hdPose3d_stage1_coco19).
    JointSet("panoptic19", ("neck", "nose", "body_center", "left_shoulder", "left_elbow",
                            "left_wrist", "left_hip", "left_knee", "left_ankle",
                            "right_shoulder", "right_elbow", "right_wrist", "right_hip",
                            "right_knee", "right_ankle", "left_eye", "left_ear",
                            "right_eye", "right_ear")),
    # NTU RGB+D / Kinect v2 (25 joints). Its "head" is the head centre, not the nose.
    JointSet("ntu25", ("spine_base", "spine_mid", "neck", "head", "left_shoulder",
                       "left_elbow", "left_wrist", "left_hand", "right_shoulder",
                       "right_elbow", "right_wrist", "right_hand", "left_hip", "left_knee",
                       "left_ankle", "left_foot", "right_hip", "right_knee", "right_ankle",
                       "right_foot", "spine_shoulder", "left_hand_tip", "left_thumb",
                       "right_hand_tip", "right_thumb")),
)}

# PoseTrack 2017 annolist JSON (poseval's `Joint`): MPII-like ids 0..14, no pelvis/thorax.
JOINT_SETS["posetrack17"] = JointSet(
    "posetrack17", ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee",
                    "left_ankle", "right_wrist", "right_elbow", "right_shoulder",
                    "left_shoulder", "left_elbow", "left_wrist", "head_bottom", "nose",
                    "head_top"))
