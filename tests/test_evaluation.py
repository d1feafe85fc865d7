"""COCO evaluation: known answers with pycocotools, and the peer network on coco_mini."""
import json

import pytest

from pose_tf.core.errors import PoseTfError
from pose_tf.core.pose import Pose
from pose_tf.evaluation.coco import load_ground_truth, score_results

from conftest import COCO_MINI, PEER_GRAPH, need

ANN = COCO_MINI / "annotations/person_keypoints_val2017.json"


def gt_as_results(path, shift=0.0):
    data = json.load(open(path))
    out = []
    for a in data["annotations"]:
        if a["iscrowd"] or a["num_keypoints"] == 0:
            continue
        pose = Pose.from_coco(a)
        pose.keypoints[:, 0] += shift
        out.append(pose.to_coco(a["image_id"]))
    return out


def test_ground_truth_as_detections_scores_perfectly():
    coco = load_ground_truth(need(ANN))
    m = score_results(coco, gt_as_results(ANN))
    for key in ("AP", "AP50", "AP75", "AR", "mean_oks", "detect_rate"):
        assert m[key] == pytest.approx(1.0, abs=1e-6), key


def test_shifted_detections_lower_oks_but_still_match():
    coco = load_ground_truth(need(ANN))
    m = score_results(coco, gt_as_results(ANN, shift=3.0))
    assert 0.5 < m["mean_oks"] < 1.0
    assert m["AP"] < 1.0


def test_no_detections_scores_zero():
    coco = load_ground_truth(need(ANN))
    m = score_results(coco, [])
    assert m["AP"] == 0 and m["detect_rate"] == 0


def test_unknown_image_ids_are_a_clear_error(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4}],
                               "annotations": [{"id": 5, "image_id": 7, "category_id": 1,
                                                "keypoints": [0] * 51, "num_keypoints": 0,
                                                "iscrowd": 0, "area": 1, "bbox": [0, 0, 1, 1]}],
                               "categories": [{"id": 1, "name": "person"}]}))
    with pytest.raises(PoseTfError, match=r"bad.json: 1 annotation\(s\) refer to unknown image id"):
        load_ground_truth(bad)


def test_peer_network_beats_its_own_pipeline_on_coco_mini():
    """The issue's bar: the peer's own pipeline reaches AP 0.131 on these 79 images."""
    from pose_tf.evaluation.coco import evaluate
    from pose_tf.inference.estimator import Estimator

    est = Estimator.from_path(str(need(PEER_GRAPH)), layout="openpose18")
    m = evaluate(est, need(ANN), COCO_MINI / "val2017", progress=False)
    assert m["AP"] >= 0.131
    assert 0 < m["detect_rate"] <= 1 and 0.5 <= m["mean_oks"] <= 1


# ------------------------------------------------------------------ ground-truth checks

def _coco_mini_with(change):
    import copy

    data = copy.deepcopy(json.loads(need(ANN).read_text()))
    change(data)
    return data


def _set_keypoint(value):
    return lambda d: d["annotations"][3]["keypoints"].__setitem__(4, value)


