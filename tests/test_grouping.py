"""The compiled peaks + grouping: known answers on rendered maps, agreement with the NumPy
reference on the peer network's real maps, thread safety, bad arguments (ValueError, never
an abort) and non-finite maps (never a peak, never a NaN score)."""
import dataclasses
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from grouping_reference import find_peaks_ref, group_ref
from pose_tf.core.keypoints import COCO17, OPENPOSE18
from pose_tf.grouping import PostprocessParams, decode, find_peaks, group, limb_table
from pose_tf.grouping._grouping import find_peaks_c, group_c

from conftest import COCO_MINI, PEER_GRAPH, need



def reference_group(maps, peaks, layout, params):
    """The Python reference grouping with the same parameters as the compiled call."""
    return group_ref(peaks, maps, limb_table(layout), layout.num_parts,
                     num_samples=params.num_samples, paf_threshold=params.paf_threshold,
                     min_inlier_ratio=params.min_inlier_ratio, min_parts=params.min_parts,
                     min_mean_score=params.min_mean_score)

def render_maps(people, shape=(46, 54), sigma=1.0, layout=COCO17):
    """Ideal network output for `people` ([17, 2] cell coordinates each): Gaussians + PAF bands."""
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    maps = np.zeros((h, w, layout.num_channels), np.float32)
    for person in people:
        for k, (x, y) in enumerate(person):
            g = np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma ** 2))
            maps[..., k] = np.maximum(maps[..., k], g)
        for l, (a, b) in enumerate(layout.limbs):
            pa, pb = person[a], person[b]
            v = pb - pa
            length = np.hypot(*v)
            u = v / length
            t = (xs - pa[0]) * u[0] + (ys - pa[1]) * u[1]
            d = np.abs((xs - pa[0]) * u[1] - (ys - pa[1]) * u[0])
            band = (t >= 0) & (t <= length) & (d <= 1.0)
            cx, cy = layout.paf_offset + 2 * l, layout.paf_offset + 2 * l + 1
            maps[..., cx][band] = u[0]
            maps[..., cy][band] = u[1]
    maps[..., layout.num_parts] = 1 - maps[..., : layout.num_parts].max(-1)
    return maps


def standing_person(x0, y0, s):
    """A plausible upright COCO-17 person (x0, y0 = nose), size s cells per unit."""
    offsets = np.array([[0, 0], [.3, -.3], [-.3, -.3], [.6, 0], [-.6, 0], [1, 1.5], [-1, 1.5],
                        [1.3, 3], [-1.3, 3], [1.4, 4.5], [-1.4, 4.5], [.7, 5], [-.7, 5],
                        [.8, 7], [-.8, 7], [.8, 9], [-.8, 9]], np.float32)
    return np.array([x0, y0], np.float32) + s * offsets


def test_two_rendered_people_are_found_at_subpixel_accuracy():
    truth = [standing_person(12.3, 6.6, 3.7), standing_person(38.7, 8.2, 3.2)]
    maps = render_maps(truth, shape=(46, 54))
    poses = decode(maps, COCO17, PostprocessParams(), (1.0, 1.0, 0.0, 0.0))
    assert len(poses) == 2
    found = sorted((p.xy for p in poses), key=lambda xy: xy[0, 0])
    for xy, true in zip(found, truth):
        # every joint found, and within a tenth of a cell of the truth (sub-pixel refinement)
        assert np.abs(xy - true).max() < 0.1
    assert all(p.detected.all() for p in poses)


def test_refinement_beats_integer_peaks():
    truth = [standing_person(20.4, 5.6, 3.0)]
    maps = render_maps(truth)
    coarse = find_peaks(maps, COCO17, PostprocessParams(refine=False))
    fine = find_peaks(maps, COCO17, PostprocessParams(refine=True))
    err = lambda p: np.abs(p[:, :2] - truth[0][p[:, 3].astype(int)]).mean()
    assert err(fine) < 0.05 < err(coarse)


def test_unconnected_parts_do_not_form_a_person():
    truth = [standing_person(20, 5, 3.0)]
    maps = render_maps(truth)
    maps[..., COCO17.paf_offset:] = 0   # heatmaps without any limb evidence
    assert decode(maps, COCO17, PostprocessParams(), (1, 1, 0, 0)) == []


