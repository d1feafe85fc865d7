"""Training targets (heatmaps, PAFs, masks) against plain NumPy references."""
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from pose_tf.codec import targets  # noqa: E402
from pose_tf.core.errors import PoseTfError  # noqa: E402
from pose_tf.core.keypoints import COCO17, JOINT_SETS, KEYPOINT_INDEX, OPENPOSE18  # noqa: E402

GRID = (46, 54)
STRIDE = 8
INPUT = (GRID[0] * STRIDE, GRID[1] * STRIDE)


def _np_heatmap(points_sigmas, grid=GRID):
    """Reference: one channel, max over (x, y, sigma) Gaussians, loop per point."""
    ys, xs = np.mgrid[0:grid[0], 0:grid[1]].astype(np.float64)
    out = np.zeros(grid)
    for x, y, s in points_sigmas:
        out = np.maximum(out, np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * s * s)))
    return out


def _np_paf(segments, width, grid=GRID):
    """Reference: loop over cells and segments; average unit vectors where bands overlap."""
    total = np.zeros(grid + (2,))
    count = np.zeros(grid)
    for (ax, ay), (bx, by) in segments:
        v = np.array([bx - ax, by - ay], float)
        length = np.linalg.norm(v)
        u = v / length
        for y in range(grid[0]):
            for x in range(grid[1]):
                d = np.array([x - ax, y - ay])
                along, across = d @ u, abs(d[0] * u[1] - d[1] * u[0])
                if 0 <= along <= length and across <= width:
                    total[y, x] += u
                    count[y, x] += 1
    return total / np.maximum(count, 1)[..., None]


def _person(joints):
    """[17, 3] with the given {name: (x, y)} in grid coordinates, others absent."""
    kp = np.zeros((17, 3), np.float32)
    for name, (x, y) in joints.items():
        kp[KEYPOINT_INDEX[name]] = (x, y, 2)
    return kp


def test_grid_coordinate_convention():
    # Cell c covers input pixels [8c, 8c + 8): its centre 8c + 4 is grid coordinate c.
    assert float(targets.input_to_grid(tf.constant(8 * 5 + 4.0), 8)) == 5.0
    assert float(targets.grid_to_input(tf.constant(5.0), 8)) == 44.0


def test_heatmap_matches_reference_with_peak_at_joint():
    kp = np.stack([_person({"nose": (20.3, 15.7), "left_wrist": (3.0, 40.0)}),
                   _person({"nose": (30.0, 18.0)})])
    sigmas = tf.constant([3.0, 2.0])
    joints, background = targets.heatmaps(kp, sigmas, GRID)
    nose = joints[..., KEYPOINT_INDEX["nose"]].numpy()
    np.testing.assert_allclose(nose, _np_heatmap([(20.3, 15.7, 3.0), (30.0, 18.0, 2.0)]), atol=1e-5)
    wrist = joints[..., KEYPOINT_INDEX["left_wrist"]].numpy()
    assert np.unravel_index(wrist.argmax(), GRID) == (40, 3) and wrist.max() == pytest.approx(1.0)
    # Absent joints draw nothing; background = max(0, 1 - max over joints).
    assert joints[..., KEYPOINT_INDEX["right_ankle"]].numpy().max() == 0
    np.testing.assert_allclose(background[..., 0], np.maximum(0, 1 - joints.numpy().max(-1)), atol=1e-6)


def test_sigma_width_is_the_requested_one():
    kp = _person({"nose": (27.0, 23.0)})[None]
    for sigma in (1.0, 2.0, 3.0):
        joints, _ = targets.heatmaps(kp, tf.constant([sigma]), GRID)
        row = joints[23, :, 0].numpy()
        # exp(-d^2 / 2 sigma^2) at d = sigma is exp(-1/2)
        assert row[27 + int(sigma)] == pytest.approx(np.exp(-0.5), abs=1e-6)


@pytest.mark.parametrize("ratio,expected", [(0.5, 4.0), (0.32, 3.0), (0.1, 3.0), (0.04, 3.0),
                                            (0.039, 2.0), (0.001, 2.0)])
def test_sigma_by_box_area_ratio(ratio, expected):
    config = targets.TargetConfig(sigmas=(4.0, 3.0, 2.0))
    assert float(targets.person_sigmas([ratio], config)[0]) == expected


def test_default_sigmas_are_the_original_projects():
    config = targets.TargetConfig()
    got = targets.person_sigmas([0.5, 0.2, 0.01], config).numpy()
    np.testing.assert_array_equal(got, [3.0, 3.0, 2.0])


