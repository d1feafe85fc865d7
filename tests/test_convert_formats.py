"""Formats without a real sample here, on small files written by hand from their docs:
MPII's official .mat, PoseTrack 2017 annolist JSON, AI Challenger's official JSON,
CMU Panoptic (3D joints + calibration -> each HD view) and NTU RGB+D .skeleton files.
Expected values are computed by hand in the tests, independently of the readers, in the
sources' pixel indices (`as_record` adds the converter's +0.5).
"""
import json

import cv2
import numpy as np
import scipy.io

from convert_testutil import as_record, run_convert
from pose_tf.core.keypoints import JOINT_SETS, KEYPOINT_INDEX as K


def _jpeg(path, h, w, value=90):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), value, np.uint8))


# ---------------------------------------------------------------------------- MPII .mat

def _struct_array(dtype_names, rows):
    arr = np.zeros((1, len(rows)), dtype=[(n, "O") for n in dtype_names])
    for i, row in enumerate(rows):
        for n in dtype_names:
            arr[0, i][n] = row.get(n, np.zeros((0, 0)))
    return arr


def test_mpii_official_mat(tmp_path):
    """RELEASE.annolist(i).annorect(p).annopoints.point(j): id, x, y, is_visible (1-based px)."""
    points = _struct_array(["id", "x", "y", "is_visible"], [
        {"id": 0, "x": 11.0, "y": 41.0, "is_visible": 1},           # right ankle, visible
        {"id": 13, "x": 21.0, "y": 11.0, "is_visible": "0"},        # left shoulder, occluded
        {"id": 9, "x": 20.0, "y": 3.0, "is_visible": np.zeros((0, 0))},  # head top: no COCO joint
        {"id": 15, "x": 31.0, "y": 21.0, "is_visible": 1},          # left wrist
    ])
    person = {"x1": 15.0, "y1": 1.0, "x2": 25.0, "y2": 8.0, "annopoints": {"point": points},
              "scale": 0.2, "objpos": {"x": 21.0, "y": 21.0}}
    unannotated = {"scale": 0.1, "objpos": {"x": 41.0, "y": 31.0}}   # no annopoints
    rects = _struct_array(["x1", "y1", "x2", "y2", "annopoints", "scale", "objpos"],
                          [person, unannotated])
    annolist = _struct_array(["image", "annorect", "frame_sec", "vididx"], [
        {"image": {"name": "000000001.jpg"}, "annorect": rects},
        {"image": {"name": "000000002.jpg"}, "annorect": np.zeros((0, 0))},   # test image
    ])
    release = {"annolist": annolist, "img_train": np.array([[1, 0]]), "version": "12"}
    mat = tmp_path / "mpii_human_pose_v1_u12_1.mat"
    scipy.io.savemat(str(mat), {"RELEASE": release})
    _jpeg(tmp_path / "images" / "000000001.jpg", 50, 60)
    _jpeg(tmp_path / "images" / "000000002.jpg", 50, 60)

    summary, samples = run_convert("mpii", mat, tmp_path / "images", tmp_path / "out")
    assert list(samples) == ["000000001.jpg"]           # the test image has no joints
    s = samples["000000001.jpg"]
    expected = np.zeros((17, 3), np.float32)
    expected[K["right_ankle"]] = (10, 40, 2)
    expected[K["left_shoulder"]] = (20, 10, 1)
    expected[K["left_wrist"]] = (30, 20, 2)
    np.testing.assert_array_equal(s.keypoints[0], as_record(expected))
    np.testing.assert_array_equal(s.labelled, JOINT_SETS["mpii16"].labelled())
    np.testing.assert_allclose(s.bbox[0], [10, 10, 20, 30])
    # The unannotated person: box objpos +- scale * 100 = (40, 30) +- 10, 0-based.
    mask = s.ignore_mask() > 0
    ys, xs = np.nonzero(mask)
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (30, 49, 20, 39)
    assert s.image_id == 1


# ---------------------------------------------------------------------------- PoseTrack 2017

