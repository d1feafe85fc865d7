"""The compiled peaks + grouping: known answers on rendered maps, agreement with the NumPy
reference on the peer network's real maps, and thread safety."""
import threading

import numpy as np
import pytest

from grouping_reference import find_peaks_ref, group_ref
from pose_tf.grouping import PostprocessParams, decode, find_peaks, group, limb_table
from pose_tf.keypoints import COCO17, OPENPOSE18

from conftest import COCO_MINI, PEER_GRAPH, need


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
    from pose_tf.estimator import Estimator
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
        ref_people, ref_scores = group_ref(
            peaks, maps, limb_table(OPENPOSE18), 18, num_samples=params.num_samples,
            paf_threshold=params.paf_threshold, min_inlier_ratio=params.min_inlier_ratio,
            min_parts=params.min_parts, min_mean_score=params.min_mean_score)
        np.testing.assert_array_equal(people, ref_people)
        np.testing.assert_allclose(scores, ref_scores, rtol=1e-4)
        total += len(people)
    assert total >= 3   # the images show people; grouping must find them


def test_grouping_is_reentrant_across_threads(peer_maps):
    params = PostprocessParams()
    expected = [group(m, find_peaks(m, OPENPOSE18, params), OPENPOSE18, params)[0] for m in peer_maps]
    results = {}

    def work(t):
        results[t] = [group(m, find_peaks(m, OPENPOSE18, params), OPENPOSE18, params)[0]
                      for m in peer_maps * 5]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for out in results.values():
        for got, want in zip(out, expected * 5):
            np.testing.assert_array_equal(got, want)


def test_bad_arguments_raise_clear_errors():
    maps = np.zeros((8, 8, COCO17.num_channels), np.float32)
    peaks = np.array([[1, 1, 0.9, 5], [2, 2, 0.9, 1]], np.float32)   # not grouped by part
    with pytest.raises(ValueError, match="grouped by part"):
        group(maps, peaks, COCO17, PostprocessParams())