def test_paf_unit_vectors_along_a_limb():
    limb = COCO17.limbs.index((KEYPOINT_INDEX["left_elbow"], KEYPOINT_INDEX["left_wrist"]))
    # Offsets of .3/.1 keep every cell off the band's edges (no float ties at distance 1).
    kp = _person({"left_elbow": (10.3, 10.1), "left_wrist": (30.3, 25.1)})[None]
    fields = targets.pafs(kp, COCO17.limbs, GRID, 1.0).numpy()
    got = fields[..., 2 * limb: 2 * limb + 2]
    ref = _np_paf([((10.3, 10.1), (30.3, 25.1))], 1.0)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    inside = np.linalg.norm(got, axis=-1) > 0
    assert inside.sum() > 40
    np.testing.assert_allclose(got[inside], np.tile([[0.8, 0.6]], (inside.sum(), 1)), atol=1e-5)
    # Every other limb is empty: only this limb has both joints.
    others = np.delete(fields, [2 * limb, 2 * limb + 1], axis=-1)
    assert np.abs(others).max() == 0


def test_paf_overlap_is_averaged():
    limb = COCO17.limbs.index((KEYPOINT_INDEX["left_hip"], KEYPOINT_INDEX["right_hip"]))
    a = _person({"left_hip": (10.0, 20.0), "right_hip": (40.0, 20.0)})
    b = _person({"left_hip": (25.0, 5.0), "right_hip": (25.0, 40.0)})
    fields = targets.pafs(np.stack([a, b]), COCO17.limbs, GRID, 1.0).numpy()[..., 2 * limb: 2 * limb + 2]
    ref = _np_paf([((10.0, 20.0), (40.0, 20.0)), ((25.0, 5.0), (25.0, 40.0))], 1.0)
    np.testing.assert_allclose(fields, ref, atol=1e-5)
    np.testing.assert_allclose(fields[20, 25], [0.5, 0.5], atol=1e-6)   # mean of (1, 0) and (0, 1)


def test_no_people_gives_empty_targets():
    kp = np.zeros((0, 17, 3), np.float32)
    maps = targets.make_targets(kp, np.zeros(0, np.float32), np.ones(17, np.float32), None, INPUT)
    assert maps["heatmaps"].shape == GRID + (18,) and maps["pafs"].shape == GRID + (40,)
    assert maps["heatmaps"].numpy()[..., :17].max() == 0
    assert maps["heatmaps"].numpy()[..., 17].min() == 1
    assert maps["pafs"].numpy().max() == 0
    assert maps["heatmap_mask"].numpy().min() == 1 and maps["paf_mask"].numpy().min() == 1


def test_masks_zero_ignore_regions_and_unlabelled_joints():
    labelled = JOINT_SETS["mpii16"].labelled().astype(np.float32)   # no nose, eyes, ears
    fraction = np.zeros(GRID, np.float32)
    fraction[5:10, 20:30] = 1.0
    fraction[30, 30] = 0.4        # under the 0.5 cover threshold: still supervised
    kp = np.zeros((1, 17, 3), np.float32)
    maps = targets.make_targets(kp, np.ones(1, np.float32), labelled, tf.constant(fraction), INPUT)
    hm, paf = maps["heatmap_mask"].numpy(), maps["paf_mask"].numpy()
    assert (hm[5:10, 20:30] == 0).all() and (paf[5:10, 20:30] == 0).all()
    assert (hm[30, 30] == 1)[5:].all()
    outside = np.ones(GRID, bool)
    outside[5:10, 20:30] = False
    for k in range(17):
        assert (hm[..., k][outside] == labelled[k]).all()
    assert (hm[..., 17][outside] == 1).all()           # background stays supervised
    for l, (a, b) in enumerate(COCO17.limbs):
        want = labelled[a] * labelled[b]
        assert (paf[..., 2 * l][outside] == want).all() and (paf[..., 2 * l + 1][outside] == want).all()
    # e.g. nose-eye limbs are off for MPII, shoulder-elbow on
    assert paf[0, 0, 2 * COCO17.limbs.index((0, 1))] == 0
    assert paf[0, 0, 2 * COCO17.limbs.index((5, 7))] == 1


def test_make_targets_uses_input_pixels_and_box_ratio():
    # A joint at input pixel (8*12 + 4, 8*7 + 4) peaks on cell (7, 12).
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, 0] = (8 * 12 + 4, 8 * 7 + 4, 2)
    kp[1, 0] = (8 * 40 + 4, 8 * 30 + 4, 1)
    big, small = 0.5 * INPUT[0] * INPUT[1], 0.01 * INPUT[0] * INPUT[1]
    maps = targets.make_targets(kp, np.array([big, small], np.float32), np.ones(17, np.float32),
                                None, INPUT)
    nose = maps["heatmaps"].numpy()[..., 0]
    np.testing.assert_allclose(nose, _np_heatmap([(12, 7, 3.0), (40, 30, 2.0)]), atol=1e-5)


