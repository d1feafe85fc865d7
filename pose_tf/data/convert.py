"""The conversion driver: one source's annotations + images -> sharded TFRecords.

- Sharded: the (sorted, deterministic) image list is cut into `num_shards` contiguous
  slices; `shard_index` converts just one, so a cluster can run every shard separately
  and the results are identical to one run.
- Parallel: images are read, checked, masked and transformed in a process pool (spawn:
  workers never inherit a TensorFlow runtime); the main process serializes and writes.
- Resumable: a shard whose final file exists is skipped; a shard is written to
  `<file>.tmp-<pid>` and renamed over its name only when complete (atomic_output), so a
  killed run leaves no file that looks finished. Leftover temp files of the shards being
  written are removed first.
- Forgiving: a malformed annotation entry (reported by the reader) or a missing /
  corrupt image (reported by the worker) is named and skipped; a summary counts them.
Offline variants (`pose_tf.data.variants`) are written next to the originals as
`<prefix>-<variant>-<index>-of-<num>.tfrecord`, from the same shard slices.
"""
from __future__ import annotations

import contextlib
import glob
import logging
import math
import multiprocessing
import os
import time
from dataclasses import dataclass, field

from ..core.errors import PoseTfError
from ..io.files import atomic_output
from . import records
from .sources import base, read_source
from .variants import VARIANT_NAMES, apply_variant

log = logging.getLogger(__name__)
IMAGES_PER_AUTO_SHARD = 1000


@dataclass
class ConvertOptions:
    source: str
    annotations: str
    images: str
    out: str
    prefix: str | None = None
    num_shards: int = 0                 # 0: one shard per IMAGES_PER_AUTO_SHARD images
    shard_index: int | None = None      # None: all shards
    variants: tuple = ()                # extra offline variants besides "orig"
    workers: int = 1
    frame_step: int = 1                 # video sources: keep every n-th frame
    progress: bool = True


@dataclass
class Summary:
    images_listed: int = 0
    images_written: int = 0
    images_skipped: int = 0             # missing / corrupt image, size mismatch
    annotation_problems: int = 0        # malformed annotation entries (reader)
    people: int = 0
    images_with_ignore_mask: int = 0
    shards_written: int = 0
    shards_skipped: int = 0             # already finished (resume)
    records_written: int = 0            # over all variants
    seconds: float = 0.0
    startup_seconds: float = 0.0        # reading annotations, pool start, first image
    problems: list = field(default_factory=list)

    def lines(self) -> list:
        rate = self.images_written / self.seconds if self.seconds > 0 else 0.0
        steady = self.seconds - self.startup_seconds
        steady_rate = (self.images_written - 1) / steady if steady > 0 else 0.0
        return [
            f"images listed {self.images_listed}, written {self.images_written}, "
            f"skipped {self.images_skipped} (missing/corrupt image)",
            f"annotation entries skipped as malformed: {self.annotation_problems}",
            f"people {self.people}, images with an ignore mask {self.images_with_ignore_mask}",
            f"shards written {self.shards_written}, already finished {self.shards_skipped}, "
            f"records written {self.records_written} (all variants)",
            f"time {self.seconds:.1f} s, {rate:.1f} images/s overall, "
            f"{steady_rate:.1f} images/s after the first image ({self.startup_seconds:.1f} s start-up)",
        ]


def default_prefix(source: str, images: str) -> str:
    return f"{source}-{os.path.basename(os.path.normpath(os.fspath(images)))}"


def parse_variants(text: str | None) -> tuple:
    """'flip,rot90' -> ('flip', 'rot90'); 'orig' is always written and may be listed."""
    names = [v.strip() for v in (text or "").split(",") if v.strip() and v.strip() != "orig"]
    unknown = [v for v in names if v not in VARIANT_NAMES]
    if unknown:
        raise PoseTfError(f"unknown variant {unknown[0]!r}; known: orig, {', '.join(VARIANT_NAMES)}")
    return tuple(dict.fromkeys(names))


