"""The pairwise tracker: determinism, lost-track re-identification, config, fitting, noise;
its compiled per-frame work against the numpy reference (tests/tracking_reference.py)."""
import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from conftest import DATA, need
from pose_tf.core.config import load_config
from pose_tf.core.errors import PoseTfError
from pose_tf.core.pose import Pose
from pose_tf.tracking import _pairs
from pose_tf.tracking.fitting import fit_logistic, fit_tracker, identity_scores
from pose_tf.tracking.simulator import NOISE_LEVELS, DetectorNoise, NoiseLevel
from pose_tf.core.keypoints import COCO_SIGMAS
from pose_tf.tracking.tracker import (FEATURES, PoseTracker, TrackerConfig, _assign, _boxes, _iou, _pose_arrays,
                                      _Tracks, load_tracker_config, pair_features, predict, save_tracker_config,
                                      track_sequence)
from tracking_reference import (ReferenceTracker, assign_ref, boxes_ref, iou_ref, logits_ref, pair_features_ref,
                                predict_ref, update_ref)

# A standing person, 17 COCO joints, about 200 px tall, origin at the hips' middle.
FIGURE = np.array([
    [0, -160], [-6, -166], [6, -166], [-14, -162], [14, -162], [-30, -120], [30, -120],
    [-38, -70], [38, -70], [-40, -25], [40, -25], [-18, 0], [18, 0], [-20, 50], [20, 50],
    [-20, 100], [20, 100]], float)


def walker(origin, velocity, frame, track_id=None, missing=()):
    xy = FIGURE + np.asarray(origin, float) + np.asarray(velocity, float) * frame
    kps = np.concatenate([xy, np.ones((17, 1))], 1)
    kps[list(missing), 2] = 0
    return Pose(kps, 1.0, track_id)


def scene(frames=30, gap_for=None, gap=(), seed=0):
    """Three people walking; person `gap_for` is not detected during frames `gap`."""
    people = [((100, 300), (4, 0)), ((400, 300), (-3, 1)), ((700, 320), (0, -2))]
    rng = np.random.default_rng(seed)
    out = []
    for f in range(frames):
        poses = [walker(o, v, f, track_id=i) for i, (o, v) in enumerate(people)
                 if not (i == gap_for and f in gap)]
        out.append([poses[i] for i in rng.permutation(len(poses))])
    return out


@pytest.fixture(scope="module")
def config():
    return load_tracker_config()


def strip_ids(frames):
    return [[Pose(p.keypoints, p.score) for p in poses] for poses in frames]


def test_shipped_weights_load_and_are_fit_on_bonn_train(config):
    assert list(config.features) == list(FEATURES)
    assert "train" in config.fitted_on
    assert 0 < config.min_probability < 1


def test_tracker_is_deterministic_and_has_no_shared_state(config):
    dets, _ = DetectorNoise(NOISE_LEVELS["medium"], seed=3)(scene(40))
    first = [[p.track_id for p in poses] for poses in track_sequence(dets, config)]
    second = [[p.track_id for p in poses] for poses in track_sequence(dets, config)]
    assert first == second
    # two trackers stepped in turn do not disturb each other
    a, b = PoseTracker(config), PoseTracker(config)
    interleaved = []
    for poses in dets:
        interleaved.append([p.track_id for p in a.update(poses)])
        b.update(list(reversed(poses)))
    assert interleaved == first
    # input poses are not modified
    assert all(p.track_id is None for poses in dets for p in poses)


def test_clean_walkers_keep_one_id_each(config):
    frames = scene(30)
    tracked = track_sequence(strip_ids(frames), config)
    per_person = {}
    for poses, original in zip(tracked, frames):
        assert len({p.track_id for p in poses}) == len(poses)      # distinct ids in a frame
        for p, o in zip(poses, original):
            per_person.setdefault(o.track_id, set()).add(p.track_id)
    assert len(per_person) == 3 and all(len(v) == 1 for v in per_person.values())


def test_lost_person_gets_their_id_back(config):
    frames = scene(30, gap_for=0, gap=range(10, 15))        # missed for 5 frames
    assert config.max_lost_frames >= 5
    tracked = track_sequence(strip_ids(frames), config)
    before = [p.track_id for p, o in zip(tracked[9], frames[9]) if o.track_id == 0]
    after = [p.track_id for p, o in zip(tracked[15], frames[15]) if o.track_id == 0]
    assert before == after and len(before) == 1
    assert len({p.track_id for poses in tracked for p in poses}) == 3
    # with a memory shorter than the gap, the person comes back under a new id
    short = replace(config, max_lost_frames=2)
    tracked = track_sequence(strip_ids(frames), short)
    before = [p.track_id for p, o in zip(tracked[9], frames[9]) if o.track_id == 0]
    after = [p.track_id for p, o in zip(tracked[15], frames[15]) if o.track_id == 0]
    assert before != after
    assert len({p.track_id for poses in tracked for p in poses}) == 4


