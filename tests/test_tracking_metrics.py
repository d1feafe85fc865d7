"""PoseTrack formats and metrics: hand-computed cases, GT as prediction, round trips."""
import json

import numpy as np
import pytest

from conftest import DATA, need
from pose_tf.core.errors import PoseTfError
from pose_tf.evaluation.posetrack import evaluate
from pose_tf.io.posetrack import (POSETRACK17_JOINTS, POSETRACK18_JOINTS, Frame, Person, Sequence,
                                  read_posetrack17, read_posetrack18, read_sequences,
                                  sequence_from_poses, write_posetrack17,
                                  write_posetrack18)
from pose_tf.core.keypoints import COCO_KEYPOINTS
from pose_tf.core.pose import Pose

BONN_CLIP = DATA / "posetrack_bonn" / "tracks_060470979.json"
JOINTS = ("left_shoulder", "right_shoulder")
HEAD = (0.0, 0.0, 10.0, 10.0)          # head size 0.6 * sqrt(200) = 8.485 -> PCKh radius 4.243


def person(x, track, score=None, head=True, dx=0.0):
    kps = [[x + dx, 50.0, 1.0], [x + 20 + dx, 50.0, 1.0]]
    scores = None if score is None else [score, score]
    return Person(kps, track, scores, HEAD if head else None)


def seq(frames, name="s"):
    return Sequence(name, JOINTS, [Frame(f"{i:05d}.jpg", i, i, people) for i, people in enumerate(frames)])


def gt_two_people(n=3):
    return seq([[person(0, 1), person(100, 2)] for _ in range(n)])


def run(gt, pred, quirks=False):
    return evaluate([gt], [pred], poseval_quirks=quirks)


def test_identity_switch_counts_by_hand():
    gt = gt_two_people(3)
    pred = seq([[person(0, 10, 0.9), person(100, 20, 0.9)],
                [person(0, 10, 0.9), person(100, 20, 0.9)],
                [person(0, 20, 0.9), person(100, 10, 0.9)]])   # ids swapped in frame 2
    m = run(gt, pred)
    # per joint: 6 objects, 0 misses, 0 FP, 2 switches -> MOTA 1 - 2/6
    assert m["per_joint"]["IDSW"] == [2, 2]
    assert m["MOTA"] == pytest.approx(1 - 2 / 6)
    # IDF1: A<->10 and B<->20 hold 2 of 3 frames each: IDTP 4, IDFP 2, IDFN 2 -> 8/12
    assert m["IDF1"] == pytest.approx(8 / 12)
    assert m["IDSW"] == 4
    assert m["mAP"] == pytest.approx(1.0)


def test_miss_counts_by_hand():
    gt = gt_two_people(3)
    pred = seq([[person(0, 10, 0.9), person(100, 20, 0.9)],
                [person(100, 20, 0.9)],                       # person 1 missed
                [person(0, 10, 0.9), person(100, 20, 0.9)]])
    m = run(gt, pred)
    assert m["per_joint"]["misses"] == [1, 1]
    assert m["per_joint"]["objects"] == [6, 6]
    assert m["MOTA"] == pytest.approx(1 - 1 / 6)
    # IDTP 5, IDFN 1, IDFP 0 -> 10/11; AP: all 5 detections right, recall 5/6
    assert m["IDF1"] == pytest.approx(10 / 11)
    assert m["mAP"] == pytest.approx(5 / 6)
    assert m["IDSW"] == 0


def test_false_positive_counts_by_hand():
    gt = seq([[person(0, 1)] for _ in range(3)])
    pred = seq([[person(0, 10, 0.9)],
                [person(0, 10, 0.9), person(300, 11, 0.95)],    # a spurious, confident person
                [person(0, 10, 0.9)]])
    m = run(gt, pred)
    assert m["per_joint"]["false_positives"] == [1, 1]
    assert m["MOTA"] == pytest.approx(1 - 1 / 3)
    # IDTP 3, IDFP 1 -> 6/7; AP: ranked FP, TP, TP, TP -> envelope precision 0.75 everywhere
    assert m["IDF1"] == pytest.approx(6 / 7)
    assert m["mAP"] == pytest.approx(0.75)


def test_pckh_threshold_is_half_head_size():
    gt = seq([[person(0, 1)] for _ in range(2)])
    near = run(gt, seq([[person(0, 5, 1.0, dx=4.0)] for _ in range(2)]))    # 4.0 < 4.243
    far = run(gt, seq([[person(0, 5, 1.0, dx=4.5)] for _ in range(2)]))     # 4.5 > 4.243
    assert near["MOTA"] == pytest.approx(1.0)
    assert far["per_joint"]["misses"] == [2, 2] and far["per_joint"]["false_positives"] == [2, 2]
    assert far["MOTA"] == pytest.approx(-1.0)
    assert far["mAP"] == pytest.approx(0.0)


