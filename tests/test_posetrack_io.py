"""One PoseTrack reader: the dataset converter and the tracking evaluation read the same
joints from the same file (pose_tf.io.posetrack), by poseval's rules.

The sample files are parsed through both paths (the converter, all the way to records,
and `read_sequences` -> `Sequence.poses()`, what tracking and fit-tracker use) and every
person must come out with the same keypoints, in the same continuous pixel convention.
"""
import json

import numpy as np
import pytest

from conftest import DATA, need
from convert_testutil import run_convert
from pose_tf.core.errors import PoseTfError
from pose_tf.core.keypoints import KEYPOINT_INDEX as K
from pose_tf.data.sources import posetrack as converter
from pose_tf.evaluation.posetrack import evaluate
from pose_tf.io.posetrack import read_sequences

PT18 = DATA / "format_samples" / "posetrack18"
BONN = DATA / "posetrack_bonn"
GOLDEN = DATA / "poseval_golden"

# (annotations, images root): 2018 files, the Bonn COCO-style export, poseval's 2017 files.
CASES = {
    "posetrack18_val": (PT18 / "annotations" / "test_posetrack18_val.json", PT18),
    "posetrack18_sequences": (PT18 / "annotations" / "val", PT18),
    "bonn_coco_style": (BONN / "tracks_060470979.json", BONN / "frames_060470979"),
    "posetrack17_gt": (GOLDEN / "annolist" / "gt_060470979.json", BONN / "frames_060470979"),
    "posetrack17_gt_ignore": (GOLDEN / "annolist" / "gt_ignore_060470979.json",
                              BONN / "frames_060470979"),
    "posetrack17_prediction": (GOLDEN / "annolist" / "pred_060470979.json",
                               BONN / "frames_060470979"),
    "posetrack18_prediction": (GOLDEN / "posetrack18_prediction_060470979.json", BONN),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_converter_and_tracking_reader_agree(tmp_path, case):
    ann, images = (need(p) for p in CASES[case])
    _, samples = run_convert("posetrack", ann, images, tmp_path, prefix="pt")
    entries = {e.filename: e for e in converter.read(ann, images).entries}
    people = checked = 0
    for seq in read_sequences(ann):
        for frame, poses, coco in zip(seq.frames, seq.poses(), map(seq.coco17, seq.frames)):
            if not frame.is_labeled:
                assert frame.file_name not in samples
                continue
            keep = [i for i, p in enumerate(poses) if p.detected.any()]
            s, e = samples[frame.file_name], entries[frame.file_name]
            assert len(s.keypoints) == len(keep), frame.file_name
            # Source level: the converter's entry is the reader's COCO-17 (pixel indices).
            np.testing.assert_array_equal(e.keypoints, coco[keep])
            for row, i in enumerate(keep):
                pose = poses[i]
                assert s.track_id[row] == pose.track_id
                # Records and Poses: the same continuous coordinates, the same joints.
                np.testing.assert_array_equal(s.keypoints[row, :, 2] > 0, pose.detected)
                np.testing.assert_array_equal(s.keypoints[row, :, :2], pose.keypoints[:, :2])
                checked += int(pose.detected.sum())
            people += len(keep)
    assert people == sum(len(s.keypoints) for s in samples.values()) and checked > 0


def test_posetrack17_gt_keypoints_are_the_files_points():
    """Independent of both paths: poseval's 2017 GT, point by point, +0.5 (continuous)."""
    ann = need(GOLDEN / "annolist" / "gt_060470979.json")
    names = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
             "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
             "left_wrist", None, "nose", None)
    (seq,) = read_sequences(ann)
    frames = json.loads(ann.read_text())["annolist"]
    for entry, poses in zip(frames, seq.poses()):
        assert len(poses) == len(entry["annorect"])
        for rect, pose in zip(entry["annorect"], poses):
            want = np.zeros((17, 3), np.float32)
            for p in rect["annopoints"][0]["point"]:
                if names[p["id"][0]]:
                    want[K[names[p["id"][0]]]] = (p["x"][0] + 0.5, p["y"][0] + 0.5, 1)
            np.testing.assert_allclose(pose.keypoints, want, atol=1e-4)
            assert pose.track_id == rect["track_id"][0]


# ---------------------------------------------------------------------------- the rules