def test_constant_velocity_prediction_links_a_fast_mover_after_a_gap(config):
    # 25 px/frame: after 4 missed frames the person is 125 px (over half a body) away
    frames = []
    for f in range(20):
        if 8 <= f < 12:
            frames.append([])
            continue
        frames.append([walker((100, 300), (25, 0), f)])
    tracked = track_sequence(frames, config)
    assert len({p.track_id for poses in tracked for p in poses}) == 1
    # without the velocity (a tracker that never moves its template) the link is lost
    probs = PoseTracker(config)
    for poses in frames[:8]:
        probs.update(poses)
    for _ in range(4):
        probs.update([])
    p_moving = probs.probabilities([walker((100, 300), (25, 0), 12)])[0, 0]
    p_static = probs.probabilities([walker((100, 300), (25, 0), 7)])[0, 0]
    assert p_moving > p_static


def test_pair_features_of_a_shifted_person_by_hand():
    # a new track (one detection, still) vs the same person 10 px to the right, one frame on
    tracks = _Tracks()
    xy, ok = _pose_arrays([walker((0, 0), (0, 0), 0)])
    tracks.add(np.array([0]), xy, ok, frame=0)
    moved = [walker((10, 0), (0, 0), 0), walker((10, 0), (0, 0), 0, missing=range(5))]
    f = dict(zip(FEATURES, np.moveaxis(pair_features(tracks, *_pose_arrays(moved), frame=1, joint_memory=10)[0], -1, 0)))
    w, h = 80.0, 266.0                                   # FIGURE spans x -40..40, y -166..100
    size = math.hypot(w, h)
    oks = np.exp(-100.0 / (2 * w * h * (2 * COCO_SIGMAS.astype(float)) ** 2))
    assert f["oks"][0] == pytest.approx(oks.mean()) and f["oks"][1] == pytest.approx(oks[5:].mean())
    assert f["log_dist"] == pytest.approx([math.log(0.02 + 10 / size)] * 2)
    assert f["pck"] == pytest.approx([1.0, 1.0])        # 10 px is under 0.1 x size
    assert f["box_iou"][0] == pytest.approx(70 / 90)     # overlap 70 x 266 of a union 90 x 266
    assert f["visibility"] == pytest.approx([1.0, 12 / 17])
    assert f["log_centre_dist"][0] == pytest.approx(math.log(0.02 + 10 / size))
    # without the head the box is 80 x 220: shoulders at y -120 to ankles at 100
    assert f["scale_change"] == pytest.approx([0.0, abs(math.log(math.hypot(80, 220) / size))])
    assert f["log_gap"] == pytest.approx([0.0, 0.0]) and f["log_hits"] == pytest.approx([0.0, 0.0])
    assert f["shared_fraction"] == pytest.approx([1.0, 12 / 17])
    assert f["dist_x_gap"] == pytest.approx([0.0, 0.0])


def log_odds(p):
    p = np.asarray(p, float)
    return np.log(p / (1 - p))


def matchings(gain, row=0, used=()):
    """Every matching of positive-gain pairs, as tuples of (row, column), by enumeration."""
    if row == len(gain):
        yield ()
        return
    yield from matchings(gain, row + 1, used)                      # row left unlinked
    for col in range(gain.shape[1]):
        if col not in used and gain[row, col] > 0:
            for rest in matchings(gain, row + 1, used + (col,)):
                yield ((row, col),) + rest


def optimal_matchings(gain):
    """(largest summed gain, the matchings that reach it) over every matching."""
    scored = [(sum(gain[r, c] for r, c in m), m) for m in matchings(gain)]
    best = max(value for value, _ in scored)
    return best, [m for value, m in scored if value == best]


def test_one_sure_link_beats_two_unlikely_ones():
    # track 0 is detection 0 at p=0.993; the crossed pairs are p=0.12, just over a gate of
    # 0.05. Linking the two crossed pairs makes more links but a far smaller margin.
    p = [[0.993, 0.12], [0.12, 0.01]]
    rows, cols = _assign(log_odds(p), float(log_odds(0.05)))
    assert list(zip(rows.tolist(), cols.tolist())) == [(0, 0)]