def test_poseval_quirks_skip_last_frame_and_count_empty_frames():
    gt = gt_two_people(4)
    pred = seq([[person(0, 10, 0.9), person(100, 20, 0.9)],
                [],                                              # no prediction at all
                [person(0, 10, 0.9), person(100, 20, 0.9)],
                [person(0, 10, 0.9)]])                           # last frame: a miss
    clean = run(gt, pred, quirks=False)
    assert clean["per_joint"]["misses"] == [3, 3] and clean["per_joint"]["objects"] == [8, 8]
    quirky = run(gt, pred, quirks=True)
    # last frame dropped; the empty frame is one phantom object missed + one phantom FP
    assert quirky["per_joint"]["objects"] == [5, 5]
    assert quirky["per_joint"]["misses"] == [1, 1]
    assert quirky["per_joint"]["false_positives"] == [1, 1]


def test_shared_joints_leave_out_never_predicted_ones():
    gt = gt_two_people(2)
    names = ("left_shoulder", "right_shoulder", "head_top")
    pred = Sequence("s", names, [Frame(f"{i:05d}.jpg", i, i, [
        Person([[0, 50, 1], [20, 50, 1], [0, 0, 0]], 1, [1, 1, 0]),
        Person([[100, 50, 1], [120, 50, 1], [0, 0, 0]], 2, [1, 1, 0])]) for i in range(2)])
    gt.joint_names = names
    for f in gt.frames:
        for p in f.people:
            p.keypoints = np.vstack([p.keypoints, [[5, 5, 1]]])
    m = evaluate([gt], [pred])
    assert m["joints"] == ["left_shoulder", "right_shoulder"]
    assert m["excluded_joints"] == {"head_top": "never predicted"}


def test_gt_without_head_rect_is_an_error():
    gt = seq([[person(0, 1, head=False)]])
    with pytest.raises(PoseTfError, match="head rectangle"):
        run(gt, seq([[person(0, 1, 1.0)]]))


def test_gt_as_prediction_scores_perfectly_on_bonn_clip():
    gt = read_sequences(need(BONN_CLIP))
    m = evaluate(gt, gt)
    assert m["MOTA"] == pytest.approx(1.0) and m["mAP"] == pytest.approx(1.0)
    assert m["IDF1"] == pytest.approx(1.0) and m["IDSW"] == 0
    assert m["frames"] == 41 and len(m["joints"]) == 14


def test_posetrack18_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    frames = []
    for f in range(3):
        poses = []
        for t in range(2):
            kps = np.concatenate([rng.uniform(0, 500, (17, 2)), rng.uniform(0.1, 1, (17, 1))], 1)
            kps[3:5, 2] = 0        # ears: not in PoseTrack
            kps[f + 5, 2] = 0      # one undetected joint
            poses.append(Pose(kps, 0.8, t + 7))
        frames.append(poses)
    names = [f"{i:06d}.jpg" for i in range(3)]
    s = sequence_from_poses("vid", frames, names)
    path = tmp_path / "vid.json"
    write_posetrack18(s, path)
    doc = json.loads(path.read_text())
    # as poseval's Video.from_new requires: one category, every PoseTrack joint named
    assert len(doc["categories"]) == 1 and set(POSETRACK17_JOINTS) <= set(doc["categories"][0]["keypoints"])
    assert all(len(a["scores"]) == 17 and "track_id" in a for a in doc["annotations"])
    back = read_posetrack18(path)
    assert back.name == "vid" and back.joint_names == POSETRACK18_JOINTS
    assert [f.file_name for f in back.frames] == names
    for f, poses in zip(back.frames, frames):
        assert [p.track_id for p in f.people] == [p.track_id for p in poses]
        for person_back, pose in zip(f.people, poses):
            again = person_back.to_pose(back.joint_names)
            kept = pose.detected & np.isin(np.arange(17), [0] + list(range(5, 17)))
            np.testing.assert_allclose(again.xy[kept], pose.xy[kept], atol=1e-3)
            np.testing.assert_allclose(again.keypoints[kept, 2], pose.keypoints[kept, 2], atol=1e-5)
            assert not again.detected[~kept].any()
    # a read file evaluates against itself perfectly (predictions carry scores + ids)
    gt = read_posetrack18(path)
    for f in gt.frames:
        for p in f.people:
            p.head_rect = np.array([0, 0, 60, 60.0])
    assert evaluate([gt], [back])["MOTA"] == pytest.approx(1.0)