def shard_slices(count: int, num_shards: int) -> list:
    """Contiguous [start, stop) slices of `count` items over `num_shards` shards."""
    return [(i * count // num_shards, (i + 1) * count // num_shards) for i in range(num_shards)]


def _outputs(opts: ConvertOptions, prefix: str, index: int, num: int) -> dict:
    out = {"orig": records.shard_path(opts.out, prefix, index, num)}
    for v in opts.variants:
        out[v] = records.shard_path(opts.out, f"{prefix}-{v}", index, num)
    return out


# ---------------------------------------------------------------------------- worker side

def convert_entry(task):
    """Worker: (entry, variants) -> ("ok", [Sample per variant, orig first]) | ("error", msg)."""
    entry, variants = task
    try:
        sample = base.build_sample(entry)
        out = [sample]
        if variants:
            import cv2
            import numpy as np

            image = cv2.imdecode(np.frombuffer(sample.image_bytes, np.uint8), cv2.IMREAD_COLOR)
            out += [apply_variant(sample, v, image) for v in variants]
        return "ok", out
    except PoseTfError as exc:
        return "error", f"{exc} ({entry.record}); skipped"
    except Exception as exc:     # a bug or an unforeseen input: name the record, keep going
        return "error", f"{entry.record}: {type(exc).__name__}: {exc}; skipped"


# ---------------------------------------------------------------------------- main side

@contextlib.contextmanager
def _shard_writers(paths: dict):
    """{variant: TFRecordWriter} writing the pending variants of one shard to their temp
    files (`records.temp_shard_path`); each replaces its shard only when the block
    completes, any error removes them all (pose_tf.io.files.atomic_output)."""
    import tensorflow as tf

    writers = {}
    with contextlib.ExitStack() as stack:
        # Entered in reverse: the stack unwinds last-in first, so the shards are renamed in
        # `paths` order (orig first), as before.
        for v, path in reversed(list(paths.items())):
            tmp = stack.enter_context(atomic_output(path, temp=records.temp_shard_path(path)))
            writers[v] = stack.enter_context(tf.io.TFRecordWriter(os.fspath(tmp)))
        yield writers


def _remove_stale_temps(paths) -> None:
    for path in paths:
        for tmp in glob.glob(glob.escape(path) + ".tmp-*"):     # records.temp_shard_path
            os.remove(tmp)


def _plan(opts: ConvertOptions, entries: list, summary: Summary):
    """-> [(shard index, entries, {variant: path} still to write)], skipped shards counted."""
    num = opts.num_shards or max(1, math.ceil(len(entries) / IMAGES_PER_AUTO_SHARD))
    if opts.shard_index is not None and not 0 <= opts.shard_index < num:
        raise PoseTfError(f"--shard-index {opts.shard_index} is outside 0..{num - 1}")
    prefix = opts.prefix or default_prefix(opts.source, opts.images)
    plan = []
    for index, (start, stop) in enumerate(shard_slices(len(entries), num)):
        if opts.shard_index is not None and index != opts.shard_index:
            continue
        pending = {v: p for v, p in _outputs(opts, prefix, index, num).items()
                   if not os.path.exists(p)}
        if not pending:
            summary.shards_skipped += 1
            continue
        _remove_stale_temps(pending.values())
        plan.append((index, entries[start:stop], pending))
    return plan, num, prefix


def _results(tasks, workers):
    """Yield worker results in task order, in a spawn pool when workers > 1."""
    if workers <= 1:
        yield from map(convert_entry, tasks)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers) as pool:
        yield from pool.imap(convert_entry, tasks, chunksize=2)


def convert(opts: ConvertOptions, report=None) -> Summary:
    """Run one conversion; `report(line)` receives each problem as it is found."""
    report = report or log.warning
    started = time.perf_counter()
    os.makedirs(opts.out, exist_ok=True)
    summary = Summary()
    result = read_source(opts.source, opts.annotations, opts.images, frame_step=opts.frame_step)
    summary.images_listed = len(result.entries)
    summary.annotation_problems = len(result.problems)
    for line in result.problems:
        summary.problems.append(line)
        report(line)
    plan, num, prefix = _plan(opts, result.entries, summary)
    variants_of = {index: tuple(v for v in pending if v != "orig") for index, _, pending in plan}
    tasks = ((entry, variants_of[index]) for index, chunk, _ in plan for entry in chunk)
    total = sum(len(chunk) for _, chunk, _ in plan)
    from tqdm import tqdm

    bar = tqdm(total=total, desc=f"convert {prefix}", unit="img", disable=not opts.progress)
    results = _results(tasks, max(1, int(opts.workers)))
    try:
        for index, chunk, pending in plan:
            with _shard_writers(pending) as writers:
                for _ in chunk:
                    status, payload = next(results)
                    if not summary.startup_seconds:
                        summary.startup_seconds = time.perf_counter() - started
                    bar.update(1)
                    if status == "error":
                        summary.images_skipped += 1
                        summary.problems.append(payload)
                        (bar.write if opts.progress else report)(payload)
                        continue
                    _count(summary, payload[0])
                    variants = ("orig",) + variants_of[index]
                    for variant, sample in zip(variants, payload):
                        if variant in writers:
                            writers[variant].write(records.encode(sample))
                        summary.records_written += variant in pending
            summary.shards_written += 1
    finally:
        results.close()
        bar.close()
    summary.seconds = time.perf_counter() - started
    return summary


def _count(summary: Summary, sample) -> None:
    summary.images_written += 1
    summary.people += sample.num_people
    summary.images_with_ignore_mask += bool(sample.ignore_png)
