"""Every converter on its real sample (../shared/data/format_samples), coco_mini and coco128.

Records are read back and compared with the source files, read independently here:
COCO-style files through pycocotools (`COCO`, `annToMask`) with joints matched by the
names the file's own category lists; MPII by its documented joint order.
"""
import json

import cv2
import numpy as np
import pytest

from conftest import DATA, need
from convert_testutil import assert_people_match, name_mapping, run_convert
from pose_tf.core.keypoints import JOINT_SETS

SAMPLES = DATA / "format_samples"


def _coco_reference(ann_file, vis_map=None):
    """{file_name: (people [17,3] list, ignore mask or None, (h, w))} via pycocotools."""
    from pycocotools.coco import COCO

    coco = COCO(str(ann_file))
    names = coco.loadCats(coco.getCatIds())[0]["keypoints"]
    mapping = name_mapping(names)
    out = {}
    for img in coco.dataset["images"]:
        people, mask = [], np.zeros((img["height"], img["width"]), bool)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img["id"], iscrowd=None)):
            src = np.asarray(ann["keypoints"], np.float32).reshape(-1, 3)
            kp = np.zeros((17, 3), np.float32)
            for j, c in mapping.items():
                v = vis_map[int(src[j, 2])] if vis_map else src[j, 2]
                if v > 0:
                    kp[c] = (src[j, 0], src[j, 1], v)
            if ann.get("iscrowd") or not (kp[:, 2] > 0).any():
                if ann.get("segmentation"):
                    mask |= coco.annToMask(ann).astype(bool)
                else:
                    x, y, w, h = ann["bbox"]
                    poly = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
                    mask |= _poly_mask(poly, mask.shape)
            else:
                people.append(kp)
        out[img["file_name"]] = (people, mask, (img["height"], img["width"]), img["id"])
    return out


def _poly_mask(poly, shape):
    from pycocotools import mask as mask_utils

    rle = mask_utils.frPyObjects([poly.reshape(-1).tolist()], *shape)
    return mask_utils.decode(mask_utils.merge(rle)).astype(bool)