MALFORMED = {
    "images-a-string": (lambda d: d.update(images="val2017"),
                        "x.json: 'images' is a string, expected a list of objects"),
    "images-of-strings": (lambda d: d.update(images=["a.jpg", "b.jpg"]),
                          "x.json: images[0] is a string, expected an object"),
    "annotations-an-object": (lambda d: d.update(annotations={"1": {}}),
                              "x.json: 'annotations' is an object, expected a list of objects"),
    "image-without-file_name": (lambda d: d["images"][2].pop("file_name"),
                                "x.json: images[2] (id 217285): missing key 'file_name'"),
    "annotation-without-keypoints": (lambda d: d["annotations"][3].pop("keypoints"),
                                     "x.json: annotations[3] (id 464900): missing key 'keypoints'"),
    "30-keypoint-values": (lambda d: d["annotations"][3].update(keypoints=[0] * 30),
                           "x.json: annotations[3] (id 464900): 'keypoints' has 30 values, expected 51"),
    "54-keypoint-values": (lambda d: d["annotations"][3].update(keypoints=[0] * 54),
                           "x.json: annotations[3] (id 464900): 'keypoints' has 54 values, expected 51"),
    "keypoint-abc": (_set_keypoint("abc"),
                     "x.json: annotations[3] (id 464900): 'keypoints'[4] is a string ('abc'), not a number"),
    "keypoint-nan": (_set_keypoint(float("nan")),
                     "x.json: annotations[3] (id 464900): 'keypoints'[4] is nan, not a finite number"),
    "keypoint-true": (_set_keypoint(True),
                      "x.json: annotations[3] (id 464900): 'keypoints'[4] is true/false (True), not a number"),
    "bbox-of-3": (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]),
                  "x.json: annotations[0] (id 200887): 'bbox' has 3 values, expected 4"),
    "no-categories": (lambda d: d.update(categories=[]), "x.json: 'categories' is empty"),
    "no-person-category": (lambda d: d["categories"][0].update(id=2),
                           "x.json: 'categories' has no category id 1 (person)"),
    "image-id-a-string": (lambda d: d["images"][0].update(id="139"),
                          "x.json: images[0]: 'id' is a string, expected an integer"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_ground_truth_is_refused_naming_file_record_and_key(case):
    from pose_tf.evaluation.coco import check_keypoint_file

    change, message = MALFORMED[case]
    with pytest.raises(PoseTfError) as refused:
        check_keypoint_file(_coco_mini_with(change), "x.json")
    assert str(refused.value).startswith(message), str(refused.value)
    assert "\n" not in str(refused.value)


def test_a_ground_truth_that_is_a_list_is_refused():
    from pose_tf.evaluation.coco import check_keypoint_file

    with pytest.raises(PoseTfError, match=r"^x.json: the top level is a list, not an object"):
        check_keypoint_file([{"id": 1}], "x.json")


@pytest.mark.parametrize("path", [
    COCO_MINI / "annotations/person_keypoints_val2017.json",
    COCO_MINI / "annotations/person_keypoints_train2017.json",
    COCO_MINI.parent / "coco128/annotations/person_keypoints_train2017.json",
    COCO_MINI.parent / "coco_extra/person_keypoints.json"], ids=lambda p: p.parent.name + "/" + p.name)
def test_real_ground_truth_files_pass_the_checks(path):
    coco = load_ground_truth(need(path))
    data = json.loads(path.read_text())
    assert len(coco.getImgIds()) == len(data["images"]) and len(coco.getAnnIds()) == len(data["annotations"])


def test_a_nan_keypoint_is_refused_where_cocoeval_would_score_it_higher(tmp_path):
    """Why a NaN is refused, not passed on: COCOeval takes it without a word, and the AP
    goes up (the person's OKS is NaN, so it no longer counts as a miss)."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    data = json.loads(need(ANN).read_text())
    with_people = sorted({a["image_id"] for a in data["annotations"] if a["num_keypoints"] > 0})[:3]
    data["images"] = [i for i in data["images"] if i["id"] in with_people]
    data["annotations"] = [a for a in data["annotations"] if a["image_id"] in with_people]
    path = tmp_path / "three.json"
    path.write_text(json.dumps(data))
    results = gt_as_results(path, shift=6.0)
    clean = score_results(load_ground_truth(path), results)["AP"]

    first = next(a for a in data["annotations"] if a["num_keypoints"] > 0)
    first["keypoints"][0] = float("nan")
    path.write_text(json.dumps(data))
    with pytest.raises(PoseTfError, match=r"three.json: annotations\[\d+\] \(id \d+\): 'keypoints'\[0\] is nan"):
        load_ground_truth(path)
    unchecked = COCO()
    unchecked.dataset = json.loads(path.read_text())
    with contextlib.redirect_stdout(io.StringIO()):
        unchecked.createIndex()
    assert score_results(unchecked, results)["AP"] > clean


# ------------------------------------------------------------------ bootstrap over images

def test_bootstrap_of_perfect_detections_has_no_spread_and_a_worse_baseline_always_loses():
    from pose_tf.evaluation.coco import bootstrap_ap

    coco = load_ground_truth(need(ANN))
    perfect, shifted = gt_as_results(ANN), gt_as_results(ANN, shift=3.0)
    m = bootstrap_ap(coco, perfect, rounds=8, baseline=shifted)
    assert m["AP_se"] == pytest.approx(0.0, abs=1e-9)
    assert m["AP_low"] == pytest.approx(1.0) and m["AP_high"] == pytest.approx(1.0)
    assert m["AP_diff"] == pytest.approx(1.0 - score_results(coco, shifted)["AP"])
    assert m["AP_diff_above_0"] == 1.0 and m["AP_diff_low"] > 0


def test_bootstrap_spread_of_half_found_people_brackets_the_whole_set_and_repeats():
    """Perfect detections on every second image: the AP depends on the draw, the whole
    set's AP lies inside the 90% interval, the same seed gives the same figures, and the
    results against themselves differ by exactly 0 in every draw."""
    from pose_tf.evaluation.coco import bootstrap_ap

    coco = load_ground_truth(need(ANN))
    with_people = sorted({d["image_id"] for d in gt_as_results(ANN)})
    kept = set(with_people[::2])
    half = [d for d in gt_as_results(ANN) if d["image_id"] in kept]
    whole = score_results(coco, half)["AP"]
    m = bootstrap_ap(coco, half, rounds=30, baseline=half, seed=3)
    assert 0.02 < m["AP_se"] < 0.2
    assert m["AP_low"] < whole < m["AP_high"]
    assert m["AP_diff"] == 0 and m["AP_diff_se"] == 0 and m["AP_diff_above_0"] == 0
    assert bootstrap_ap(coco, half, rounds=30, seed=3)["AP_se"] == m["AP_se"]


def test_a_drawn_image_counted_twice_keeps_both_copies():
    """COCOeval scores a repeated image id once, so a draw re-numbers its images: one image
    drawn twice with one person found of two (there, once each) is AP-equivalent to the
    image itself, and its two copies both hold their ground truth."""
    from pose_tf.evaluation.coco import _resampled_set

    coco = load_ground_truth(need(ANN))
    image = next(i for i in sorted(coco.getImgIds()) if len(coco.imgToAnns[i]) >= 2)
    resampled, new_ids = _resampled_set(coco, [image, image])
    assert new_ids == {image: [1, 2]}
    assert len(resampled.imgToAnns[1]) == len(resampled.imgToAnns[2]) == len(coco.imgToAnns[image])
    assert len({a["id"] for a in resampled.dataset["annotations"]}) == 2 * len(coco.imgToAnns[image])


@pytest.mark.parametrize("content,message", [
    ({"image_id": 1}, "the top level is an object, not a list of detections"),
    ([{"image_id": 1, "keypoints": [0] * 51, "score": 1.0}], "[0]: image_id 1 is not an image of the ground truth"),
    ([{"image_id": 139, "keypoints": [0] * 50, "score": 1.0}], "[0]: 'keypoints' has 50 values, expected 51"),
    ([{"image_id": 139, "keypoints": [0] * 51, "score": float("nan")}], "[0]: 'score' is nan"),
], ids=["object", "unknown-image", "short-keypoints", "nan-score"])
def test_a_bad_results_file_is_refused_naming_file_record_and_key(content, message, tmp_path):
    from pose_tf.evaluation.coco import load_results

    path = tmp_path / "results.json"
    path.write_text(json.dumps(content))
    with pytest.raises(PoseTfError) as refused:
        load_results(path, load_ground_truth(need(ANN)))
    assert str(refused.value).startswith(f"{path}: {message}"), str(refused.value)