def test_posetrack2017_annolist(tmp_path):
    def pt(j, x, y, vis=None):
        p = {"id": [j], "x": [x], "y": [y]}
        if vis is not None:
            p["is_visible"] = [vis]
        return p

    frames = [
        {"image": [{"name": "images/bonn/000001_mpii/00000001.jpg"}], "imgnum": [1],
         "is_labeled": [1],
         "annorect": [
             {"x1": [40], "y1": [2], "x2": [50], "y2": [12], "track_id": [7],
              "annopoints": [{"point": [pt(13, 45.0, 10.0), pt(9, 40.0, 20.0, 0),
                                        pt(8, 50.0, 20.0, 1), pt(14, 45.0, 3.0)]}]},
             {"x1": [5], "y1": [5], "x2": [15], "y2": [15], "track_id": [8]},   # no joints
         ],
         "ignore_regions": [{"point": [{"x": [60], "y": [30]}, {"x": [79], "y": [30]},
                                       {"x": [79], "y": [49]}, {"x": [60], "y": [49]}]}]},
        {"image": [{"name": "images/bonn/000001_mpii/00000002.jpg"}], "is_labeled": [0],
         "annorect": []},
    ]
    ann = tmp_path / "000001_mpii.json"
    ann.write_text(json.dumps({"annolist": frames}))
    for f in frames:
        _jpeg(tmp_path / f["image"][0]["name"], 60, 80)
    summary, samples = run_convert("posetrack", ann, tmp_path, tmp_path / "out", prefix="pt17")
    assert list(samples) == ["images/bonn/000001_mpii/00000001.jpg"]   # unlabelled frame skipped
    s = next(iter(samples.values()))
    expected = np.zeros((17, 3), np.float32)
    expected[K["nose"]] = (45, 10, 2)
    expected[K["left_shoulder"]] = (40, 20, 1)
    expected[K["right_shoulder"]] = (50, 20, 2)
    np.testing.assert_array_equal(s.keypoints[0], as_record(expected))     # head top dropped
    assert s.track_id.tolist() == [7]
    mask = s.ignore_mask() > 0
    assert mask[8, 8] and mask[40, 70] and not mask[30, 30]        # head box + region
    assert s.labelled[K["nose"]] and not s.labelled[K["left_eye"]]


# ---------------------------------------------------------------------------- AI Challenger official

def test_aic_official_json(tmp_path):
    kps = [0] * 42
    kps[0:3] = [10, 20, 1]        # right shoulder, visible  -> v 2
    kps[9:12] = [30, 20, 2]       # left shoulder, occluded  -> v 1
    kps[12:15] = [5, 5, 3]        # left elbow, not labelled -> v 0
    kps[36:39] = [20, 2, 1]       # head top: no COCO joint
    data = [{"image_id": "abc123", "keypoint_annotations": {"human1": kps, "human2": [0, 0, 3] * 14},
             "human_annotations": {"human1": [5, 1, 35, 45], "human2": [40, 10, 50, 30]}}]
    (tmp_path / "keypoint_train_annotations.json").write_text(json.dumps(data))
    _jpeg(tmp_path / "img" / "abc123.jpg", 50, 60)
    summary, samples = run_convert("aic", tmp_path / "keypoint_train_annotations.json",
                                   tmp_path / "img", tmp_path / "out")
    s = samples["abc123.jpg"]
    expected = np.zeros((17, 3), np.float32)
    expected[K["right_shoulder"]] = (10, 20, 2)
    expected[K["left_shoulder"]] = (30, 20, 1)
    np.testing.assert_array_equal(s.keypoints[0], as_record(expected))
    np.testing.assert_allclose(s.bbox[0], [5, 1, 30, 44])
    assert (s.ignore_mask()[12:28, 42:48] == 255).all()      # human2 has no labelled joint
    assert not s.labelled[:5].any() and s.labelled[5:].all()


# ---------------------------------------------------------------------------- CMU Panoptic

