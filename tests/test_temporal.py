"""Temporal aggregation of maps (inference/temporal.py) and keypoint smoothing
(tracking/smoothing.py) against cases with known answers."""
import numpy as np
import pytest

from pose_tf.core.pose import Pose
from pose_tf.inference.temporal import (FlowField, TemporalAggregator, TemporalSettings, flow_grid,
                                        warp)
from pose_tf.tracking.smoothing import KeypointSmoother, OneEuroSettings, mean_acceleration

STRIDE = 8


def textured(height, width, shift_x=0.0, shift_y=0.0, seed=0):
    """A smooth random texture, translated by (shift_x, shift_y) image pixels."""
    import cv2

    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.uniform(0, 255, (height + 64, width + 64)).astype(np.float32), (0, 0), 4)
    base = cv2.normalize(base, None, 0, 255, cv2.NORM_MINMAX)
    matrix = np.float32([[1, 0, shift_x - 32], [0, 1, shift_y - 32]])   # content moves by +shift
    grey = cv2.warpAffine(base, matrix, (width, height), flags=cv2.INTER_LINEAR)
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)


def blob_maps(centre_xy, shape=(32, 40), channels=6):
    """Maps with a Gaussian at `centre_xy` (grid coordinates) in every channel."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    g = np.exp(-((xx - centre_xy[0]) ** 2 + (yy - centre_xy[1]) ** 2) / (2 * 1.5 ** 2))
    return np.repeat(g[..., None], channels, axis=2).astype(np.float32)


def test_warp_moves_maps_by_the_flow_exactly():
    maps = blob_maps((20, 12))
    flow = np.zeros((32, 40, 2), np.float32)
    flow[..., 0] = 3.0      # cell p shows what p + 3 shows in the other frame
    moved = warp(maps, flow)
    assert moved.shape == maps.shape
    y, x = np.unravel_index(np.argmax(moved[..., 5]), moved.shape[:2])
    assert (x, y) == (17, 12)
    np.testing.assert_allclose(moved[:, :30], maps[:, 3:33], atol=1e-6)


def test_flow_in_cells_recovers_a_known_translation():
    c2i = (float(STRIDE), float(STRIDE), STRIDE / 2, STRIDE / 2)     # scale 1: cell c at 8c + 4
    now, before = textured(256, 320), textured(256, 320, shift_x=12.0, shift_y=-4.0)
    grids = [flow_grid(im, c2i, (32, 40), 2) for im in (now, before)]
    assert grids[0].shape == (64, 80)
    flow = FlowField(2)(grids[0], grids[1])
    inner = flow[4:-4, 4:-4]
    # 12 px right and 4 px up in the image are 1.5 and -0.5 cells at stride 8.
    assert abs(np.median(inner[..., 0]) - 1.5) < 0.1
    assert abs(np.median(inner[..., 1]) + 0.5) < 0.1


class Item:
    """A frame as the video path carries it: maps where the frame's blob is."""

    def __init__(self, key, image, blob_xy):
        self.key, self.image = key, image
        self.maps = None if image is None else blob_maps(blob_xy)
        self.cell_to_image = None if image is None else (float(STRIDE), float(STRIDE), STRIDE / 2, STRIDE / 2)


def _frames(positions, shift_per_frame=0.0):
    return [Item(f"f{i}", textured(256, 320, shift_x=shift_per_frame * i), xy)
            for i, xy in enumerate(positions)]


@pytest.mark.parametrize("mode", ["online", "offline"])
def test_every_frame_comes_out_once_in_order_with_gaps_passed_through(mode):
    frames = _frames([(20, 12)] * 6)
    frames[2] = Item("f2", None, None)
    aggregator = TemporalAggregator(TemporalSettings(window=2, mode=mode))
    out = list(aggregator.run(iter(frames)))
    assert [item.key for item in out] == [f"f{i}" for i in range(6)]
    assert out[2].maps is None
    # A still scene: the aggregate of identical maps is those maps.
    for item in out[:2] + out[3:]:
        np.testing.assert_allclose(item.maps, blob_maps((20, 12)), atol=1e-4)
    assert aggregator.elapsed_ms > 0