def test_missing_joints_are_placed_not_zero():
    truth = [standing_person(20, 5, 3.0)]
    maps = render_maps(truth)
    maps[..., 15:17] = 0   # the network misses both ankles
    (pose,) = decode(maps, COCO17, PostprocessParams(), (8.0, 8.0, 3.5, 3.5))
    assert not pose.detected[15:17].any() and pose.detected[:15].all()
    ankles = pose.xy[15:17]
    assert (ankles > 0).all()
    # placed below the knees, roughly where ankles go
    assert (ankles[:, 1] > pose.xy[13:15, 1]).all()


@pytest.fixture(scope="module")
def peer_maps():
    need(PEER_GRAPH)
    from pose_tf.inference.estimator import Estimator
    from pose_tf.io.images import read_image

    est = Estimator.from_path(str(PEER_GRAPH), layout="openpose18")
    names = ["000000397133.jpg", "000000217285.jpg", "000000350679.jpg", "000000183709.jpg"]
    files = [need(COCO_MINI / "val2017" / n) for n in names]
    return [est.predict_maps(read_image(f))[0] for f in files]


def test_compiled_peaks_match_numpy_reference_on_real_maps(peer_maps):
    params = PostprocessParams()
    for maps in peer_maps:
        ours = find_peaks(maps, OPENPOSE18, params)
        ref = find_peaks_ref(maps, OPENPOSE18.num_parts, params.thresholds(18), params.max_peaks_per_part)
        assert len(ours) > 0
        np.testing.assert_array_equal(ours[:, 3], ref[:, 3])
        np.testing.assert_allclose(ours[:, :3], ref[:, :3], atol=1e-4)


def test_compiled_grouping_matches_numpy_reference_on_real_maps(peer_maps):
    params = PostprocessParams()
    total = 0
    for maps in peer_maps:
        peaks = find_peaks(maps, OPENPOSE18, params)
        people, scores = group(maps, peaks, OPENPOSE18, params)
        ref_people, ref_scores = reference_group(maps, peaks, OPENPOSE18, params)
        np.testing.assert_array_equal(people, ref_people)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-4)
        total += len(people)
    assert total >= 3   # the images show people; grouping must find them


def _group_all(maps_list, layout, params):
    return [group(m, find_peaks(m, layout, params), layout, params) for m in maps_list]


def _check_reentrant(maps_list, layout, params):
    expected = _group_all(maps_list, layout, params)
    # .result() re-raises whatever a worker raised, so an error in a thread fails the test
    # (a bare threading.Thread would only print it and leave its result missing).
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = [pool.submit(_group_all, maps_list * 5, layout, params) for _ in range(4)]
        outs = [f.result() for f in futures]
    assert len(outs) == 4
    for out in outs:
        assert len(out) == len(expected) * 5
        for (people, scores), (want_people, want_scores) in zip(out, expected * 5):
            np.testing.assert_array_equal(people, want_people)
            np.testing.assert_array_equal(scores, want_scores)


def test_grouping_is_reentrant_across_threads(peer_maps):
    _check_reentrant(peer_maps, OPENPOSE18, PostprocessParams())


def test_grouping_is_reentrant_across_threads_on_rendered_maps():
    maps = [render_maps([standing_person(12.3 + i, 6.6, 3.7), standing_person(38.7, 8.2 + i, 3.2)])
            for i in range(3)]
    _check_reentrant(maps, COCO17, PostprocessParams())


def test_errors_in_worker_threads_reach_the_caller():
    """A C++ exception thrown with the GIL released, in a worker, arrives as ValueError."""
    maps = np.zeros((8, 8, COCO17.num_channels), np.float32)
    with ThreadPoolExecutor(max_workers=2) as pool:
        future = pool.submit(find_peaks_c, maps, np.zeros(17, np.float32), -3)
        with pytest.raises(ValueError, match="num_parts must be > 0, got -3"):
            future.result()


def test_bad_arguments_raise_clear_errors():
    maps = np.zeros((8, 8, COCO17.num_channels), np.float32)
    peaks = np.array([[1, 1, 0.9, 5], [2, 2, 0.9, 1]], np.float32)   # not grouped by part
    with pytest.raises(ValueError, match="grouped by part"):
        group(maps, peaks, COCO17, PostprocessParams())


# --- bad arguments: ValueError with a clear message, never an abort -------------------------

# Before `except +`, this threw std::length_error out of the C++ core: terminate(), exit 134.
_CRASH_CASE = """
import numpy as np
from pose_tf.grouping._grouping import group_c
maps = np.zeros((8, 8, 57), np.float32)
try:
    group_c(np.zeros((0, 4), np.float32), maps, np.zeros((0, 4), np.int32), -3)
except ValueError as e:
    print("ValueError:", e)
"""