def test_assignment_is_the_best_matching_on_random_cases():
    rng = np.random.default_rng(0)
    gate = math.log(0.05 / 0.95)
    for _ in range(300):
        logit = rng.normal(-2.0, 3.0, rng.integers(1, 6, 2))
        rows, cols = _assign(logit, gate)
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
        assert (logit[rows, cols] > gate).all()
        assert (logit[rows, cols] - gate).sum() == pytest.approx(optimal_matchings(logit - gate)[0])


def test_empty_frames_and_no_people(config):
    tracker = PoseTracker(config)
    assert tracker.update([]) == []
    out = tracker.update([walker((0, 300), (0, 0), 0)])
    assert out[0].track_id == 0
    assert tracker.update([]) == []


def test_config_errors_name_file_and_key(tmp_path, config):
    path = tmp_path / "t.yaml"
    save_tracker_config(config, path)
    assert load_config(path, TrackerConfig) == config
    text = path.read_text()
    (tmp_path / "bad.yaml").write_text(text.replace("min_probability:", "min_probablity:"))
    with pytest.raises(PoseTfError, match=r"bad\.yaml: unknown key 'min_probablity'"):
        load_tracker_config(tmp_path / "bad.yaml")
    short = replace(config, weights=config.weights[:-1])
    save_tracker_config(short, tmp_path / "short.yaml")
    with pytest.raises(PoseTfError, match=r"short\.yaml: 'weights' must have"):
        load_tracker_config(tmp_path / "short.yaml")


def test_noise_model_is_seeded_and_labels_spurious_people():
    frames = scene(30)
    level = NoiseLevel("test", 0.05, 0.2, 0.1, 3, 1.0)
    a = DetectorNoise(level, seed=5)(frames)
    b = DetectorNoise(level, seed=5)(frames)
    c = DetectorNoise(level, seed=6)(frames)
    assert a[1] == b[1]
    assert all(np.array_equal(p.keypoints, q.keypoints) for fp, fq in zip(a[0], b[0]) for p, q in zip(fp, fq))
    assert a[1] != c[1]
    labels = [x for f in a[1] for x in f]
    assert labels.count(-1) > 10                        # about one spurious person per frame
    assert 0 < sum(x >= 0 for x in labels) < 90         # some people missed
    kept = [p for f in a[0] for p in f]
    assert all(p.track_id is None for p in kept)        # detections carry no identity


def test_fit_logistic_recovers_a_separator():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = (2 * x[:, 0] - x[:, 1] + 0.3 * rng.normal(size=4000)) > 0.5
    w, b, mean, std = fit_logistic(x, y)
    # direction of the weights (in raw units) matches 2, -1
    raw = w / std
    assert raw[0] > 0 > raw[1]
    assert raw[0] / -raw[1] == pytest.approx(2.0, rel=0.2)


def test_fit_tracker_on_synthetic_tracks_beats_chance():
    seqs = [scene(25, seed=s) for s in range(3)]
    cfg, report = fit_tracker(seqs, [NOISE_LEVELS["low"]], seed=0, gates=(0.2, 0.5))
    cfg.validate()
    assert report["positive_pairs"] > 100 and report["train_accuracy"] > 0.95
    dets, labels = DetectorNoise(NOISE_LEVELS["low"], seed=9)(scene(25, seed=7))
    assert identity_scores(track_sequence(dets, cfg), labels)["IDF1"] > 0.8


def test_identity_scores_by_hand():
    p = lambda tid: Pose(np.ones((17, 3)), 1.0, tid)  # noqa: E731
    tracked = [[p(5), p(6)], [p(5), p(6)], [p(6), p(7)]]
    labels = [[0, 1], [0, 1], [0, -1]]                  # frame 2: person 0 switches to 6, a FP
    s = identity_scores(tracked, labels)
    assert s["IDSW"] == 1
    # IDTP: 0<->5 (2) + 1<->6 (2) = 4; IDFN 1 (frame 2 of person 0); IDFP 2 (6 and 7 in frame 2)
    assert s["IDF1"] == pytest.approx(8 / 11)


# --------------------------------------------------------------------------------------
# The compiled per-frame work (pose_tf/tracking/cpp) against the numpy reference

def copy_tracks(tracks):
    out = _Tracks()
    for key in ("ids", "labels", "joints", "motion"):
        setattr(out, key, getattr(tracks, key).copy())
    return out