def test_bonn_clip_survives_2018_and_2017_round_trips(tmp_path):
    gt = read_sequences(need(BONN_CLIP))[0]
    write_posetrack18(gt, tmp_path / "a.json")
    again = read_posetrack18(tmp_path / "a.json")
    assert again.joint_names == gt.joint_names and len(again.frames) == len(gt.frames)
    for fa, fg in zip(again.frames, gt.frames):
        assert fa.file_name == fg.file_name and len(fa.people) == len(fg.people)
        for pa, pg in zip(fa.people, fg.people):
            assert pa.track_id == pg.track_id
            np.testing.assert_allclose(pa.keypoints, pg.keypoints, atol=1e-3)   # 3 decimals written
            np.testing.assert_allclose(pa.head_rect, pg.head_rect, atol=2e-3)
    write_posetrack17(gt, tmp_path / "b.json")
    old = read_posetrack17(tmp_path / "b.json")
    assert old.joint_names == POSETRACK17_JOINTS
    m = evaluate([gt], [old])     # 13 joints by name: upper_neck has no PoseTrack-17 twin
    assert m["MOTA"] == pytest.approx(1.0) and m["mAP"] == pytest.approx(1.0)
    assert "upper_neck" in m["excluded_joints"]


def test_bad_files_name_file_and_key(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"images": [{"id": 1}], "annotations": [{"image_id": 2}],
                               "categories": [{"name": "person", "keypoints": list(COCO_KEYPOINTS)}]}))
    with pytest.raises(PoseTfError, match=r"bad\.json: annotations\[0\]: image_id 2"):
        read_sequences(bad)
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(PoseTfError, match="x.json: not valid JSON"):
        read_sequences(tmp_path / "x.json")
    with pytest.raises(PoseTfError, match="not found"):
        read_sequences(tmp_path / "missing.json")


def test_folders_pair_sequences_by_file_name(tmp_path):
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    for k, name in enumerate(("a", "b")):
        g = gt_two_people(3)
        g.name = f"video{k}"
        write_posetrack18(g, tmp_path / "gt" / f"{name}.json")
        p = seq([[person(0, 10, 0.9), person(100, 20, 0.9)] for _ in range(3)], name=f"other{k}")
        write_posetrack18(p, tmp_path / "pred" / f"{name}.json")
    m = evaluate(read_sequences(tmp_path / "gt"), read_sequences(tmp_path / "pred"))
    assert m["sequences"] == 2 and m["MOTA"] == pytest.approx(1.0)


def test_bonn_annolist_gives_head_rects_and_split(tmp_path):
    """read_bonn with the original .mat lists: every video gets its split, and a missing
    list is a one-line error naming the file."""
    from conftest import DATA, need
    from pose_tf.core.errors import PoseTfError
    from pose_tf.io.posetrack import read_bonn

    bonn = need(DATA / "posetrack_bonn")
    sequences = read_bonn(bonn / "tracks_all_videos.json", bonn / "annolist")
    assert sorted({s.split for s in sequences}) == ["test", "train"]
    assert sum(s.split == "test" for s in sequences) == 30
    with pytest.raises(PoseTfError, match="annolist.mat"):
        read_bonn(bonn / "tracks_all_videos.json", tmp_path)


# --------------------------------------------------------------------------------------
# poseval's own rules (its fixed joints, ignore regions, ties, undefined figures)

def test_frame_whose_people_are_all_ignored_is_still_scored():
    """poseval keeps a frame whose GT people all fall in ignore regions: its predictions
    are false positives, and MOT sees a phantom object there."""
    gt = gt_two_people(3)
    for f in gt.frames:
        f.people = f.people[:1]                                   # one GT person at x 0..20
    gt.frames[1].ignore_regions = [np.array([[-5, 40], [30, 40], [30, 60], [-5, 60.0]])]
    pred = seq([[person(0, 10, 0.9)], [person(0, 10, 0.9), person(300, 11, 0.95)],
                [person(0, 10, 0.9)]])
    m = run(gt, pred, quirks=True)
    # AP: FP (0.95, outside the region), TP, TP of 2 GT joints -> precision 2/3 at recall 1
    assert m["mAP"] == pytest.approx(2 / 3)
    # MOT (last frame dropped): frame 0 matched; frame 1 a phantom object, missed, + 1 FP
    assert m["per_joint"]["objects"] == [2, 2] and m["per_joint"]["misses"] == [1, 1]
    assert m["MOTA"] == pytest.approx(0.0)
    clean = run(gt, pred, quirks=False)          # 2 real objects, the ignored frame's FP
    assert clean["per_joint"]["objects"] == [2, 2] and clean["MOTA"] == pytest.approx(0.5)


