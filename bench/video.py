#!/usr/bin/env python
"""The video path end to end: frames/s of the sequential and the pipelined path (pose_tf/video).

For each clip and network backend, in one run: read the video, run the network, decode,
track, smooth, draw and encode the drawn video (written under --out-dir), once with every
stage in one thread (what `pose-tf track --no-pipeline` does) and once pipelined (stages
in threads with bounded queues, the default). The two paths take turns over --rounds
rounds so a load change on the shared CPU hits both alike; the best round of each counts.
Every drawn frame and every pose of the two paths is compared: `identical` must be true.
`cores_busy` is CPU time over wall time; `ideal_speedup` is what perfect overlap could
give at most: the CPU time of one pipelined network worker's call (timed alone) plus the
rest of the sequential frame, spread over the machine's cores (ONNX Runtime and TFLite,
whose workers run one thread each; not TensorFlow, whose shared pool spins).

Backends: the shipped default model run by TensorFlow in float32 ("tf-float32") and with
oneDNN's automatic bfloat16 rewrite ("tf-bfloat16": only where the CPU has AVX-512 BF16 or
AMX, else reported as skipped with the reason), and its fastest CPU export (ONNX Runtime
fp32, bench/export.py) exported here into a temp folder ("onnx-fp32").

    python bench/video.py [--json out.json] [--frames 120] [--rounds 2] [--out-dir out/bench/video]
"""
import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _shared import data_dir  # noqa: E402
from pose_tf.commands._model_args import DEFAULT_MODEL  # noqa: E402

VIDEOS = data_dir() / "videos"
CLIPS = ("kickboxing_2people.mp4", "street_crowd.avi")
BACKENDS = ("tf-float32", "tf-bfloat16", "onnx-fp32")


class RecordingWriter:
    """A VideoWriter that also keeps a digest of every frame it encodes."""

    def __init__(self, writer):
        self.writer, self.digests = writer, []

    def write(self, frame):
        self.digests.append(hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest())
        self.writer.write(frame)


def estimator_for(backend: str, work: Path):
    """(Estimator, None) or (None, reason it cannot run here)."""
    from pose_tf.inference.estimator import Estimator
    from pose_tf.inference.precision import cpu_has_bfloat16, set_precision

    if backend == "tf-bfloat16":
        if not cpu_has_bfloat16():
            return None, "this CPU has no AVX-512 BF16 / AMX: bfloat16 would be emulated (slower)"
        set_precision("bfloat16")
        return Estimator.from_path(DEFAULT_MODEL), None
    set_precision("float32")
    if backend == "tf-float32":
        return Estimator.from_path(DEFAULT_MODEL), None
    from pose_tf.export import export

    path = work / "model-fp32.onnx"
    if not path.exists():
        export(DEFAULT_MODEL, "onnx", path)
    return Estimator.from_path(str(path)), None


def run_path(estimator, clip: Path, frames: int, pipelined: bool, out: Path):
    """(frames/s, per-stage ms/frame, frame digests, poses) of one pass over the clip."""
    from pose_tf.io.video import VideoSource, VideoWriter
    from pose_tf.tracking.smoothing import KeypointSmoother
    from pose_tf.tracking.tracker import PoseTracker, load_tracker_config
    from pose_tf.video.pipeline import StageTimes, VideoFrame, run_pipelined, run_sequential
    from pose_tf.video.stages import video_stages
    from pose_tf.viz import draw_poses

    video = VideoSource(str(clip), frames)
    times = StageTimes()
    start, cpu_start = time.perf_counter(), time.process_time()
    with VideoWriter(out, video.fps) as writer:
        recorder = RecordingWriter(writer)
        stages = video_stages(estimator, times, tracker=PoseTracker(load_tracker_config(None)),
                              smoother=KeypointSmoother(video.fps), writer=recorder,
                              draw_poses=lambda image, poses: draw_poses(image, poses, color_by_track=True))
        source = (VideoFrame(index, image) for index, image in enumerate(video))
        run = run_pipelined if pipelined else run_sequential
        poses = [[(p.track_id, p.keypoints.copy()) for p in item.poses] for item in run(source, stages)]
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    count = max(len(poses), 1)
    stages = {k: round(v / count, 2) for k, v in times.ms.items()}
    # cores kept busy: what a path could gain from more overlap on this many cores
    stages["cores_busy"] = round(cpu / wall, 2)
    return len(poses) / wall, stages, recorder.digests, poses