def random_state(rng, n_tracks, n_dets, frame):
    """Tracks in the states a tracker reaches (first link or later, joints seen now, long
    ago or never, lost for a few frames, one with no joint at all) and detections near and
    far from them with joints missing (one with none, one an exact copy of another)."""
    tracks = _Tracks()
    xy = rng.uniform(0, 600, (n_tracks, 2, 17))
    age = rng.choice([0.0, 1.0, 3.0, 12.0, np.inf], (n_tracks, 1, 17))
    age[:1] = np.inf
    tracks.joints = np.concatenate([xy, age], 1)
    tracks.motion = np.stack([rng.normal(0, 5, n_tracks), rng.normal(0, 5, n_tracks),
                              frame - rng.integers(1, 12, n_tracks), rng.integers(1, 5, n_tracks)], 1).astype(float)
    tracks.ids, tracks.labels = np.arange(n_tracks), np.full(n_tracks, -1)
    near = xy[rng.integers(0, n_tracks, n_dets)] if n_tracks else np.zeros((n_dets, 2, 17))
    det_xy = near + rng.normal(0, 6, (n_dets, 2, 17)) + rng.choice([0.0, 300.0], (n_dets, 1, 1))
    det_ok = rng.random((n_dets, 17)) < 0.7
    det_ok[:1] = False
    if n_dets > 2:
        det_xy[-1], det_ok[-1] = det_xy[-2], det_ok[-2]
    return tracks, det_xy, det_ok


@pytest.mark.parametrize("seed", range(12))
def test_compiled_pair_work_matches_numpy_reference_on_random_states(seed, config):
    rng = np.random.default_rng(seed)
    frame, memory = 20, config.joint_memory_frames
    tracks, xy, ok = random_state(rng, rng.integers(0, 7), rng.integers(0, 7), frame)
    for got, want in zip(predict(tracks, frame, memory), predict_ref(tracks, frame, memory)):
        np.testing.assert_array_equal(got, want)
    for first in (frame - 12, frame - 5, frame):            # none, some, all tracks lost
        recent = tracks.last >= first
        got = _pairs.seen_since(tracks.motion, first)
        assert got is None if recent.all() else np.array_equal(got, recent)
    box = _boxes(xy, ok)
    np.testing.assert_array_equal(box, boxes_ref(xy, ok))
    np.testing.assert_allclose(_iou(box, box[::-1].copy()), iou_ref(box, box[::-1]), rtol=0, atol=1e-15)
    features = pair_features(tracks, xy, ok, frame, memory)
    want = pair_features_ref(tracks, xy, ok, frame, memory)
    assert features.shape == want.shape == (len(tracks), len(xy), len(FEATURES))
    np.testing.assert_allclose(features, want, rtol=1e-12, atol=1e-12)
    tracker = PoseTracker(config)
    tracker.tracks = tracks
    np.testing.assert_allclose(tracker._logits(xy, ok, frame), logits_ref(want, config), rtol=0, atol=1e-12)
    # link a random matching: first links and later ones, joints seen and unseen
    n = min(len(tracks), len(xy))
    rows, cols = rng.permutation(len(tracks))[:n], rng.permutation(len(xy))[:n]
    expected = copy_tracks(tracks)
    update_ref(expected, rows, xy[cols], ok[cols], frame, config)
    tracks.update(rows, cols, xy, ok, frame, config)
    np.testing.assert_allclose(tracks.joints, expected.joints, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tracks.motion, expected.motion, rtol=1e-12, atol=1e-12)


def assert_lockstep(dets, config):
    """The compiled tracker and the numpy reference side by side: the same ids every frame;
    on the reference's state, the same features and log-odds (1e-12); after every update,
    the same tracks (1e-9 px). Returns the number of frames scored."""
    fast, ref = PoseTracker(config), ReferenceTracker(config)
    worst = {"features": 0.0, "logits": 0.0, "state": 0.0}
    scored = 0
    for poses in dets:
        ref.tracks.forget_lost(ref.frame + 1, config.max_lost_frames)   # as update() will
        if len(ref.tracks) and poses:
            xy, ok = _pose_arrays(poses)
            args = (ref.tracks, xy, ok, ref.frame + 1, config.joint_memory_frames)
            want = pair_features_ref(*args)
            logits = PoseTracker._logits(ref, xy, ok, ref.frame + 1)
            worst["features"] = max(worst["features"], np.abs(pair_features(*args) - want).max())
            worst["logits"] = max(worst["logits"], np.abs(logits - logits_ref(want, config)).max())
            scored += 1
        assert [p.track_id for p in fast.update(poses)] == [p.track_id for p in ref.update(poses)]
        np.testing.assert_array_equal(fast.tracks.ids, ref.tracks.ids)
        known = np.isfinite(ref.tracks.joints)                           # ages never seen: inf
        np.testing.assert_array_equal(known, np.isfinite(fast.tracks.joints))
        state = [np.abs(fast.tracks.joints[known] - ref.tracks.joints[known]),
                 np.abs(fast.tracks.motion - ref.tracks.motion)]
        worst["state"] = max([worst["state"]] + [d.max(initial=0) for d in state])
    assert worst["features"] < 1e-12 and worst["logits"] < 1e-12 and worst["state"] < 1e-9, worst
    return scored