def test_former_abort_is_a_value_error_in_a_subprocess():
    run = subprocess.run([sys.executable, "-c", _CRASH_CASE], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-500:]}"
    assert "ValueError: group: num_parts must be > 0, got -3" in run.stdout


def _maps(c=COCO17.num_channels, h=8, w=8):
    return np.zeros((h, w, c), np.float32)


_TH17 = np.full(17, 0.1, np.float32)
_LIMBS = limb_table(COCO17)
_PEAKS = np.array([[1, 1, .9, 0], [5, 5, .9, 1]], np.float32)


_NO_PEAKS = np.zeros((0, 4), np.float32)
_NO_LIMBS = np.zeros((0, 4), np.int32)
_limb = lambda *row: np.array([row], np.int32)
_peak = lambda *row: np.array([row], np.float32)


@pytest.mark.parametrize("call, message", [
    pytest.param(lambda: find_peaks_c(_maps(), _TH17, -3), "num_parts must be > 0, got -3",
                 id="peaks-num_parts-negative"),
    pytest.param(lambda: find_peaks_c(_maps(), _TH17, 0), "num_parts must be > 0, got 0",
                 id="peaks-num_parts-zero"),
    pytest.param(lambda: find_peaks_c(_maps(c=10), _TH17, 17),
                 "num_parts 17 exceeds the map channels", id="peaks-num_parts-over-channels"),
    pytest.param(lambda: find_peaks_c(_maps(), _TH17[:3], 17),
                 "threshold for each of the 17 parts, got 3", id="peaks-too-few-thresholds"),
    pytest.param(lambda: find_peaks_c(_maps(), np.full(17, np.nan, np.float32), 17),
                 "threshold of part 0 is NaN", id="peaks-nan-threshold"),
    pytest.param(lambda: find_peaks_c(_maps(), _TH17, 17, -1),
                 "max_peaks_per_part must be >= 0", id="peaks-max_peaks-negative"),
    pytest.param(lambda: find_peaks_c(_maps(h=0), _TH17, 17),
                 r"H, W, C > 0, got \[0, 8, 58\]", id="peaks-empty-maps"),
    # the case that aborted the interpreter (exit 134) before `except +`
    pytest.param(lambda: group_c(_NO_PEAKS, _maps(), _NO_LIMBS, -3),
                 "num_parts must be > 0, got -3", id="group-num_parts-negative"),
    pytest.param(lambda: group_c(_PEAKS, _maps(), _LIMBS, 0), "num_parts must be > 0, got 0",
                 id="group-num_parts-zero"),
    pytest.param(lambda: group_c(_PEAKS, _maps(w=0), _LIMBS, 17),
                 r"H, W, C > 0, got \[8, 0, 58\]", id="group-empty-maps"),
    pytest.param(lambda: group_c(_PEAKS, _maps(), _LIMBS, 17, 0),
                 "num_samples must be > 0, got 0", id="group-num_samples-zero"),
    pytest.param(lambda: group_c(_PEAKS, _maps(), _LIMBS, 17, -5),
                 "num_samples must be > 0, got -5", id="group-num_samples-negative"),
    pytest.param(lambda: group_c(_PEAKS, _maps(), _LIMBS, 17, 10, 0.05, 0.8, -1),
                 "min_parts must be >= 0, got -1", id="group-min_parts-negative"),
    pytest.param(lambda: group_c(_PEAKS, _maps(), _LIMBS, 17, 10, float("nan")),
                 "must not be NaN", id="group-nan-paf_threshold"),
    pytest.param(lambda: group_c(_peak(1, 1, .9, 17), _maps(), _LIMBS, 17),
                 r"peak 0 has part 17, outside \[0, 17\)", id="group-part-too-high"),
    pytest.param(lambda: group_c(_peak(1, 1, .9, -1), _maps(), _LIMBS, 17),
                 r"peak 0 has part -1, outside \[0, 17\)", id="group-part-negative"),
    pytest.param(lambda: group_c(_peak(1, 1, .9, np.nan), _maps(), _LIMBS, 17),
                 "peak 0: part nan is not a whole number", id="group-part-nan"),
    pytest.param(lambda: group_c(_peak(1, 1, .9, 1e30), _maps(), _LIMBS, 17),
                 "is not a whole number", id="group-part-huge"),
    pytest.param(lambda: group_c(_peak(1, 1, .9, 1.5), _maps(), _LIMBS, 17),
                 "peak 0: part 1.5 is not a whole number", id="group-part-fraction"),
    pytest.param(lambda: group_c(_peak(np.nan, 1, .9, 0), _maps(), _LIMBS, 17),
                 "peak 0 has a non-finite x, y or score", id="group-peak-nan-x"),
    pytest.param(lambda: group_c(_peak(1, 1, np.inf, 0), _maps(), _LIMBS, 17),
                 "peak 0 has a non-finite x, y or score", id="group-peak-inf-score"),
    pytest.param(lambda: group_c(_PEAKS[:, :3].copy(), _maps(), _LIMBS, 17),
                 r"peaks must be \[N, 4\]", id="group-peaks-3-columns"),
    pytest.param(lambda: group_c(_PEAKS, _maps(), _limb(0, 17, 20, 21), 17),
                 r"limb 0 \(part 0 -> part 17\) names a part outside \[0, 17\)",
                 id="group-limb-part-too-high"),
    pytest.param(lambda: group_c(_PEAKS, _maps(), _limb(-1, 1, 20, 21), 17),
                 "names a part outside", id="group-limb-part-negative"),
    pytest.param(lambda: group_c(_PEAKS, _maps(), _limb(0, 1, 20, 58), 17),
                 r"limb 0 \(part 0 -> part 1\) has PAF channels \(20, 58\) outside the maps",
                 id="group-limb-channel-too-high"),
    pytest.param(lambda: group_c(_PEAKS, _maps(), _limb(0, 1, -1, 21), 17),
                 "PAF channels .* outside the maps", id="group-limb-channel-negative"),
    # the Python layer: maps must fit the layout, params go through to the core
    pytest.param(lambda: find_peaks(_maps(c=20), COCO17, PostprocessParams()),
                 r"maps must be \[h, w, 58\] for layout coco17", id="py-peaks-maps-vs-layout"),
    pytest.param(lambda: group(_maps(c=20), _PEAKS, COCO17, PostprocessParams()),
                 r"maps must be \[h, w, 58\] for layout coco17", id="py-group-maps-vs-layout"),
    pytest.param(lambda: decode(_maps()[..., 0], COCO17, PostprocessParams(), (1, 1, 0, 0)),
                 r"maps must be \[h, w, 58\].*got shape \(8, 8\)", id="py-decode-2d-maps"),
    pytest.param(lambda: group(_maps(), _PEAKS[:, :2], COCO17, PostprocessParams()),
                 r"peaks must be \[N, 4\]", id="py-group-peaks-2-columns"),
    pytest.param(lambda: decode(_maps(), COCO17, PostprocessParams(num_samples=-1), (1, 1, 0, 0)),
                 "num_samples must be > 0", id="py-decode-num_samples-negative"),
    pytest.param(lambda: decode(_maps(), COCO17, PostprocessParams(max_peaks_per_part=-2),
                                (1, 1, 0, 0)),
                 "max_peaks_per_part must be >= 0", id="py-decode-max_peaks-negative"),
])
def test_bad_arguments_raise_value_error_in_process(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_a_self_limb_layout_is_refused_naming_the_limb():
    limbs = list(COCO17.limbs)
    limbs[3] = (5, 5)   # left_shoulder-left_shoulder
    layout = dataclasses.replace(COCO17, limbs=tuple(limbs))
    maps = render_maps([standing_person(20, 5, 3.0)])
    with pytest.raises(ValueError, match=r"limb 3 \(left_shoulder-left_shoulder\) joins part 5 to itself"):
        decode(maps, layout, PostprocessParams(), (1, 1, 0, 0))
    # the compiled core refuses it as well, when handed a raw limb table
    table = limb_table(COCO17).copy()
    table[3, :2] = 5
    peaks = find_peaks(maps, COCO17, PostprocessParams())
    with pytest.raises(ValueError, match=r"limb 3 \(part 5 -> part 5\) is a self-limb"):
        group_c(peaks, maps, table, COCO17.num_parts)


# --- non-finite maps -------------------------------------------------------------------------

@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_maps_give_no_peaks_and_no_poses(value):
    maps = np.full((46, 54, OPENPOSE18.num_channels), value, np.float32)
    params = PostprocessParams(max_peaks_per_part=0)   # unlimited: every NaN cell used to count
    assert len(find_peaks(maps, OPENPOSE18, params)) == 0
    assert decode(maps, OPENPOSE18, params, (1, 1, 0, 0)) == []


def _single_peak_map(x0=10.3, y0=7.6, shape=(16, 20)):
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    m = np.zeros((h, w, 1), np.float32)
    m[..., 0] = np.exp(-((xs - x0) ** 2 + (ys - y0) ** 2) / 2)
    return m


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["diagonal", "left", "below"])
def test_a_non_finite_cell_next_to_a_peak_leaves_exactly_that_peak(value, where):
    maps = _single_peak_map()                  # integer peak at (10, 8), true centre (10.3, 7.6)
    clean = find_peaks_c(maps, np.full(1, 0.03, np.float32), 1)
    assert len(clean) == 1
    np.testing.assert_allclose(clean[0, :2], [10.3, 7.6], atol=1e-4)
    cell = {"diagonal": (9, 11), "left": (8, 9), "below": (9, 10)}[where]
    maps[cell + (0,)] = value
    peaks = find_peaks_c(maps, np.full(1, 0.03, np.float32), 1)
    assert np.isfinite(peaks).all()
    assert len(peaks) == 1, peaks
    x, y, score, part = peaks[0]
    assert score == clean[0, 2] and part == 0
    if where == "diagonal":      # refinement uses the 4-neighbours only: same position
        np.testing.assert_array_equal(peaks[0, :2], clean[0, :2])
    elif where == "left":        # x has no trustworthy fit: not refined; y still is
        assert x == 10.0 and y == clean[0, 1]
    else:
        assert x == clean[0, 0] and y == 8.0
    np.testing.assert_allclose(peaks, find_peaks_ref(maps, 1, [0.03]), atol=1e-5)


