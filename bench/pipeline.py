"""Benchmark: training-sample preprocessing (decode + augment + targets) at 368x432.

ours       pose_tf.data.pipeline.build_dataset (tf.data, TF ops, targets vectorised over people)
reference  the same work per image in NumPy/OpenCV the way tf-pose-estimation's dataflow
           does it: cv2.imdecode, a chain of cv2 ops for scale / rotation (warpAffine) /
           flip / crop-pad, then heatmaps and PAFs built at input resolution with a loop
           per person and per joint / limb (each joint's window one NumPy expression,
           where tf-pose runs numba-jitted pixel loops), background channel, count-map
           averaging, cv2.resize INTER_AREA down to the output grid, the ignore mask
           warped the same way, and the same colour jitter.

Both read the same real records (coco128 converted with the project's converter unless
--records is given), in one run. "Per core" = samples per CPU-second of the process
(user + system time of all its threads), so neither side gains from using more cores;
ours is additionally run with a 1-thread private pool (the per-core setting) and with
full parallelism for its wall-clock rate on this machine.

    python bench/pipeline.py [--records GLOB] [--samples N] [--json PATH]
"""
from __future__ import annotations

import argparse
import glob
import json
import math
import os
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import data_dir  # noqa: E402
from pose_tf.io.files import write_text_atomic  # noqa: E402

INPUT = (368, 432)
STRIDE = 8
COCO128 = str(data_dir() / "coco128")


# ------------------------------------------------------------------------------ records

def find_or_make_records(pattern, workdir):
    """Shards to read: `pattern` if it matches, else coco128 converted into `workdir`."""
    if pattern:
        files = sorted(glob.glob(pattern))
        if not files:
            sys.exit(f"no records match {pattern}")
        return pattern, files
    default = os.path.join(os.environ.get("POSE_TF_RECORDS", "/work/records"),
                           "coco128", "coco128-train2017-[0-9]*-of-*.tfrecord")
    if glob.glob(default):
        return default, sorted(glob.glob(default))
    if not os.path.isdir(COCO128):
        sys.exit(f"no records given and {COCO128} is absent")
    from pose_tf.data.convert import ConvertOptions, convert

    convert(ConvertOptions(
        source="coco", annotations=os.path.join(COCO128, "annotations", "person_keypoints_train2017.json"),
        images=os.path.join(COCO128, "train2017"), out=workdir, prefix="coco128-train2017",
        num_shards=2, workers=1, progress=False))
    pattern = os.path.join(workdir, "coco128-train2017-*-of-*.tfrecord")
    return pattern, sorted(glob.glob(pattern))


# ------------------------------------------------------------------------------ reference