def test_compiled_tracker_matches_numpy_reference_on_noisy_walkers(config):
    for seed, level in enumerate(("low", "medium", "high")):
        dets, _ = DetectorNoise(NOISE_LEVELS[level], seed=seed)(scene(40, gap_for=1, gap=range(12, 18), seed=seed))
        assert assert_lockstep(dets, config) > 30


def test_compiled_tracker_matches_numpy_reference_on_noisy_bonn_videos(config):
    from pose_tf.io.posetrack import read_bonn

    bonn = need(DATA / "posetrack_bonn")
    test = [s for s in read_bonn(bonn / "tracks_all_videos.json") if s.split == "test"]
    assert len(test) == 30
    noise = DetectorNoise(NOISE_LEVELS["high"], seed=1)     # the benchmark's hardest detections
    scored = sum(assert_lockstep(noise(s.poses(), stream=i)[0], config) for i, s in enumerate(test))
    assert scored > 1400


def test_compiled_assignment_matches_scipy_with_ties_and_zero_gains():
    rng = np.random.default_rng(1)
    for _ in range(400):
        logit = rng.integers(-2, 4, rng.integers(1, 6, 2)).astype(float)   # gate 0: ties, zero gains
        rows, cols = _assign(logit, 0.0)
        ref_rows, ref_cols = assign_ref(logit, 0.0)
        best, optima = optimal_matchings(logit)
        links = tuple(zip(rows.tolist(), cols.tolist()))
        assert links in optima                                     # positive gains only, optimal
        assert logit[ref_rows, ref_cols].sum() == best             # the same value as scipy's
        if len(optima) == 1:
            assert links == tuple(zip(ref_rows.tolist(), ref_cols.tolist()))
    for shape in [(1, 9), (9, 1), (8, 12), (12, 8), (25, 20), (30, 30)]:     # unique optima
        logit = rng.normal(-1.0, 3.0, shape)
        for got, want in zip(_assign(logit, -0.5), assign_ref(logit, -0.5)):
            np.testing.assert_array_equal(got, want)
    empty = _assign(np.zeros((0, 3)), 0.0)
    assert [len(a) for a in empty] == [0, 0] and empty[0].dtype == np.int64


def test_compiled_work_refuses_bad_arguments(config):
    tracks, xy, ok = random_state(np.random.default_rng(0), 3, 3, frame=20)
    before = tracks.joints.copy(), tracks.motion.copy()
    bad_links = [([0, 0], [0, 1]), ([0, 1], [2, 2]), ([0, 3], [0, 1]), ([-1], [0]), ([0, 1], [0])]
    for rows, cols in bad_links:                       # repeated, out of range, unequal lengths
        with pytest.raises(ValueError):
            tracks.update(np.array(rows), np.array(cols), xy, ok, 21, config)
    np.testing.assert_array_equal(tracks.joints, before[0])      # nothing written
    np.testing.assert_array_equal(tracks.motion, before[1])
    with pytest.raises(ValueError, match="float64"):
        pair_features(tracks, xy.astype(np.float32), ok, 21, 10)
    with pytest.raises(ValueError, match="bool"):
        pair_features(tracks, xy, ok[:, :5], 21, 10)
    with pytest.raises(ValueError, match="C-contiguous"):
        _pairs.pair_features(tracks.joints[:, :, ::-1], tracks.motion, xy, ok, 21, 10)
    with pytest.raises(ValueError, match="NaN"):
        _assign(np.array([[0.0, np.nan]]), 0.0)
    with pytest.raises(TypeError):
        _boxes(xy.tolist(), ok)


def test_compiled_features_read_strided_poses():
    tracks, xy, ok = random_state(np.random.default_rng(3), 4, 5, frame=20)
    # poses as views: every other pose of a bigger array, joints reversed
    big_xy, big_ok = np.repeat(xy, 2, 0)[:, :, ::-1], np.repeat(ok, 2, 0)[:, ::-1]
    view_xy, view_ok = big_xy[::2, :, ::-1], big_ok[::2, ::-1]
    assert not view_xy.flags.c_contiguous
    np.testing.assert_array_equal(pair_features(tracks, view_xy, view_ok, 20, 10),
                                  pair_features(tracks, xy, ok, 20, 10))