def test_poseval_joints_count_unpredicted_as_zero_and_skip_ap_without_gt():
    gt = gt_two_people(3)
    pred = seq([[person(0, 10, 0.9), person(100, 20, 0.9)] for _ in range(3)])
    gt.joint_names = ("left_shoulder", "upper_neck")               # Bonn's name for head_bottom
    pred.joint_names = ("left_shoulder", "nose")                   # a nose the GT never labels
    m = evaluate([gt], [pred], joints="poseval")
    pj = dict(zip(m["per_joint"]["joint"], zip(m["per_joint"]["AP"], m["per_joint"]["MOTA"])))
    assert len(pj) == 15 and pj["left_shoulder"] == (1.0, 1.0)
    assert pj["head_bottom"] == (0.0, 0.0)      # labelled (as upper_neck), never predicted
    assert pj["nose"] == (None, None)           # predicted, no GT: AP and MOTA undefined
    assert pj["right_ankle"] == (0.0, None)     # neither side: AP 0, MOTA undefined
    assert m["mAP"] == pytest.approx(1 / 14)    # 14 defined APs, one of them 1
    assert m["MOTA"] == pytest.approx(1 / 2)    # left_shoulder 1, head_bottom 0


def test_tied_scores_rank_as_poseval_ranks_them():
    """poseval ranks detections with `np.array(scores).argsort()[::-1]` (numpy's default,
    unstable sort), frames in order: ties must come out in that order, not a stable one."""
    from pose_tf.evaluation.posetrack import _average_precision

    scores = np.array([0.5, 0.7, 0.5, 0.5, 0.3, 0.5, 0.7, 0.5, 0.5, 0.5, 0.3, 0.5] * 3)
    labels = np.array([1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 0] * 3, float)
    ranked = labels[np.array(scores).argsort()[::-1]]
    tp = np.cumsum(ranked)
    precision, recall = tp / np.arange(1, len(ranked) + 1), tp / 20
    # AP by its definition: at each recall step, the best precision at that recall or beyond
    steps = np.flatnonzero(ranked)
    expected = sum(precision[k:].max() for k in steps) / 20
    ap, last_precision, last_recall = _average_precision(scores, labels, 20)
    assert ap == pytest.approx(expected, abs=1e-12)
    assert (last_precision, last_recall) == (pytest.approx(precision[-1]), pytest.approx(recall[-1]))


def test_one_frame_sequence_has_undefined_mot_not_nan():
    m = run(gt_two_people(1), seq([[person(0, 10, 0.9), person(100, 20, 0.9)]]), quirks=True)
    # poseval does not score a sequence's last frame: no MOT object at all
    assert m["MOTA"] is None and m["per_joint"]["MOTA"] == [None, None]
    assert m["recall"] is None and m["IDF1"] is None and m["MOTP"] == 0.0   # poseval: 0
    assert m["mAP"] == pytest.approx(1.0)
    json.dumps(m, allow_nan=False)              # nothing undefined is a bare NaN


def test_track_ids_poseval_cannot_hold_are_refused():
    gt = gt_two_people(2)
    dup = seq([[person(0, 3, 0.9), person(100, 3, 0.9)]] * 2)
    with pytest.raises(PoseTfError, match=r"frame '00000.jpg': track_id 3 appears twice"):
        run(gt, dup)
    big = seq([[person(0, 10000, 0.9)]] * 2)
    with pytest.raises(PoseTfError, match=r"track_id 10000 outside 0\.\.9999"):
        run(gt, big)
    with pytest.raises(PoseTfError, match=r"track_id -1 outside"):
        run(gt, seq([[person(0, -1, 0.9)]] * 2))


def test_frames_pair_by_name_or_explicitly_by_position(caplog):
    gt = gt_two_people(2)
    pred = seq([[person(0, 10, 0.9), person(100, 20, 0.9)]] * 2)
    pred.frames[1].file_name = "other.jpg"
    with pytest.raises(PoseTfError, match=r"frame 'other.jpg' has no GT frame of that name"):
        run(gt, pred)
    with caplog.at_level("WARNING"):
        m = evaluate([gt], [pred], frames_by_position=True)
    assert m["MOTA"] == pytest.approx(1.0)
    assert "paired by position" in caplog.text
    pred.frames = pred.frames[:1]
    pred.frames[0].file_name = "00001.jpg"       # a namesake, but GT frame 00000 unpaired
    with pytest.raises(PoseTfError, match=r"frame '00000.jpg' has no predicted frame"):
        run(gt, pred)