def _panoptic_sequence(root):
    seq = root / "171204_pose1"
    f, cx, cy = 100.0, 80.0, 60.0
    K_ = [[f, 0, cx], [0, f, cy], [0, 0, 1]]
    cams = [
        # Looks down +z from 200 cm behind the origin.
        {"name": "00_00", "type": "hd", "resolution": [160, 120], "panel": 0, "node": 0,
         "K": K_, "distCoef": [0, 0, 0, 0, 0], "R": np.eye(3).tolist(), "t": [[0], [0], [200]]},
        # Same place with radial distortion k1.
        {"name": "00_01", "type": "hd", "resolution": [160, 120], "panel": 0, "node": 1,
         "K": K_, "distCoef": [0.5, 0, 0, 0, 0], "R": np.eye(3).tolist(), "t": [[0], [0], [200]]},
        # Turned around (180 deg about y): everybody is behind it.
        {"name": "00_02", "type": "hd", "resolution": [160, 120], "panel": 0, "node": 2,
         "K": K_, "distCoef": [0, 0, 0, 0, 0], "R": np.diag([-1.0, 1, -1]).tolist(),
         "t": [[0], [0], [-200]]},
        {"name": "50_01", "type": "kinect-color", "resolution": [1920, 1080], "panel": 50,
         "node": 1, "K": K_, "distCoef": [0] * 5, "R": np.eye(3).tolist(), "t": [[0], [0], [0]]},
    ]
    (seq / "hdPose3d_stage1_coco19").mkdir(parents=True)
    (seq / "calibration_171204_pose1.json").write_text(json.dumps({"cameras": cams}))
    joints = np.zeros((19, 4))
    joints[:, 3] = -1                               # not reconstructed
    # coco19 order: 0 neck 1 nose 2 body_center 3 l_shoulder 4 l_elbow ... 9 r_shoulder.
    joints[1] = (0, -40, 0, 0.9)                    # nose
    joints[3] = (20, -20, 0, 0.8)                   # left shoulder
    joints[9] = (-20, -20, 0, 0.05)                 # right shoulder, confidence too low
    joints[5] = (400, 0, 0, 0.9)                    # left wrist, projects outside the image
    joints[0] = (0, -30, 0, 0.9)                    # neck: no COCO joint
    body = {"id": 3, "joints19": joints.reshape(-1).tolist()}
    for frame in (0, 1, 2):
        (seq / "hdPose3d_stage1_coco19" / f"body3DScene_{frame:08d}.json").write_text(
            json.dumps({"version": 0.7, "univTime": 100.0 + frame, "fpsType": "hd_29_97",
                        "bodies": [body]}))
        for cam in ("00_00", "00_01", "00_02"):
            _jpeg(seq / "hdImgs" / cam / f"{cam}_{frame:08d}.jpg", 120, 160)
    return seq


def test_panoptic_projection_into_each_hd_view(tmp_path):
    seq = _panoptic_sequence(tmp_path)
    summary, samples = run_convert("panoptic", seq, seq / "hdImgs", tmp_path / "out",
                                   prefix="pan", frame_step=2)
    assert summary.images_skipped == 0
    assert sorted(samples) == sorted(f"171204_pose1/{c}/{c}_{f:08d}.jpg"
                                     for c in ("00_00", "00_01", "00_02") for f in (0, 2))
    # Pinhole by hand: u = f X / (Z + 200) + cx, v = f Y / (Z + 200) + cy.
    plain = samples["171204_pose1/00_00/00_00_00000000.jpg"]
    expected = np.zeros((17, 3), np.float32)
    expected[K["nose"]] = (80, 40, 2)
    expected[K["left_shoulder"]] = (90, 50, 2)
    np.testing.assert_allclose(plain.keypoints[0], as_record(expected), atol=1e-4)
    assert plain.track_id.tolist() == [3]
    np.testing.assert_array_equal(plain.labelled, JOINT_SETS["panoptic19"].labelled())
    # With k1: normalised (x, y) scaled by 1 + k1 r^2.
    dist = samples["171204_pose1/00_01/00_01_00000000.jpg"]
    for joint, (x, y) in ((K["nose"], (0.0, -0.2)), (K["left_shoulder"], (0.1, -0.1))):
        scale = 1 + 0.5 * (x * x + y * y)
        np.testing.assert_allclose(dist.keypoints[0, joint, :2],
                                   (100 * x * scale + 80.5, 100 * y * scale + 60.5), atol=1e-3)
    behind = samples["171204_pose1/00_02/00_02_00000000.jpg"]
    assert behind.num_people == 0