def test_non_finite_paf_samples_give_finite_scores():
    truth = [standing_person(12.3, 6.6, 3.7), standing_person(38.7, 8.2, 3.2)]
    maps = render_maps(truth)
    # one NaN / inf PAF cell on the middle of every limb of the first person
    for l, (a, b) in enumerate(COCO17.limbs):
        mid = np.round((truth[0][a] + truth[0][b]) / 2).astype(int)
        cx = COCO17.paf_offset + 2 * l
        maps[mid[1], mid[0], cx] = np.nan if l % 2 else np.inf
        maps[mid[1], mid[0], cx + 1] = np.nan if l % 3 else -np.inf
    params = PostprocessParams()
    peaks = find_peaks(maps, COCO17, params)
    people, scores = group(maps, peaks, COCO17, params)
    # limbs too short to have 8 of 10 samples away from the bad cell are lost (fragments),
    # the untouched second person is complete; no score is NaN or inf
    assert len(people) >= 2 and (people >= 0).all(1).any()
    assert np.isfinite(scores).all()
    ref_people, ref_scores = reference_group(maps, peaks, COCO17, params)
    np.testing.assert_array_equal(people, ref_people)
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-4)
    poses = decode(maps, COCO17, params, (1, 1, 0, 0))
    assert len(poses) >= 2
    assert all(np.isfinite(p.score) and np.isfinite(p.xy).all() for p in poses)


