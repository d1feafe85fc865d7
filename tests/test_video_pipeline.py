"""The video path (pose_tf/video): the pipelined run gives exactly the sequential run's
frames, in order, and stops cleanly on an error or when its consumer stops."""
import threading
import time

import numpy as np
import pytest

from pose_tf.video.pipeline import ParallelMap, StageTimes, VideoFrame, run_pipelined, run_sequential


def _frames(count):
    return [VideoFrame(i, np.zeros((4, 4, 3), np.uint8)) for i in range(count)]


def _add(value, delay=0.0):
    def stage(items):
        for item in items:
            time.sleep(delay)
            item.poses = item.poses + [value]
            yield item
    return stage


def _hold_back(items):
    """A stage that emits each frame one frame late (as offline aggregation does)."""
    previous = None
    for item in items:
        if previous is not None:
            yield previous
        previous = item
    if previous is not None:
        yield previous


def test_pipelined_equals_sequential_in_content_and_order():
    stages = [_add("a", 0.002), _hold_back, _add("b"), _add("c", 0.001)]
    sequential = [(f.key, f.poses) for f in run_sequential(_frames(40), stages)]
    pipelined = [(f.key, f.poses) for f in run_pipelined(_frames(40), stages, queue_size=2)]
    assert sequential == pipelined == [(i, ["a", "b", "c"]) for i in range(40)]


def test_a_stage_error_reaches_the_caller_and_every_thread_ends():
    def broken(items):
        for item in items:
            if item.key == 5:
                raise ValueError("frame 5 is bad")
            yield item

    before = threading.active_count()
    with pytest.raises(ValueError, match="frame 5"):
        list(run_pipelined(_frames(50), [_add("a"), broken, _add("b")]))
    time.sleep(0.3)
    assert threading.active_count() == before


def test_a_consumer_that_stops_early_stops_the_stages():
    read = []

    def source():
        for frame in _frames(1000):
            read.append(frame.key)
            yield frame

    before = threading.active_count()
    out = run_pipelined(source(), [_add("a", 0.001)], queue_size=2)
    assert [next(out).key for _ in range(3)] == [0, 1, 2]
    out.close()
    time.sleep(0.3)
    assert threading.active_count() == before
    assert len(read) < 20       # bounded queues: the reader never ran far ahead


def test_stage_times_count_work_not_waiting():
    times = StageTimes()
    stages = [times.timed("slow", _add("x", 0.05)), times.timed("fast", _add("y"))]
    list(run_sequential(_frames(5), stages))
    assert times.ms["slow"] >= 250
    # Its wait for the slow stage is not its time (loose: the CPU may be shared).
    assert times.ms["fast"] < 0.2 * times.ms["slow"]


def _jittery(item):
    """A stateless stage whose duration varies, so parallel workers finish out of order."""
    time.sleep(0.001 * ((item.key * 7) % 5))
    item.poses = item.poses + [f"p{item.key}"]
    return item


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_a_parallel_stage_keeps_the_order(workers):
    stages = [_add("a"), ParallelMap(_jittery, workers), _hold_back, _add("b")]
    sequential = [(f.key, f.poses) for f in run_sequential(_frames(30), stages)]
    pipelined = [(f.key, f.poses) for f in run_pipelined(_frames(30), stages, queue_size=2)]
    assert sequential == pipelined == [(i, ["a", f"p{i}", "b"]) for i in range(30)]


def test_a_parallel_stage_error_and_an_earlier_error_reach_the_caller():
    def broken(item):
        if item.key == 7:
            raise ValueError("frame 7 is bad")
        return item

    def broken_before(items):
        for item in items:
            if item.key == 4:
                raise KeyError("frame 4")
            yield item

    before = threading.active_count()
    with pytest.raises(ValueError, match="frame 7"):
        list(run_pipelined(_frames(40), [ParallelMap(broken, 2), _add("b")]))
    with pytest.raises(KeyError, match="frame 4"):
        list(run_pipelined(_frames(40), [broken_before, ParallelMap(_jittery, 2)]))
    time.sleep(0.3)
    assert threading.active_count() == before


def test_timed_calls_add_up_across_threads():
    times = StageTimes()
    sleep = times.timed_call("work", lambda item: time.sleep(0.02) or item)
    list(run_pipelined(_frames(6), [ParallelMap(sleep, 2)]))
    assert 110 <= times.ms["work"] < 1000