def _check_coco_style(samples, reference, source, joint_set):
    assert set(samples) == set(reference)
    labelled = JOINT_SETS[joint_set].labelled()
    for name, (people, mask, size, image_id) in reference.items():
        s = samples[name]
        assert (s.height, s.width) == size and s.source == source and s.variant == "orig"
        assert s.image_id == image_id
        np.testing.assert_array_equal(s.labelled, labelled)
        assert_people_match(s, people)
        assert not s.keypoints[:, ~labelled, :].any(), "a joint the source lacks was filled in"
        np.testing.assert_array_equal(s.ignore_mask() > 0, mask, err_msg=name)
        if source != "posetrack":
            assert (s.track_id == -1).all()
        # The stored bytes are the source file's bytes, untouched.
        image = cv2.imdecode(np.frombuffer(s.image_bytes, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape[:2] == size


@pytest.mark.parametrize("split", ["val2017", "train2017"])
def test_coco_mini(coco_mini, tmp_path, split):
    ann = coco_mini / "annotations" / f"person_keypoints_{split}.json"
    summary, samples = run_convert("coco", ann, coco_mini / split, tmp_path)
    assert summary.images_skipped == 0 and summary.annotation_problems == 0
    reference = _coco_reference(ann)
    _check_coco_style(samples, reference, "coco", "coco17")
    # coco_mini has crowd regions and zero-keypoint people: they must be in the masks.
    assert summary.images_with_ignore_mask > 0
    assert summary.people == sum(len(p) for p, *_ in reference.values())
    with open(coco_mini / split / next(iter(samples)), "rb") as f:
        assert samples[next(iter(samples))].image_bytes == f.read()


def test_coco_mini_crowd_region_is_masked(coco_mini, tmp_path):
    """Independent of the reference above: every crowd annotation's RLE area is ignored."""
    from pycocotools import mask as mask_utils

    ann = coco_mini / "annotations" / "person_keypoints_train2017.json"
    _, samples = run_convert("coco", ann, coco_mini / "train2017", tmp_path)
    data = json.loads(ann.read_text())
    files = {im["id"]: im["file_name"] for im in data["images"]}
    crowds = [a for a in data["annotations"] if a["iscrowd"]]
    assert crowds
    for a in crowds:
        s = samples[files[a["image_id"]]]
        rle = mask_utils.frPyObjects(a["segmentation"], s.height, s.width)
        crowd = mask_utils.decode(rle).astype(bool)
        assert (s.ignore_mask()[crowd] == 255).all()


def test_coco128(tmp_path):
    root = need(DATA / "coco128")
    ann = root / "annotations" / "person_keypoints_train2017.json"
    summary, samples = run_convert("coco", ann, root / "train2017", tmp_path, workers=2)
    assert summary.images_written == 128 and summary.people == 139
    _check_coco_style(samples, _coco_reference(ann), "coco", "coco17")


@pytest.mark.parametrize("source,folder,ann,joint_set,vis_map", [
    ("coco", "coco", "test_coco.json", "coco17", None),
    ("crowdpose", "crowdpose", "test_crowdpose.json", "crowdpose14", None),
    ("aic", "aic", "test_aic.json", "aic14", None),
    ("ochuman", "ochuman", "test_ochuman.json", "coco17", None),
    # PoseTrack 2018 marks annotated joints 1 (no occlusion flag): stored as visible (2).
    ("posetrack", "posetrack18", "annotations/test_posetrack18_val.json", "posetrack",
     {0: 0, 1: 2}),
])
def test_coco_style_samples(tmp_path, source, folder, ann, joint_set, vis_map):
    root = need(SAMPLES / folder)
    summary, samples = run_convert(source, root / ann, root, tmp_path)
    assert summary.images_skipped == 0 and summary.annotation_problems == 0
    reference = _coco_reference(root / ann, vis_map)
    if source == "posetrack":
        reference = _add_posetrack_ignore(reference, root / ann)
    _check_coco_style(samples, reference, source, joint_set)
    assert summary.people > 0


def _add_posetrack_ignore(reference, ann_file):
    data = json.loads(ann_file.read_text())
    for img in data["images"]:
        people, mask, size, image_id = reference[img["file_name"]]
        for xs, ys in zip(img["ignore_regions_x"], img["ignore_regions_y"]):
            mask = mask | _poly_mask(np.array(list(zip(xs, ys)), np.float64), size)
        reference[img["file_name"]] = (people, mask, size, image_id)
    return reference


def test_posetrack18_sequence_folder_keeps_track_ids(tmp_path):
    root = need(SAMPLES / "posetrack18")
    _, samples = run_convert("posetrack", root / "annotations" / "val", root, tmp_path,
                             prefix="pt")
    assert len(samples) == 3
    for path in (root / "annotations" / "val").glob("*.json"):
        data = json.loads(path.read_text())
        (img,) = data["images"]
        s = samples[img["file_name"]]
        want = sorted(a["track_id"] for a in data["annotations"]
                      if any(v > 0 for v in a["keypoints"][2::3]))
        assert sorted(s.track_id.tolist()) == want
        assert s.ignore_mask().any()          # every sample frame has ignore regions


def test_mpii_json_sample(tmp_path):
    root = need(SAMPLES / "mpii")
    summary, samples = run_convert("mpii", root / "test_mpii.json", root, tmp_path)
    assert summary.images_written == 5 and summary.images_skipped == 0
    # MPII order (documented): r_ankle r_knee r_hip l_hip l_knee l_ankle pelvis thorax
    # upper_neck head_top r_wrist r_elbow r_shoulder l_shoulder l_elbow l_wrist.
    to_coco = {0: 16, 1: 14, 2: 12, 3: 11, 4: 13, 5: 15, 10: 10, 11: 8, 12: 6, 13: 5, 14: 7, 15: 9}
    for item in json.loads((root / "test_mpii.json").read_text()):
        s = samples[item["image"]]
        kp = np.zeros((17, 3), np.float32)
        for j, c in to_coco.items():
            if item["joints_vis"][j]:
                kp[c] = (item["joints"][j][0] - 1, item["joints"][j][1] - 1, 2)
        assert_people_match(s, [kp])
        assert not s.labelled[:5].any() and s.labelled[5:].all()
        assert s.image_id == int(item["image"].split(".")[0])


def test_posetrack_bonn_clip(tmp_path):
    """The Bonn Multi-Person PoseTrack clip (COCO-style, 14 MPII-like joints, track ids)."""
    root = need(DATA / "posetrack_bonn")
    ann = root / "tracks_060470979.json"
    summary, samples = run_convert("posetrack", ann, root / "frames_060470979", tmp_path)
    assert summary.images_written == 41 and summary.people == 164
    reference = _coco_reference(ann)
    _check_coco_style(samples, reference, "posetrack", "mpii14")
    data = json.loads(ann.read_text())
    files = {im["id"]: im["file_name"] for im in data["images"]}
    tracks = {}
    for a in data["annotations"]:
        tracks.setdefault(files[a["image_id"]], []).append(a["track_id"])
    for name, s in samples.items():
        assert sorted(s.track_id.tolist()) == sorted(tracks.get(name, []))