def test_all_nan_pafs_connect_nothing():
    maps = render_maps([standing_person(20, 5, 3.0)])
    maps[..., COCO17.paf_offset:] = np.nan
    peaks = find_peaks(maps, COCO17, PostprocessParams())
    assert len(peaks) == 17 and np.isfinite(peaks).all()
    people, scores = group(maps, peaks, COCO17, PostprocessParams())
    assert len(people) == 0 and len(scores) == 0


def test_compiled_code_matches_reference_on_maps_with_non_finite_cells():
    rng = np.random.default_rng(3)
    truth = [standing_person(12.3, 6.6, 3.7), standing_person(38.7, 8.2, 3.2)]
    params = PostprocessParams()
    for trial in range(3):
        maps = render_maps(truth)
        bad = rng.random(maps.shape) < 0.01
        maps[bad] = rng.choice(np.array([np.nan, np.inf, -np.inf], np.float32), bad.sum())
        peaks = find_peaks(maps, COCO17, params)
        ref = find_peaks_ref(maps, 17, params.thresholds(17), params.max_peaks_per_part)
        assert np.isfinite(peaks).all()
        np.testing.assert_array_equal(peaks[:, 3], ref[:, 3])
        np.testing.assert_allclose(peaks[:, :3], ref[:, :3], atol=1e-4)
        people, scores = group(maps, peaks, COCO17, params)
        ref_people, ref_scores = reference_group(maps, peaks, COCO17, params)
        assert np.isfinite(scores).all()
        np.testing.assert_array_equal(people, ref_people)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-4)


