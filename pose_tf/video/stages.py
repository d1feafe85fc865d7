"""The stages of the video path (`pipeline.py`), each a generator over `VideoFrame`s."""
from __future__ import annotations

from typing import Callable, Iterator, Optional

from ..inference.temporal import TemporalAggregator, TemporalSettings
from .pipeline import ParallelMap, Stage, StageTimes, VideoFrame, run_sequential


def network(estimator, times: StageTimes, workers: int = 2) -> ParallelMap:
    """Maps of every readable frame (`Estimator.predict_maps`), `workers` frames at once in
    the pipelined path (the network is stateless; the order is kept). The sequential path
    gives each call every core; the pipelined one splits the cores between its workers
    (`Estimator.for_workers`), which on 2 cores keeps both busy with less contention."""
    def maps_of(one_estimator):
        predict = times.timed_call("network", one_estimator.predict_maps)

        def one(item: VideoFrame) -> VideoFrame:
            if item.image is not None:
                item.maps, item.cell_to_image = predict(item.image)
            return item
        return one
    return ParallelMap(maps_of(estimator), workers, parallel_fn=maps_of(estimator.for_workers(workers)))


def temporal(settings: TemporalSettings) -> Stage:
    """Maps aggregated over neighbouring frames (inference/temporal.py)."""
    return TemporalAggregator(settings).run


def decode(estimator) -> Stage:
    """Peaks + grouping on each frame's maps; the maps are dropped once read."""
    def run(items: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
        for item in items:
            if item.maps is not None:
                item.poses = estimator.decode(item.maps, item.cell_to_image)
            item.maps = None
            yield item
    return run


def per_frame(update: Callable[[list], list], skip_unreadable: bool = True) -> Stage:
    """`update(poses) -> poses` on every frame in order (a tracker, a smoother); an
    unreadable frame is passed on empty and, with `skip_unreadable`, not shown to it."""
    def run(items: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
        for item in items:
            if item.image is not None or not skip_unreadable:
                item.poses = update(item.poses)
            yield item
    return run


def draw(writer, draw_poses: Callable, keep_image: bool = False) -> Stage:
    """Draw each readable frame's poses and encode it into `writer` (a VideoWriter); the
    image is dropped afterwards unless `keep_image`."""
    def run(items: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
        for item in items:
            if item.image is not None:
                writer.write(draw_poses(item.image, item.poses))
            if not keep_image:
                item.image = None
            yield item
    return run


def grouped(times: StageTimes, named_stages) -> Stage:
    """Several (name, stage) run one after another in one thread, each timed by name."""
    stages = [times.timed(name, stage) for name, stage in named_stages]
    return lambda items: run_sequential(items, stages)


def leave_cores_to_network() -> None:
    """OpenCV's own thread pool (resizing, colour conversion, drawing) competes with the
    network's threads for the cores; on 2 cores one OpenCV thread was faster on both
    paths (bench/video.py, ONNX Runtime, kickboxing clip: sequential 19.5 -> 24.6 fps,
    pipelined 25.4 -> 30.6 fps)."""
    import cv2

    cv2.setNumThreads(1)


def video_stages(estimator, times: StageTimes, tracker=None, smoother=None,
                 temporal_settings: Optional[TemporalSettings] = None, writer=None,
                 draw_poses: Optional[Callable] = None, network_workers: int = 2) -> list:
    """The stages of `track` and of `demo` on a video, grouped into the threads of the
    pipelined path: network (`network_workers` frames at once) | temporal + decoding +
    tracking + smoothing | drawing. OpenCV is left one thread (`leave_cores_to_network`)."""
    leave_cores_to_network()
    post = ([("temporal", temporal(temporal_settings))] if temporal_settings else []) + \
        [("postprocess", decode(estimator))] + \
        ([("tracking", per_frame(tracker.update))] if tracker is not None else []) + \
        ([("smoothing", per_frame(smoother))] if smoother is not None else [])
    stages = [network(estimator, times, network_workers), grouped(times, post)]
    if writer is not None:
        stages.append(grouped(times, [("drawing", draw(writer, draw_poses))]))
    return stages
