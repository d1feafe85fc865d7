#!/usr/bin/env python
"""Post-processing speed: our peaks + grouping against the peers' way, in one run.

On the peer network's real maps for every coco_mini val image (the network runs once per
image, untimed), we time per image:
  ours       peaks at the network's own resolution with sub-pixel refinement, grouping
             with bilinear PAF sampling, missing-joint placement, Pose objects
  reference  tf-pose-estimation's way: all channels upsampled x4 (bilinear), heatmaps
             smoothed with a 25x25 Gaussian (sigma 3), 3x3 max-pool NMS (all in a
             compiled tf.function), peaks read out, then the same compiled grouping on
             the upsampled maps
and report the medians, their ratio, and persons/image + ms on crowded frames of
street_crowd.avi.

    python bench/postprocess.py [--json out.json] [--shared ../shared]
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import SHARED, data_dir, peer_graph  # noqa: E402
from pose_tf.grouping import PostprocessParams, decode, group  # noqa: E402


def gaussian_kernel(size=25, sigma=3.0):
    x = np.arange(size) - size // 2
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    k = np.outer(g, g)
    return (k / k.sum()).astype(np.float32)


class PeerWayReference:
    """Upsample x4 + Gaussian smoothing + 3x3 max-pool NMS, then the same grouping."""

    def __init__(self, layout, params, upsample=4):
        import tensorflow as tf

        self.layout, self.params, self.upsample = layout, params, upsample
        parts = layout.num_parts
        kernel = tf.constant(np.tile(gaussian_kernel()[:, :, None, None], (1, 1, parts, 1)))

        @tf.function(input_signature=[tf.TensorSpec([None, None, None], tf.float32)])
        def upsample_smooth_nms(maps):
            h, w = tf.shape(maps)[0], tf.shape(maps)[1]
            up = tf.image.resize(maps[None], (h * upsample, w * upsample), method="bilinear")
            heat = tf.nn.depthwise_conv2d(up[..., :parts], kernel, [1, 1, 1, 1], "SAME")
            pooled = tf.nn.max_pool2d(heat, 3, 1, "SAME")
            is_peak = tf.logical_and(tf.equal(heat, pooled), heat > params.peak_threshold)
            return up[0], heat[0], is_peak[0]

        self._fn = upsample_smooth_nms

    def __call__(self, maps, cell_to_image):
        from pose_tf.codec.completion import complete_keypoints
        from pose_tf.core.geometry import grid_to_input, input_to_grid
        from pose_tf.core.pose import Pose
        from pose_tf.grouping import people_to_keypoints, person_score

        up, heat, is_peak = (t.numpy() for t in self._fn(maps))
        ys, xs, cs = np.nonzero(is_peak)
        order = np.lexsort((-heat[ys, xs, cs], cs))   # grouped by part, strongest first
        peaks = np.stack([xs, ys, heat[ys, xs, cs], cs], 1)[order].astype(np.float32)
        upsampled = np.ascontiguousarray(up)
        people, _ = group(upsampled, peaks, self.layout, self.params)
        if len(people) == 0:
            return []
        kps = people_to_keypoints(peaks, people, self.layout)
        sx, sy, ox, oy = cell_to_image
        u = self.upsample
        found = kps[..., 2] > 0
        # Upsampled cell p is a grid of stride 1/u in low-res cells: its centre is the
        # low-res grid coordinate (p + 0.5) / u - 0.5, which cell_to_image takes to pixels.
        low = input_to_grid(grid_to_input(kps[..., :2], 1.0 / u), 1.0)
        kps[..., 0] = np.where(found, low[..., 0] * sx + ox, 0)
        kps[..., 1] = np.where(found, low[..., 1] * sy + oy, 0)
        kps = complete_keypoints(kps)
        return [Pose(k, s) for k, s in zip(kps, person_score(kps))]


def median_ms(fn, inputs, repeat):
    times = []
    for _ in range(repeat):
        for args in inputs:
            t0 = time.perf_counter()
            fn(*args)
            times.append(1e3 * (time.perf_counter() - t0))
    return float(np.median(times)), times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=str(SHARED))
    ap.add_argument("--json", help="write ours_ms, reference_ms, speedup (+ crowd figures) here")
    ap.add_argument("--repeat", type=int, default=3, help="timed passes over the images")
    ap.add_argument("--crowd-frames", type=int, default=20, help="frames of street_crowd.avi")
    args = ap.parse_args()

    from pose_tf.inference.estimator import Estimator
    from pose_tf.io.images import read_image
    from pose_tf.io.video import VideoSource

    shared = Path(args.shared)
    peer = peer_graph(shared)
    val = data_dir(shared) / "coco_mini/val2017"
    if not peer.exists() or not val.exists():
        sys.exit(f"needs the peer network and coco_mini under {shared}")
    params = PostprocessParams()
    est = Estimator.from_path(str(peer), layout="openpose18", params=params)
    layout = est.layout
    reference = PeerWayReference(layout, params)

    def ours(maps, c2i):
        return decode(maps, layout, params, c2i)

    print("computing peer maps for coco_mini val2017 ...", flush=True)
    inputs = [est.predict_maps(read_image(p)) for p in sorted(val.glob("*.jpg"))]
    reference(*inputs[0])  # build the tf.function before timing
    ours_ms, _ = median_ms(ours, inputs, args.repeat)
    ref_ms, _ = median_ms(reference, inputs, args.repeat)
    people_ours = np.mean([len(ours(*x)) for x in inputs])
    people_ref = np.mean([len(reference(*x)) for x in inputs])

    print(f"computing peer maps for {args.crowd_frames} frames of street_crowd.avi ...", flush=True)
    video = VideoSource(str(data_dir(shared) / "videos/street_crowd.avi"))
    frames = [f for i, f in enumerate(video) if i % 10 == 0][: args.crowd_frames]
    crowd_inputs = [est.predict_maps(f) for f in frames]
    crowd_ours_ms, _ = median_ms(ours, crowd_inputs, args.repeat)
    crowd_ref_ms, _ = median_ms(reference, crowd_inputs, args.repeat)
    crowd_people = np.mean([len(ours(*x)) for x in crowd_inputs])
    crowd_people_ref = np.mean([len(reference(*x)) for x in crowd_inputs])

    rows = [
        ("coco_mini val (79 img)", ours_ms, ref_ms, people_ours, people_ref),
        (f"street_crowd ({len(frames)} fr)", crowd_ours_ms, crowd_ref_ms, crowd_people, crowd_people_ref),
    ]
    print(f"\nmaps: peer network at 368x432 box -> {inputs[0][0].shape[:2]} cells; median ms per image")
    print(f"{'set':<24}{'ours ms':>10}{'reference ms':>14}{'speedup':>9}{'people ours':>13}{'people ref':>12}")
    for name, o, r, po, pr in rows:
        print(f"{name:<24}{o:>10.3f}{r:>14.2f}{r / o:>8.1f}x{po:>13.2f}{pr:>12.2f}")
    result = {
        "ours_ms": ours_ms, "reference_ms": ref_ms, "speedup": ref_ms / ours_ms,
        "people_per_image_ours": float(people_ours), "people_per_image_reference": float(people_ref),
        "crowd_ours_ms": crowd_ours_ms, "crowd_reference_ms": crowd_ref_ms,
        "crowd_speedup": crowd_ref_ms / crowd_ours_ms, "crowd_people_per_image": float(crowd_people),
        "crowd_frames": len(frames),
    }
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