def same_poses(a, b) -> bool:
    return len(a) == len(b) and all(
        len(x) == len(y) and all(i == j and np.array_equal(k, l) for (i, k), (j, l) in zip(x, y))
        for x, y in zip(a, b))


def bench_clip(estimator, clip: Path, args, out_dir: Path) -> dict:
    best = {"sequential": None, "pipelined": None}
    outputs = {}
    for round_index in range(args.rounds):
        order = ("sequential", "pipelined") if round_index % 2 == 0 else ("pipelined", "sequential")
        for path in order:
            fps, stages, digests, poses = run_path(estimator, clip, args.frames, path == "pipelined",
                                                   out_dir / f"{clip.stem}-{path}.mp4")
            outputs[path] = (digests, poses)
            if best[path] is None or fps > best[path][0]:
                best[path] = (fps, stages)
    identical = outputs["sequential"][0] == outputs["pipelined"][0] and \
        same_poses(outputs["sequential"][1], outputs["pipelined"][1])
    seq, pipe = best["sequential"][0], best["pipelined"][0]
    bound = overlap_bound(estimator, clip, seq, best["sequential"][1])
    return {"frames": len(outputs["sequential"][0]), "sequential_fps": round(seq, 2),
            "pipelined_fps": round(pipe, 2), "speedup": round(pipe / seq, 3), "identical": identical,
            "stage_ms_sequential": best["sequential"][1], "stage_ms_pipelined": best["pipelined"][1],
            **bound}


def overlap_bound(estimator, clip: Path, sequential_fps: float, sequential_stages: dict,
                  frames: int = 20) -> dict:
    """The most any overlap can give on this machine's cores: the CPU time of one
    pipelined network worker's call (one thread, timed alone, nothing else running) plus
    the rest of the sequential path's frame time, spread perfectly over the cores."""
    from pose_tf.io.video import VideoSource

    worker = estimator.for_workers(2)
    if worker.network is estimator.network:
        # TensorFlow's workers share one pool whose threads spin while they wait: its
        # CPU time is not the work done, so no bound is computed from it
        return {"ideal_speedup": None}
    images = list(VideoSource(str(clip), frames))
    worker.predict_maps(images[0])
    start = time.process_time()
    for image in images:
        worker.predict_maps(image)
    network_ms = 1e3 * (time.process_time() - start) / len(images)
    rest_ms = 1e3 / sequential_fps - sequential_stages["network"]
    cores = len(os.sched_getaffinity(0))
    ideal_fps = 1e3 * cores / (network_ms + rest_ms)
    return {"worker_network_cpu_ms": round(network_ms, 2), "other_ms_per_frame": round(rest_ms, 2),
            "cores": cores, "ideal_pipelined_fps": round(ideal_fps, 2),
            "ideal_speedup": round(ideal_fps / sequential_fps, 3)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--frames", type=int, default=120, help="frames per clip (0: all)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clips", default=",".join(CLIPS))
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--out-dir", default=str(ROOT / "out" / "bench" / "video"),
                        help="where the drawn videos go")
    args = parser.parse_args()
    from pose_tf.inference.precision import cpu_has_bfloat16

    results = {"frames_per_clip": args.frames, "rounds": args.rounds, "cpu_bfloat16": cpu_has_bfloat16(),
               "clips": {}}
    with tempfile.TemporaryDirectory() as work:
        for backend in args.backends.split(","):
            estimator, reason = estimator_for(backend, Path(work))
            for clip_name in args.clips.split(","):
                entry = results["clips"].setdefault(clip_name, {})
                if estimator is None:
                    entry[backend] = {"skipped": reason}
                    print(f"{clip_name:26s} {backend:12s} skipped: {reason}", flush=True)
                    continue
                out_dir = Path(args.out_dir) / backend
                entry[backend] = r = bench_clip(estimator, VIDEOS / clip_name, args, out_dir)
                print(f"{clip_name:26s} {backend:12s} sequential {r['sequential_fps']:6.2f} fps  "
                      f"pipelined {r['pipelined_fps']:6.2f} fps  x{r['speedup']:.2f}  "
                      f"identical {r['identical']}  perfect overlap: x{r['ideal_speedup'] or float('nan'):.2f}  "
                      f"stages/frame (ms, sequential) {r['stage_ms_sequential']}",
                      flush=True)
    if args.json:
        from pose_tf.io.files import write_json_atomic
        write_json_atomic(args.json, results, indent=1)
    if not all(r.get("identical", True) for clip in results["clips"].values() for r in clip.values()):
        print("the pipelined path's frames differ from the sequential path's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
