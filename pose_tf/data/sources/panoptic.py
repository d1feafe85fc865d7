"""CMU Panoptic Studio: 3D `hdPose3d_stage1_coco19` skeletons projected into each HD view.

Layout of one sequence (panoptic-toolbox):

    <seq>/calibration_<seq>.json        {"cameras": [{"name": "00_03", "type": "hd",
                                          "resolution": [w, h], "panel": 0, "node": 3,
                                          "K": 3x3, "distCoef": [k1, k2, p1, p2, k3],
                                          "R": 3x3, "t": [[tx], [ty], [tz]]}, ...]}
    <seq>/hdPose3d_stage1_coco19/body3DScene_<frame:08d>.json
                                        {"bodies": [{"id": 0, "joints19": [x, y, z, c] * 19}]}
    <seq>/hdImgs/<pp_nn>/<pp_nn>_<frame:08d>.jpg   (extracted by hdImgsExtractor.sh)

`--annotations` is the sequence folder, `--images` its hdImgs folder (or the sequence
folder). A joint is projected with the camera's pinhole model and lens distortion
(OpenCV's model, which the toolbox's `projectPoints` follows: x = K * distort(R X + t));
it is labelled (v = 2) when its confidence c > 0.1 (the toolbox's threshold), it lies
in front of the camera and inside the image; otherwise v = 0. Coordinates are in the
calibration's units (cm) throughout. Only HD cameras whose image folder exists are used;
bodies with no joint in a view are left out of that view. `frame_step` keeps every n-th
frame (consecutive 30 fps frames are near duplicates).
"""
from __future__ import annotations

import glob
import os
import re
import zlib

import numpy as np

from ...core.errors import PoseTfError
from ...core.keypoints import JOINT_SETS
from .base import ReadResult, box_of_keypoints, load_json, make_entry

NAME = "panoptic"
JOINT_SET = "panoptic19"
POSE_DIR = "hdPose3d_stage1_coco19"
MIN_CONFIDENCE = 0.1


def find_calibration(seq_dir: str) -> str:
    found = sorted(glob.glob(os.path.join(seq_dir, "calibration_*.json")))
    if not found:
        raise PoseTfError(f"{seq_dir}: no calibration_<seq>.json in the sequence folder")
    return found[0]


def hd_cameras(calibration_path: str) -> list:
    """The HD cameras of a calibration file, with numpy K, R, t, distCoef."""
    data = load_json(calibration_path)
    cams = []
    for i, cam in enumerate(data.get("cameras") or []):
        if cam.get("type") != "hd":
            continue
        try:
            cams.append({
                "name": str(cam["name"]),
                "K": np.asarray(cam["K"], np.float64).reshape(3, 3),
                "R": np.asarray(cam["R"], np.float64).reshape(3, 3),
                "t": np.asarray(cam["t"], np.float64).reshape(3),
                "dist": np.asarray(cam.get("distCoef", [0] * 5), np.float64).reshape(-1),
                "size": (int(cam["resolution"][1]), int(cam["resolution"][0])),   # h, w
            })
        except (KeyError, TypeError, ValueError) as exc:
            raise PoseTfError(f"{calibration_path}: camera {i}: missing/invalid {exc}") from None
    return cams


def project(points: np.ndarray, cam: dict):
    """[N, 3] world points -> ([N, 2] pixels, [N] depth in the camera)."""
    import cv2

    cam_pts = points @ cam["R"].T + cam["t"]
    rvec, _ = cv2.Rodrigues(cam["R"])
    pixels, _ = cv2.projectPoints(points.reshape(-1, 1, 3), rvec, cam["t"], cam["K"], cam["dist"])
    return pixels.reshape(-1, 2), cam_pts[:, 2]


def view_person(joints19: np.ndarray, cam: dict):
    """One body's [19, 4] (x, y, z, c) -> COCO-17 [17, 3] in this camera, or None."""
    pixels, depth = project(joints19[:, :3], cam)
    h, w = cam["size"]
    inside = ((joints19[:, 3] > MIN_CONFIDENCE) & (depth > 0) & (pixels[:, 0] >= 0)
              & (pixels[:, 0] <= w - 1) & (pixels[:, 1] >= 0) & (pixels[:, 1] <= h - 1))
    kp = np.zeros((19, 3), np.float32)
    kp[inside, :2] = pixels[inside]
    kp[inside, 2] = 2
    coco = JOINT_SETS[JOINT_SET].to_coco(kp)
    return coco if (coco[:, 2] > 0).any() else None


def _frame_files(seq_dir: str) -> list:
    pose_dir = os.path.join(seq_dir, POSE_DIR)
    if not os.path.isdir(pose_dir):
        raise PoseTfError(f"{seq_dir}: no {POSE_DIR}/ folder")
    out = []
    for name in sorted(os.listdir(pose_dir)):
        m = re.fullmatch(r"body3DScene_(\d+)\.json", name)
        if m:
            out.append((int(m.group(1)), os.path.join(pose_dir, name)))
    return out


def read(annotations, images, frame_step: int = 1, **_) -> ReadResult:
    seq_dir = os.fspath(annotations)
    images = os.fspath(images)
    if os.path.isdir(os.path.join(images, "hdImgs")):
        images = os.path.join(images, "hdImgs")
    seq = os.path.basename(os.path.normpath(seq_dir))
    cams = [c for c in hd_cameras(find_calibration(seq_dir))
            if os.path.isdir(os.path.join(images, c["name"]))]
    if not cams:
        raise PoseTfError(f"{images}: no HD camera image folder (e.g. 00_00/) found")
    seq_key = zlib.crc32(seq.encode()) & 0xFFFFF
    labelled = JOINT_SETS[JOINT_SET].labelled()
    entries, problems = [], []
    for frame, path in _frame_files(seq_dir)[::max(1, int(frame_step))]:
        try:
            bodies = [(int(b.get("id", -1)), _joints19(b)) for b in load_json(path)["bodies"]]
        except (KeyError, TypeError, ValueError, PoseTfError) as exc:
            problems.append(f"{os.path.basename(path)}: {str(exc) or type(exc).__name__}; frame skipped")
            continue
        for cam in cams:
            people = []
            for body_id, joints in bodies:
                kp = view_person(joints, cam)
                if kp is not None:
                    bbox = box_of_keypoints(kp)
                    people.append({"keypoints": kp, "bbox": bbox, "area": bbox[2] * bbox[3],
                                   "track_id": body_id})
            name = f"{cam['name']}/{cam['name']}_{frame:08d}.jpg"
            panel, node = (int(v) for v in cam["name"].split("_"))
            image_id = (seq_key << 40) | (panel << 37) | (node << 32) | frame
            entries.append(make_entry(
                NAME, image_id, f"{seq}/{name}", os.path.join(images, name), people, labelled,
                expected_size=cam["size"], record=f"{os.path.basename(path)} camera {cam['name']}",
                images_root=images))
    return ReadResult(entries, problems)


def _joints19(body) -> np.ndarray:
    j = np.asarray(body["joints19"], np.float64)
    if j.size != 19 * 4 or not np.isfinite(j).all():
        raise ValueError(f"body {body.get('id')}: joints19 must hold 76 finite numbers")
    return j.reshape(19, 4)