class Reference:
    """tf-pose-estimation-style preprocessing of one record, in NumPy/OpenCV."""

    def __init__(self, seed=0, grid_targets=False):
        from pose_tf.codec.targets import TargetConfig
        from pose_tf.core.keypoints import COCO17, COCO_FLIP
        from pose_tf.data.augment import AugmentConfig

        self.aug = AugmentConfig()
        self.tc = TargetConfig()
        self.limbs = COCO17.limb_array()
        self.flip_index = COCO_FLIP
        self.rng = np.random.default_rng(seed)
        # grid_targets: build heatmaps/PAFs directly on the output grid (a cheaper variant
        # than tf-pose's full-resolution maps + resize; shown for information).
        self.res = STRIDE if grid_targets else 1

    def __call__(self, serialized):
        import cv2

        from pose_tf.data import records

        s = records.decode(serialized)
        image = cv2.imdecode(np.frombuffer(s.image_bytes, np.uint8), cv2.IMREAD_COLOR)
        mask = s.ignore_mask() if s.ignore_png else None
        kp = s.keypoints.copy()
        labelled = s.labelled.astype(np.float32)
        aug, rng = self.aug, self.rng
        h0, w0 = image.shape[:2]

        # pose_random_scale: resize the whole image
        scale = min(INPUT[0] / h0, INPUT[1] / w0) * rng.uniform(aug.scale_min, aug.scale_max)
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        if mask is not None:
            mask = cv2.resize(mask, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        kp[..., :2] *= scale
        # pose_rotation: warpAffine about the image centre (tf-pose uses INTER_AREA here)
        angle = rng.uniform(-aug.rotation_deg, aug.rotation_deg)
        h, w = image.shape[:2]
        rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
        image = cv2.warpAffine(image, rot, (w, h), flags=cv2.INTER_AREA,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))
        if mask is not None:
            mask = cv2.warpAffine(mask, rot, (w, h), flags=cv2.INTER_NEAREST)
        kp[..., :2] = kp[..., :2] @ rot[:, :2].T + rot[:, 2]
        # pose_flip: mirror + swap left/right joints
        if rng.uniform() < aug.flip_prob:
            image = cv2.flip(image, 1)
            if mask is not None:
                mask = cv2.flip(mask, 1)
            kp[..., 0] = w - kp[..., 0]
            kp = kp[:, self.flip_index]
            labelled = labelled[self.flip_index]
        # pose_crop_random: crop / pad to the input size around a random point
        y0 = int(rng.uniform(0, max(1, h - INPUT[0])))
        x0 = int(rng.uniform(0, max(1, w - INPUT[1])))
        image = self._crop_pad(image, y0, x0, 128)
        if mask is not None:
            mask = self._crop_pad(mask, y0, x0, 0)
        kp[..., 0] -= x0
        kp[..., 1] -= y0
        box_area = s.bbox[:, 2] * s.bbox[:, 3] * scale * scale

        image = self._colour(cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32))
        heat = self._heatmaps(kp, box_area)
        paf = self._pafs(kp)
        hm_mask, paf_mask = self._masks(mask, labelled)
        return image, heat, paf, hm_mask, paf_mask

    @staticmethod
    def _crop_pad(img, y0, x0, fill):
        import cv2

        crop = img[y0: y0 + INPUT[0], x0: x0 + INPUT[1]]
        bottom, right = INPUT[0] - crop.shape[0], INPUT[1] - crop.shape[1]
        if bottom or right:
            value = (fill,) * 3 if img.ndim == 3 else fill
            crop = cv2.copyMakeBorder(crop, 0, bottom, 0, right, cv2.BORDER_CONSTANT, value=value)
        return crop

    def _colour(self, image):
        u = self.rng.uniform(-1, 1, 3)
        grey = image @ np.float32([0.299, 0.587, 0.114])
        image = grey[..., None] + (1 + self.aug.saturation * u[2]) * (image - grey[..., None])
        mean = grey.mean()
        image = mean + (1 + self.aug.contrast * u[1]) * (image - mean) + self.aug.brightness * u[0]
        return np.clip(image, 0, 255)

    def _sigma(self, area):
        ratio = area / (INPUT[0] * INPUT[1])
        large, small = self.tc.sigma_thresholds
        return self.tc.sigmas[0] if ratio > large else (
            self.tc.sigmas[1] if ratio >= small else self.tc.sigmas[2])

    def _heatmaps(self, kp, box_area):
        """get_heatmap: per person, per joint, a Gaussian window at input resolution."""
        import cv2

        r = self.res
        size = (INPUT[0] // r, INPUT[1] // r)
        heat = np.zeros(size + (18,), np.float32)
        for person, area in zip(kp, box_area):
            sigma = self._sigma(area) * STRIDE / r        # grid cells -> map pixels
            radius = 3.0 * sigma
            for j, (x, y, v) in enumerate(person):
                if v <= 0:
                    continue
                x, y = x / r, y / r
                x0, x1 = int(max(0, x - radius)), int(min(size[1], x + radius + 1))
                y0, y1 = int(max(0, y - radius)), int(min(size[0], y + radius + 1))
                if x0 >= x1 or y0 >= y1:
                    continue
                xs = np.arange(x0, x1) + 0.5 - x
                ys = np.arange(y0, y1) + 0.5 - y
                g = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * sigma * sigma))
                window = heat[y0:y1, x0:x1, j]
                np.maximum(window, g, out=window)
        heat[..., 17] = np.clip(1 - heat[..., :17].max(axis=-1), 0, 1)
        if r == STRIDE:
            return heat
        return cv2.resize(heat, (INPUT[1] // STRIDE, INPUT[0] // STRIDE), interpolation=cv2.INTER_AREA)

    def _pafs(self, kp):
        """get_vectormap: per person, per limb, a band at input resolution; count-map mean."""
        import cv2

        r = self.res
        size = (INPUT[0] // r, INPUT[1] // r)
        num_limbs = len(self.limbs)
        field = np.zeros(size + (2 * num_limbs,), np.float32)
        count = np.zeros(size + (num_limbs,), np.float32)
        width = self.tc.paf_width * STRIDE / r
        for person in kp / np.float32([r, r, 1]):
            for l, (a, b) in enumerate(self.limbs):
                if person[a, 2] <= 0 or person[b, 2] <= 0:
                    continue
                pa, pb = person[a, :2], person[b, :2]
                vec = pb - pa
                length = math.hypot(vec[0], vec[1])
                if length < 1e-3:
                    continue
                u = vec / length
                x0 = int(max(0, min(pa[0], pb[0]) - width))
                x1 = int(min(size[1], max(pa[0], pb[0]) + width + 1))
                y0 = int(max(0, min(pa[1], pb[1]) - width))
                y1 = int(min(size[0], max(pa[1], pb[1]) + width + 1))
                if x0 >= x1 or y0 >= y1:
                    continue
                dx = np.arange(x0, x1) + 0.5 - pa[0]
                dy = np.arange(y0, y1) + 0.5 - pa[1]
                along = dy[:, None] * u[1] + dx[None, :] * u[0]
                across = np.abs(dx[None, :] * u[1] - dy[:, None] * u[0])
                inside = (along >= 0) & (along <= length) & (across <= width)
                field[y0:y1, x0:x1, 2 * l] += inside * u[0]
                field[y0:y1, x0:x1, 2 * l + 1] += inside * u[1]
                count[y0:y1, x0:x1, l] += inside
        field /= np.repeat(np.maximum(count, 1), 2, axis=-1)
        if r == STRIDE:
            return field
        return cv2.resize(field, (INPUT[1] // STRIDE, INPUT[0] // STRIDE), interpolation=cv2.INTER_AREA)

    def _masks(self, mask, labelled):
        import cv2

        grid = (INPUT[0] // STRIDE, INPUT[1] // STRIDE)
        if mask is None:
            supervise = np.ones(grid, np.float32)
        else:
            share = cv2.resize(mask, (grid[1], grid[0]), interpolation=cv2.INTER_AREA) / 255.0
            supervise = (share < self.tc.ignore_cover).astype(np.float32)
        hm = supervise[..., None] * np.append(labelled, 1.0)
        limb_on = labelled[self.limbs[:, 0]] * labelled[self.limbs[:, 1]]
        paf = supervise[..., None] * np.repeat(limb_on, 2)
        return hm, paf


# ------------------------------------------------------------------------------ timing

def cpu_seconds():
    t = os.times()
    return t.user + t.system


class Measured:
    """Accumulates samples, wall and CPU seconds over several rounds."""

    def __init__(self, name):
        self.name, self.samples, self.wall, self.cpu = name, 0, 0.0, 0.0

    def add(self, samples, wall, cpu):
        self.samples += samples
        self.wall += wall
        self.cpu += cpu


def reference_runner(serialized, grid_targets=False):
    ref = Reference(seed=0, grid_targets=grid_targets)
    for data in serialized[:4]:       # warm-up (imports, allocator)
        ref(data)
    position = [0]

    def run(count):
        wall, cpu = time.perf_counter(), cpu_seconds()
        for _ in range(count):
            ref(serialized[position[0] % len(serialized)])
            position[0] += 1
        return count, time.perf_counter() - wall, cpu_seconds() - cpu
    return run


def ours_runner(pattern, batch_size, threads):
    from pose_tf.data.pipeline import build_dataset
    from pose_tf.data.recipes import single_source

    one_thread = threads == 1
    ds = build_dataset(single_source(pattern), input_size=INPUT, stride=STRIDE,
                       batch_size=batch_size, training=True, seed=0, shuffle_buffer=64,
                       num_parallel_calls=1 if one_thread else None,
                       threads=1 if one_thread else None, prefetch=not one_thread)
    it = iter(ds)
    for _ in range(2):                 # warm-up: tracing, first reads
        next(it)

    def run(count):
        batches = math.ceil(count / batch_size)
        wall, cpu = time.perf_counter(), cpu_seconds()
        for _ in range(batches):
            images, maps = next(it)
        _ = float(maps["pafs"][0, 0, 0, 0])   # results materialised
        return batches * batch_size, time.perf_counter() - wall, cpu_seconds() - cpu
    return run


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", help="glob of record shards (default: coco128 records)")
    p.add_argument("--samples", type=int, default=256, help="samples per measurement")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3, help="alternating measurement rounds")
    p.add_argument("--json", help="write ours_per_core, reference_per_core, speedup here")
    args = p.parse_args(argv)

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)   # per-core: no hidden op threads

    from pose_tf.data import records

    with tempfile.TemporaryDirectory(prefix="bench_pipeline_") as tmp:
        pattern, files = find_or_make_records(args.records, tmp)
        serialized = [r for f in files for r in records.read_records(f)]
        people = sum(records.decode(r).num_people for r in serialized)
        print(f"records: {pattern} ({len(serialized)} images, {people} people), "
              f"input {INPUT[0]}x{INPUT[1]}, stride {STRIDE}, cores on machine {os.cpu_count()}")

        # Per core: the reference and ours with one thread and no background work
        # (sequential reads, no prefetch), alternated in rounds so that load from other
        # processes hits both alike; process CPU time then belongs to the side measured.
        runners = [
            (Measured("reference (NumPy/OpenCV, 1 process)"), reference_runner(serialized)),
            (Measured("ours (tf.data, 1 thread)"), ours_runner(pattern, args.batch_size, 1)),
            (Measured("reference, targets built on the grid"),
             reference_runner(serialized, grid_targets=True)),
        ]
        per_round = max(args.batch_size, args.samples // args.rounds)
        for _ in range(args.rounds):
            for measured, run in runners:
                measured.add(*run(per_round))
        rows = [(m.name, m.samples, m.wall, m.cpu) for m, _ in runners]
        del runners
        # For information: ours with the machine's cores (AUTOTUNE, prefetch), run alone.
        parallel = Measured(f"ours (tf.data, AUTOTUNE, {os.cpu_count()} cores)")
        parallel.add(*ours_runner(pattern, args.batch_size, None)(args.samples))
        rows.append((parallel.name, parallel.samples, parallel.wall, parallel.cpu))

    print(f"\n{'pipeline':<40} {'samples':>7} {'wall s':>7} {'cpu s':>7} {'samples/s':>10} "
          f"{'per core':>9}")
    for name, n, wall, cpu in rows:
        print(f"{name:<40} {n:>7} {wall:>7.2f} {cpu:>7.2f} {n / wall:>10.1f} {n / cpu:>9.1f}")
    per_core = {name: n / cpu for name, n, wall, cpu in rows}
    reference_per_core = rows[0][1] / rows[0][3]
    ours_per_core = rows[1][1] / rows[1][3]
    grid_reference_per_core = rows[2][1] / rows[2][3]
    speedup = ours_per_core / reference_per_core
    print("\nper core = samples per CPU-second (user + system, all threads of the process)")
    print(f"ours {ours_per_core:.1f}/s per core vs reference {reference_per_core:.1f}/s per core: "
          f"speedup x{speedup:.2f} (x{ours_per_core / grid_reference_per_core:.2f} against the "
          f"grid-target variant of the reference)")
    if args.json:
        out = {
            "ours_per_core": round(ours_per_core, 2),
            "reference_per_core": round(reference_per_core, 2),
            "speedup": round(speedup, 3),
            "reference_grid_targets_per_core": round(grid_reference_per_core, 2),
            "speedup_vs_grid_reference": round(ours_per_core / grid_reference_per_core, 3),
            "ours_parallel_samples_per_s": round(rows[3][1] / rows[3][2], 2),
            "rows": {name: round(v, 2) for name, v in per_core.items()},
            "input_size": list(INPUT), "samples": args.samples, "records": pattern,
            "per_core_definition": "samples per CPU-second of the process (user+system)",
        }
        write_text_atomic(args.json, json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
