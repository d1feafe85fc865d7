"""The video path: frames in; maps, poses, tracks and drawn frames out, one stage after
another (`run_sequential`) or overlapped in threads (`run_pipelined`).

A stage is a generator over the previous stage's items (`VideoFrame`s), so both paths run
exactly the same code in the same order and give identical output; a stage may hold
frames back (temporal aggregation looks ahead) but never reorders them.

The pipelined path gives every stage a thread, linked by bounded queues: a fast stage
waits for a slow one (backpressure) and at most `queue_size` frames wait per link
(bounded memory). TensorFlow, OpenCV and the grouping extension release the GIL in
their heavy parts, so on two cores reading + drawing + encoding overlap the network.
An error in any stage, or SIGINT/SIGTERM in the main thread, stops every stage and is
raised in the caller's thread; the caller's `with VideoWriter(...)` then removes its temp.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np

Stage = Callable[[Iterator["VideoFrame"]], Iterator["VideoFrame"]]


@dataclass
class VideoFrame:
    key: object                         # file name or frame index, carried to the output
    image: Optional[np.ndarray]         # RGB; None for a frame that could not be read
    maps: Optional[np.ndarray] = None
    cell_to_image: Optional[tuple] = None
    poses: List = field(default_factory=list)


class StageTimes:
    """Milliseconds spent in each named stage (each stage writes only its own entry)."""

    def __init__(self):
        self.ms: Dict[str, float] = {}

    def timed_call(self, name: str, fn: Callable) -> Callable:
        """`fn` with its time added to `name` (safe from several threads at once)."""
        lock = threading.Lock()
        self.ms.setdefault(name, 0.0)

        def call(*args):
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                with lock:
                    self.ms[name] += 1e3 * (time.perf_counter() - start)
        return call

    def timed(self, name: str, stage: Stage) -> Stage:
        """`stage` with the time spent inside it added to `name`: the time it waits for its
        input (an earlier stage, or a queue) is left out."""
        def run(items: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
            self.ms.setdefault(name, 0.0)
            waited = [0.0]

            def upstream():
                source = iter(items)
                while True:
                    start = time.perf_counter()
                    try:
                        item = next(source)
                    except StopIteration:
                        return
                    finally:
                        waited[0] += time.perf_counter() - start
                    yield item

            outputs = stage(upstream())
            while True:
                start, waited_before = time.perf_counter(), waited[0]
                try:
                    item = next(outputs)
                except StopIteration:
                    return
                finally:
                    spent = time.perf_counter() - start - (waited[0] - waited_before)
                    self.ms[name] += 1e3 * spent
                yield item
        return run


class ParallelMap:
    """A stateless stage, `fn(item) -> item`, that the pipelined path runs in `workers`
    threads at once (results put back in order), calling `parallel_fn` (by default `fn`;
    the same results, e.g. a network splitting the cores between the calls). On 2 cores,
    two single-frame network calls side by side keep both cores busier than one call
    spread over both, while the other stages fill the gaps. The sequential path simply
    maps `fn`."""

    def __init__(self, fn: Callable[[VideoFrame], VideoFrame], workers: int = 2,
                 parallel_fn: Optional[Callable[[VideoFrame], VideoFrame]] = None):
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.fn, self.workers = fn, workers
        self.parallel_fn = parallel_fn or fn

    def __call__(self, items: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
        return map(self.fn, items)


def run_sequential(source: Iterable[VideoFrame], stages: Sequence[Stage]) -> Iterator[VideoFrame]:
    items = iter(source)
    for stage in stages:
        items = stage(items)
    return items


_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class _Link:
    """A bounded queue between two stages whose waits give up once `stop` is set."""

    def __init__(self, size: int, stop: threading.Event):
        self.queue = queue.Queue(maxsize=size)
        self.stop = stop

    def put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def get(self):
        while not self.stop.is_set():
            try:
                return self.queue.get(timeout=0.05)
            except queue.Empty:
                continue
        return _END

    def __iter__(self) -> Iterator[VideoFrame]:
        while True:
            item = self.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item


def _feed(items: Iterable, link: _Link) -> None:
    """Run `items` to the end (or a failure, or stop) into `link`."""
    try:
        for item in items:
            if not link.put(item):
                return
        link.put(_END)
    except BaseException as error:     # passed on, raised again in the caller's thread
        link.put(_Failure(error))


def _parallel_threads(stage: ParallelMap, link_in: _Link, link_out: _Link, stop: threading.Event,
                      queue_size: int) -> List[threading.Thread]:
    """A dispatcher numbering the items, `stage.workers` workers applying `stage.parallel_fn`, and a
    collector passing the results on in their original order."""
    tasks = _Link(stage.workers, stop)
    results = _Link(queue_size + stage.workers, stop)

    def dispatch():
        count = 0
        try:
            for item in link_in:
                if not tasks.put((count, item)):
                    return
                count += 1
        except BaseException as error:     # an earlier stage failed: pass it on, in order
            results.put((count, _Failure(error)))
            count += 1
        for _ in range(stage.workers):
            tasks.put(_END)
        results.put(("end", count))

    def work():
        while True:
            task = tasks.get()
            if task is _END:
                return
            index, item = task
            try:
                results.put((index, stage.parallel_fn(item)))
            except BaseException as error:
                results.put((index, _Failure(error)))

    def collect():
        waiting, following, total = {}, 0, None
        while total is None or following < total:
            message = results.get()
            if message is _END:            # stopped
                return
            index, value = message
            if index == "end":
                total = value
                continue
            waiting[index] = value
            while following in waiting:
                value = waiting.pop(following)
                following += 1
                if not link_out.put(value) or isinstance(value, _Failure):
                    return
        link_out.put(_END)

    workers = [threading.Thread(target=work, name=f"worker{i}", daemon=True) for i in range(stage.workers)]
    return [threading.Thread(target=dispatch, name="dispatch", daemon=True),
            threading.Thread(target=collect, name="collect", daemon=True)] + workers


def run_pipelined(source: Iterable[VideoFrame], stages: Sequence[Stage],
                  queue_size: int = 4) -> Iterator[VideoFrame]:
    """The stages of `run_sequential`, each in its own thread (a `ParallelMap` in several);
    yields in the same order."""
    stop = threading.Event()
    links = [_Link(queue_size, stop) for _ in range(len(stages) + 1)]
    threads = [threading.Thread(target=_feed, args=(source, links[0]), name="read", daemon=True)]
    for index, stage in enumerate(stages):
        if isinstance(stage, ParallelMap):
            threads += _parallel_threads(stage, links[index], links[index + 1], stop, queue_size)
        else:
            threads.append(threading.Thread(target=_feed, args=(stage(iter(links[index])), links[index + 1]),
                                            name=f"stage{index}", daemon=True))
    for thread in threads:
        thread.start()
    try:
        yield from links[-1]
    finally:
        stop.set()      # on the end, an error or an interrupt: every stage gives up waiting
        for thread in threads:
            thread.join(timeout=5.0)
