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