def test_openpose18_targets_derive_the_neck_between_the_shoulders():
    """The neck (openpose18 part 1) is drawn at the shoulders' midpoint, only where both
    shoulders are labelled; the other parts are the COCO keypoints in OpenPose order."""
    kp = np.zeros((2, 17, 3), np.float32)
    kp[0, 5] = (8 * 10 + 4, 8 * 6 + 4, 2)      # left shoulder
    kp[0, 6] = (8 * 14 + 4, 8 * 6 + 4, 2)      # right shoulder -> neck at cell (12, 6)
    kp[1, 5] = (8 * 30 + 4, 8 * 20 + 4, 2)     # second person: one shoulder only, no neck
    area = np.array([0.1, 0.1], np.float32) * INPUT[0] * INPUT[1]
    maps = targets.make_targets(kp, area, np.ones(17, np.float32), None, INPUT, OPENPOSE18)
    heat = maps["heatmaps"].numpy()
    assert heat.shape[-1] == OPENPOSE18.num_parts + 1
    np.testing.assert_allclose(heat[..., 1], _np_heatmap([(12, 6, 3.0)]), atol=1e-5)
    np.testing.assert_allclose(heat[..., 5], _np_heatmap([(10, 6, 3.0), (30, 20, 3.0)]),
                               atol=1e-5)     # openpose18 part 5 = COCO left shoulder


def test_openpose18_pafs_land_in_the_layouts_channels():
    """OpenPose stores limb l at paf_channels[l], not at 2l: the neck -> right shoulder
    limb (limb 0) must fill channels (12, 13) of the PAF block, nothing else there."""
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, 5] = (8 * 10 + 4, 8 * 6 + 4, 2)      # left shoulder
    kp[0, 6] = (8 * 20 + 4, 8 * 6 + 4, 2)      # right shoulder: neck at x cell 15
    area = np.array([0.1], np.float32) * INPUT[0] * INPUT[1]
    maps = targets.make_targets(kp, area, np.ones(17, np.float32), None, INPUT, OPENPOSE18)
    pafs = maps["pafs"].numpy()
    cx, cy = OPENPOSE18.paf_channels[0]
    assert (cx, cy) == (12, 13)
    assert pafs[6, 17, cx] == pytest.approx(1.0) and pafs[6, 17, cy] == pytest.approx(0.0)
    others = [c for c in range(pafs.shape[-1]) if c not in OPENPOSE18.paf_channel_array()[:2].ravel()]
    assert np.abs(pafs[..., others]).max() == 0.0    # only limbs 0 and 1 (neck-shoulders)
    mask = maps["paf_mask"].numpy()[0, 0]
    np.testing.assert_array_equal(mask, 1.0)


def test_a_source_without_labels_supervises_nothing():
    """labelled all 0 (an unlabelled image): every mask channel is 0, background too."""
    kp = np.zeros((0, 17, 3), np.float32)
    maps = targets.make_targets(kp, np.zeros(0, np.float32), np.zeros(17, np.float32), None,
                                INPUT)
    assert float(tf.reduce_max(maps["heatmap_mask"])) == 0.0
    assert float(tf.reduce_max(maps["paf_mask"])) == 0.0


def test_layout_with_a_part_that_is_not_made_of_coco_keypoints_is_refused():
    from dataclasses import replace

    odd = replace(OPENPOSE18, name="odd", part_names=OPENPOSE18.part_names[:1] + ("pelvis",) + OPENPOSE18.part_names[2:])
    with pytest.raises(PoseTfError, match="pelvis"):
        targets.check_layout(odd)


def test_bad_config_is_refused():
    with pytest.raises(ValueError):
        targets.TargetConfig(sigmas=(1.0, 2.0)).validate()


def test_benchmark_reference_builds_the_same_targets(monkeypatch):
    """bench/pipeline.py's NumPy reference (grid variant) computes what ours computes, so
    the benchmark compares equal work."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "bench" / "pipeline.py"
    monkeypatch.syspath_prepend(str(path.parent))   # as when run as a script: it imports bench/_shared.py
    spec = importlib.util.spec_from_file_location("bench_pipeline", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    ref = bench.Reference(seed=0, grid_targets=True)

    rng = np.random.default_rng(3)
    kp = np.zeros((3, 17, 3), np.float32)
    kp[..., 0] = rng.uniform(20, INPUT[1] - 20, (3, 17))
    kp[..., 1] = rng.uniform(20, INPUT[0] - 20, (3, 17))
    kp[..., 2] = rng.integers(0, 3, (3, 17))
    area = np.float32([0.5, 0.1, 0.01]) * INPUT[0] * INPUT[1]
    ours = targets.make_targets(kp, area, np.ones(17, np.float32), None, INPUT)
    heat, paf = ref._heatmaps(kp, area), ref._pafs(kp)
    # The reference truncates each Gaussian at 3 sigma (as tf-pose does): differences
    # stay below exp(-4.5) ~ 0.011.
    assert np.abs(ours["heatmaps"].numpy() - heat).max() < 0.012
    diff = np.abs(ours["pafs"].numpy() - paf)
    assert (diff > 1e-4).mean() < 0.002          # band-edge float ties only