def test_a_moving_blob_stays_where_the_current_frame_has_it():
    # The scene moves 16 px (two cells) right per frame, and so does the blob in the maps.
    positions = [(12 + 2 * i, 12) for i in range(5)]
    aggregator = TemporalAggregator(TemporalSettings(window=2, mode="offline"))
    maps = list(aggregator.run(_frames(positions, shift_per_frame=16.0)))[2].maps
    y, x = np.unravel_index(np.argmax(maps[..., 0]), maps.shape[:2])
    assert (x, y) == (16, 12)
    # Warped, not smeared: the peak keeps its height; the same weights without warping
    # would lower it to ~0.57.
    weights = [0.25, 0.5, 1.0, 0.5, 0.25]
    unwarped = sum(w * blob_maps(positions[i])[..., 0] for i, w in enumerate(weights)) / sum(weights)
    assert maps[12, 16, 0] > 0.9 and unwarped[12, 16] < 0.6


def test_settings_are_checked():
    with pytest.raises(ValueError):
        TemporalSettings(window=0)
    with pytest.raises(ValueError):
        TemporalSettings(mode="both")


def _pose(xy, track_id=0, detected=True):
    keypoints = np.zeros((17, 3), np.float32)
    keypoints[:, :2] = xy
    keypoints[:, 2] = 1.0 if detected else 0.0
    keypoints[0, :2] += (0.0, 150.0)       # a person 150 px tall
    return Pose(keypoints, 1.0, track_id)


def test_one_euro_halves_the_jitter_of_a_still_person():
    rng = np.random.default_rng(0)
    raw = [[_pose(np.array([100.0, 100.0]) + rng.normal(0, 2.0, (17, 2)))] for _ in range(60)]
    smoother = KeypointSmoother(fps=25.0)
    smoothed = [smoother(frame) for frame in raw]
    assert mean_acceleration(smoothed) < 0.5 * mean_acceleration(raw)
    assert smoothed[0][0].keypoints[0, 0] == raw[0][0].keypoints[0, 0]    # first frame as is


def test_one_euro_follows_fast_motion_with_little_lag():
    # 20 px per frame (500 px/s at 25 fps): the filter opens up and lags by under a quarter
    # of a frame's motion (a fixed low-pass at min_cutoff, 1 Hz, would lag by 80 px).
    raw = [[_pose(np.array([20.0 * t, 50.0]))] for t in range(40)]
    smoother = KeypointSmoother(fps=25.0)
    last = [smoother(frame) for frame in raw][-1][0]
    assert abs(last.keypoints[1, 0] - raw[-1][0].keypoints[1, 0]) < 5.0


def test_one_euro_restarts_a_joint_that_was_missing_and_leaves_untracked_poses():
    smoother = KeypointSmoother(fps=25.0, settings=OneEuroSettings(max_gap=5))
    smoother([_pose(np.array([0.0, 0.0]))])
    smoother([_pose(np.array([0.0, 0.0]), detected=False)])
    back = smoother([_pose(np.array([50.0, 0.0]))])[0]
    assert back.keypoints[1, 0] == 50.0      # no pull from where the joint vanished
    untracked = _pose(np.array([7.0, 7.0]), track_id=None)
    assert smoother([untracked])[0] is untracked


def test_precision_auto_means_bfloat16_only_with_amx_and_a_network_that_holds(tmp_path):
    from pose_tf.inference.precision import cpu_has_amx, cpu_has_bfloat16, resolve_precision

    amx, avx512, without = tmp_path / "amx", tmp_path / "avx512", tmp_path / "plain"
    amx.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n")
    avx512.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2\n")
    assert cpu_has_bfloat16(str(amx)) and cpu_has_bfloat16(str(avx512))
    assert not cpu_has_bfloat16(str(without))
    assert cpu_has_amx(str(amx)) and not cpu_has_amx(str(avx512))
    assert resolve_precision("auto", str(amx)) == "bfloat16"
    assert resolve_precision("auto", str(amx), bfloat16_holds=False) == "float32"
    assert resolve_precision("auto", str(avx512)) == "float32"     # mixed speed there, measured
    assert resolve_precision("auto", str(without)) == "float32"
    assert resolve_precision("bfloat16", str(avx512), bfloat16_holds=False) == "bfloat16"   # forced
    assert resolve_precision("bfloat16", str(without)) == "bfloat16"     # forced: allowed, warned
    with pytest.raises(ValueError):
        resolve_precision("fp16")