# --- flat tops: the sub-pixel fit is skipped, not divided by ~0 --------------------------------

def _cross_map(left, centre, right):
    """5x5 map, a peak at cell (2, 2) with left/right (and the same up/down) neighbours."""
    m = np.zeros((5, 5, 1), np.float32)
    m[2, 1:4, 0] = left, centre, right
    m[1, 2, 0], m[3, 2, 0] = left, right
    return m


def _below(value, steps=1):
    """The float32 `steps` representable values below `value`."""
    value = np.float32(value)
    for _ in range(steps):
        value = np.nextafter(value, np.float32(0))
    return value


_HALF = np.float32(0.5)


@pytest.mark.parametrize("left, centre, right", [
    (_below(_HALF, 1), _HALF, _below(_HALF, 2)),          # tops flat to the last bits
    (_HALF - np.float32(3e-8), _HALF, _HALF - np.float32(1.2e-7)),
    (np.float32(0.9999999), np.float32(1.0), np.float32(0.9999998)),
    (np.float32(1e5 - 0.01), np.float32(1e5), np.float32(1e5 - 0.0234375)),
    (_below(np.float32(3.4e38), 3), np.float32(3.4e38), _below(np.float32(3.4e38), 1)),
    (np.float32(2e-7), np.float32(5e-7), np.float32(1e-7)),  # below the log floor: all eps
])
def test_flat_top_offsets_are_zero_finite_and_within_half_a_cell(left, centre, right):
    maps = _cross_map(left, centre, right)
    peaks = find_peaks_c(maps, np.zeros(1, np.float32), 1, 0, True)
    assert len(peaks) == 1
    offset = peaks[0, :2] - 2.0
    assert np.isfinite(offset).all()
    assert (np.abs(offset) <= 0.5).all()
    # flat to within rounding: no fit (the old code returned rounding noise / ~0 here,
    # e.g. -0.17 or -0.3 for the first two tops)
    np.testing.assert_array_equal(offset, [0.0, 0.0])
    np.testing.assert_array_equal(peaks, find_peaks_ref(maps, 1, [0.0]))


def test_broad_real_peaks_are_still_refined():
    """The flatness floor only removes noise: a Gaussian of sigma 20 cells is still refined."""
    maps = np.zeros((40, 80, 1), np.float32)
    ys, xs = np.mgrid[0:40, 0:80].astype(np.float32)
    maps[..., 0] = np.exp(-((xs - 40.3) ** 2 + (ys - 20.8) ** 2) / (2 * 20.0 ** 2))
    peaks = find_peaks_c(maps, np.zeros(1, np.float32), 1)
    assert len(peaks) == 1
    np.testing.assert_allclose(peaks[0, :2], [40.3, 20.8], atol=0.02)


def test_random_peaks_offsets_stay_within_half_a_cell():
    rng = np.random.default_rng(7)
    maps = (rng.random((40, 50, 3), dtype=np.float32) * np.float32(1e-3) + np.float32(0.5))
    peaks = find_peaks_c(maps, np.zeros(3, np.float32), 3, 0, True)
    assert len(peaks) > 100
    cells = np.round(peaks[:, :2])
    assert np.isfinite(peaks).all()
    assert (np.abs(peaks[:, :2] - cells) <= 0.5).all()


def test_decode_takes_given_peaks_in_place_of_its_own_search():
    """`decode(..., peaks=P)` groups P: find_peaks' own peaks give the same people, and
    peaks moved by a known shift move every joint by it (in image pixels)."""
    truth = [standing_person(12.3, 6.6, 3.7), standing_person(38.7, 8.2, 3.2)]
    maps = render_maps(truth, shape=(46, 54))
    params = PostprocessParams()
    to_image = (8.0, 8.0, 3.5, 3.5)
    own = decode(maps, COCO17, params, to_image)
    peaks = find_peaks(maps, COCO17, params)
    given = decode(maps, COCO17, params, to_image, peaks=peaks)
    assert [p.xy.tolist() for p in given] == [p.xy.tolist() for p in own]
    shifted = peaks.copy()
    shifted[:, 0] += 0.25
    moved = decode(maps, COCO17, params, to_image, peaks=shifted)
    for before, after in zip(own, moved):
        assert np.allclose(after.xy - before.xy, [8.0 * 0.25, 0.0], atol=1e-4)