def _annolist(tmp_path, rects, name="seq.json", frames=1):
    doc = {"annolist": [{"image": [{"name": f"images/x/{i:06d}.jpg"}], "imgnum": [i],
                         "is_labeled": [1], "annorect": rects} for i in range(1, frames + 1)]}
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def _pt(j, x, y, vis=None):
    p = {"id": [j], "x": [x], "y": [y]}
    if vis is not None:
        p["is_visible"] = [vis]
    return p


def test_annopoints_first_entry_and_is_visible(tmp_path):
    """annopoints[0] only (poseval); a listed point exists whatever its is_visible, which
    only says occluded (0 -> v 1) or visible (1 or absent -> v 2)."""
    rect = {"track_id": [3], "x1": [0], "y1": [0], "x2": [10], "y2": [10], "annopoints": [
        {"point": [_pt(9, 40.0, 20.0, 0), _pt(8, 50.0, 20.0, 1), _pt(13, 45.0, 10.0)]},
        {"point": [_pt(0, 30.0, 90.0, 1)]}]}          # a second entry: poseval never reads it
    path = _annolist(tmp_path, [rect], frames=2)
    (seq,) = read_sequences(path)
    (person,) = seq.frames[0].people
    assert person.present.sum() == 3                 # the evaluation's joints: all three listed
    coco = seq.coco17(seq.frames[0])[0]
    assert tuple(coco[K["left_shoulder"]]) == (40, 20, 1)
    assert tuple(coco[K["right_shoulder"]]) == (50, 20, 2)
    assert tuple(coco[K["nose"]]) == (45, 10, 2)
    assert not coco[K["right_ankle"]].any()
    entry = converter.read(path, tmp_path).entries[0]
    np.testing.assert_array_equal(entry.keypoints[0], coco)
    # The occluded shoulder is scored: GT against itself is perfect on the 3 listed joints.
    m = evaluate([seq], [seq])
    assert m["joints"] == ["right_shoulder", "left_shoulder", "nose"]
    assert m["mAP"] == pytest.approx(1.0) and m["MOTA"] == pytest.approx(1.0)


def test_posetrack18_only_000_is_absent(tmp_path):
    """2018: (0, 0, 0) is absent, any other keypoint exists (poseval's to_old); its third
    value is the is_visible flag; the ear slots are never annotated, never mapped."""
    names = ["nose", "head_bottom", "head_top", "left_ear", "right_ear", "left_shoulder",
             "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
             "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
    kps = np.zeros((17, 3))
    kps[0] = (10, 12, 1)
    kps[3] = (8, 12, 1)         # an ear slot: ignored
    kps[5] = (20, 30, 0)        # listed with flag 0: exists, occluded
    doc = {"categories": [{"name": "person", "keypoints": names}],
           "images": [{"id": 1, "file_name": "images/x/000000.jpg"}],
           "annotations": [{"image_id": 1, "track_id": 4, "keypoints": kps.reshape(-1).tolist(),
                            "bbox": [5, 5, 30, 40]}]}
    path = tmp_path / "x.json"
    path.write_text(json.dumps(doc))
    (seq,) = read_sequences(path)
    coco = seq.coco17(seq.frames[0])[0]
    assert tuple(coco[K["nose"]]) == (10, 12, 2)
    assert tuple(coco[K["left_shoulder"]]) == (20, 30, 1)
    assert not coco[K["left_ear"]].any() and not seq.labelled()[K["left_ear"]]
    (entry,) = converter.read(path, tmp_path).entries
    np.testing.assert_array_equal(entry.keypoints[0], coco)
    np.testing.assert_array_equal(entry.bbox[0], [5, 5, 30, 40])      # the file's box
    assert entry.track_id.tolist() == [4]


def test_malformed_frame_strict_for_evaluation_skipped_by_converter(tmp_path):
    good = {"track_id": [0], "annopoints": [{"point": [_pt(13, 5.0, 6.0)]}]}
    bad = {"track_id": [1], "annopoints": [{"point": [_pt(15, 5.0, 6.0)]}]}   # id outside 0..14
    doc = {"annolist": [
        {"image": [{"name": "images/x/000001.jpg"}], "annorect": [good]},
        {"image": [{"name": "images/x/000002.jpg"}], "annorect": [good, bad]}]}
    path = tmp_path / "seq.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PoseTfError, match=r"seq\.json: annolist\[1\]\.annorect\[1\]\.point\[0\]: joint id 15"):
        read_sequences(path)
    result = converter.read(path, tmp_path)
    assert [e.filename for e in result.entries] == ["images/x/000001.jpg"]
    assert len(result.problems) == 1 and "annolist[1]" in result.problems[0]