# ---------------------------------------------------------------------------- NTU RGB+D

def _ntu_body(body_id, joints):
    """joints: {index: (colorX, colorY, trackingState)}; others (-1, -1, 0)... as Kinect writes."""
    lines = [f"{body_id} 0 1 1 1 1 0 0.1 0.2 2", "25"]
    for j in range(25):
        cx, cy, state = joints.get(j, (500.0 + j, 300.0 + j, 0))
        lines.append(f"0.1 0.2 3.0 200.5 150.5 {cx} {cy} 0.9 0 0 0.1 {state}")
    return lines


def test_ntu_skeleton_colour_joints_on_video_frames(tmp_path):
    # NTU joint numbers (0-based): 4 left shoulder, 8 right shoulder, 6 left wrist, 3 head.
    frame0 = _ntu_body(72057594037931101, {4: (900.5, 400.25, 2), 8: (1000.0, 410.0, 1),
                                           6: (2500.0, 500.0, 2), 3: (950.0, 300.0, 2)})
    frame2 = (_ntu_body(72057594037931101, {4: (905.0, 402.0, 2)})
              + _ntu_body(72057594037931102, {8: (100.0, 200.0, 2)}))
    text = "\n".join(["3", "1", *frame0, "0", "2", *frame2]) + "\n"
    (tmp_path / "skel").mkdir()
    (tmp_path / "skel" / "S001C002P003R002A013.skeleton").write_text(text)
    (tmp_path / "skel" / "S001C002P003R002A014.skeleton").write_text("2\n1\n1 2 3\n")   # broken
    (tmp_path / "rgb").mkdir()
    writer = cv2.VideoWriter(str(tmp_path / "rgb" / "S001C002P003R002A013_rgb.avi"),
                             cv2.VideoWriter_fourcc(*"MJPG"), 30, (1920, 1080))
    for k in range(3):
        writer.write(np.full((1080, 1920, 3), 20 + 40 * k, np.uint8))
    writer.release()

    summary, samples = run_convert("ntu", tmp_path / "skel", tmp_path / "rgb", tmp_path / "out")
    assert summary.annotation_problems == 1 and "A014" in summary.problems[0]
    assert sorted(samples) == ["S001C002P003R002A013_rgb.avi/00000.jpg",
                               "S001C002P003R002A013_rgb.avi/00002.jpg"]   # frame 1: nobody
    s0 = samples["S001C002P003R002A013_rgb.avi/00000.jpg"]
    expected = np.zeros((17, 3), np.float32)
    expected[K["left_shoulder"]] = (900.5, 400.25, 2)
    expected[K["right_shoulder"]] = (1000.0, 410.0, 1)      # inferred -> occluded
    np.testing.assert_allclose(s0.keypoints[0], as_record(expected))    # wrist outside, head not a nose
    assert s0.track_id.tolist() == [72057594037931101]
    assert (s0.height, s0.width) == (1080, 1920)
    pixels = cv2.imdecode(np.frombuffer(s0.image_bytes, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert abs(pixels.mean() - 20) < 4
    s2 = samples["S001C002P003R002A013_rgb.avi/00002.jpg"]
    pixels = cv2.imdecode(np.frombuffer(s2.image_bytes, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert abs(pixels.mean() - 100) < 4                    # the right frame of the video
    assert s2.num_people == 2
    np.testing.assert_array_equal(s0.labelled, JOINT_SETS["ntu25"].labelled())
    assert not s0.labelled[:5].any()
