"""The conversion driver: one source's annotations + images -> sharded TFRecords.

- Sharded: the (sorted, deterministic) image list is cut into `num_shards` contiguous
  slices; `shard_index` converts just one, so a cluster can run every shard separately
  and the results are identical to one run.
- Parallel: images are read, checked, masked and transformed in a process pool (spawn:
  workers never inherit a TensorFlow runtime); the main process serializes and writes.
- Resumable and exact: a shard is written to `<file>.tmp-<pid>` and renamed over its name
  only when complete (atomic_output), its manifest (`records.manifest_path`) written just
  before the rename. The manifest holds the shard's fingerprint (`shard_fingerprints`: what
  the shard is converted from), record count, size and SHA-256. A rerun keeps a shard only
  when it verifies against its manifest and the fingerprint of this run; any other (killed
  run, truncated file, corrected annotations, other options) is converted again. Leftover
  temp files of the shards being written are removed first.
- One layout per folder: shards of the same prefix made with another --num-shards are
  refused (`_refuse_other_layouts`), not deleted; see there why.
- Forgiving: a malformed annotation entry (reported by the reader) or a missing /
  corrupt image (reported by the worker) is named and skipped; a summary counts them.
Offline variants (`pose_tf.data.variants`) are written next to the originals as
`<prefix>-<variant>-<index>-of-<num>.tfrecord`, from the same shard slices.
"""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import json
import logging
import math
import multiprocessing
import os
import time
from dataclasses import dataclass, field

from ..core.errors import PoseTfError
from ..io.files import atomic_output, writable_folder
from . import records
from .sources import base, read_source
from .variants import VARIANT_NAMES, apply_variant

log = logging.getLogger(__name__)
IMAGES_PER_AUTO_SHARD = 1000
# Part of every shard fingerprint: bump it when a change here or in the readers changes
# what the same inputs convert to, so that reruns convert old shards again.
CONVERTER_VERSION = 1


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
    images_skipped: int = 0             # missing / corrupt image, size mismatch, outside --images
    annotation_problems: int = 0        # malformed annotation entries (reader)
    people: int = 0
    images_with_ignore_mask: int = 0
    shards_written: int = 0
    shards_skipped: int = 0             # already finished (verified, resume)
    shards_replaced: int = 0            # there, but did not verify: converted again
    records_written: int = 0            # over all variants
    seconds: float = 0.0
    startup_seconds: float = 0.0        # reading annotations, pool start, first image
    problems: list = field(default_factory=list)

    def lines(self) -> list:
        rate = self.images_written / self.seconds if self.seconds > 0 else 0.0
        steady = self.seconds - self.startup_seconds
        after_first = self.images_written - 1
        steady_rate = after_first / steady if steady > 0 and after_first > 0 else 0.0
        return [
            f"images listed {self.images_listed}, written {self.images_written}, "
            f"skipped {self.images_skipped} (missing/corrupt image, or outside --images)",
            f"annotation entries skipped as malformed: {self.annotation_problems}",
            f"people {self.people}, images with an ignore mask {self.images_with_ignore_mask}",
            f"shards written {self.shards_written}, already finished {self.shards_skipped}, "
            f"records written {self.records_written} (all variants)",
            f"shard files there that did not verify (truncated, other inputs), converted "
            f"again: {self.shards_replaced}",
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


def _plain(value):
    """json.dumps fallback for what entries hold: numpy arrays and scalars, bytes."""
    import numpy as np

    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.hex()
    raise TypeError(f"cannot fingerprint a {type(value).__name__}")


def _entry_fields(entry, images: str) -> dict:
    """An entry as plain data, as far as it decides the record: its image path relative to
    the real images folder (the same for `--images` given relative or absolute), without
    the report-only `record` and the folder itself (in the fingerprint's inputs)."""
    fields = dataclasses.asdict(entry)
    fields["image_path"] = os.path.relpath(os.path.realpath(entry.image_path), images)
    del fields["images_root"], fields["record"]
    return fields


def shard_fingerprints(opts: ConvertOptions, variants, index: int, num: int,
                       entries: list) -> dict:
    """{variant: (SHA-256 hex, readable inputs)}: what each file of one shard is converted
    from: the converter version, source, images folder, shard index and count, variant, and
    the shard's entries as the reader made them (image files, people, ignore regions,
    sizes): a corrected annotation changes the fingerprints of exactly the shards it lands
    in. Image files are taken as immutable (reading them all to check costs a conversion)."""
    images = os.path.realpath(opts.images)
    inputs = {"converter": CONVERTER_VERSION, "source": opts.source, "images": images,
              "shard": index, "num_shards": num, "frame_step": opts.frame_step,
              "entries": len(entries)}
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode())
    for entry in entries:
        digest.update(json.dumps(_entry_fields(entry, images), sort_keys=True,
                                 default=_plain).encode())
    out = {}
    for variant in variants:
        one = digest.copy()
        one.update(f"variant {variant}".encode())
        out[variant] = (one.hexdigest(), {**inputs, "variant": variant,
                                          "annotations": os.path.abspath(opts.annotations)})
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
def _shard_writers(paths: dict, fingerprints: dict):
    """{variant: TFRecordWriter} writing the pending variants of one shard to their temp
    files (`records.temp_shard_path`); when the block completes each gets its manifest
    (fingerprints: {variant: (hex, inputs)}) and then replaces its shard; any error removes
    them all (pose_tf.io.files.atomic_output)."""
    import tensorflow as tf

    writers = {}
    with contextlib.ExitStack() as stack:
        # Entered in reverse: the stack unwinds last-in first, so the shards are renamed in
        # `paths` order (orig first), as before. Per shard it unwinds writer (closed), then
        # manifest (from the complete temp file), then rename.
        for v, path in reversed(list(paths.items())):
            tmp = stack.enter_context(atomic_output(path, temp=records.temp_shard_path(path)))
            stack.enter_context(records.manifest_when_complete(path, tmp, *fingerprints[v]))
            writers[v] = stack.enter_context(tf.io.TFRecordWriter(os.fspath(tmp)))
        yield writers


def _remove_stale_temps(paths) -> None:
    for path in paths:
        for tmp in glob.glob(glob.escape(path) + ".tmp-*"):     # records.temp_shard_path
            os.remove(tmp)


def _refuse_other_layouts(out: str, prefix: str, num: int) -> None:
    """PoseTfError naming a shard of `prefix` (or of one of its variants) in `out` that
    belongs to another --num-shards layout: a glob over the folder would read its records
    next to this run's, twice. Refused rather than deleted: those files are not this run's
    to delete (a cluster job started with a wrong --num-shards would wipe the finished
    shards of all the others), and the user's one `rm` is cheap next to that."""
    own = f"-of-{num:05d}{records.SHARD_SUFFIX}"
    for name in (prefix,) + tuple(f"{prefix}-{v}" for v in VARIANT_NAMES):
        other = sorted(p for p in glob.glob(records.shard_glob(out, name)) if not p.endswith(own))
        if other:
            raise PoseTfError(f"{other[0]}: {out} holds {len(other)} shard(s) of {name} in "
                              f"another --num-shards layout than this run's {num}; remove "
                              f"them (or use another --out or --prefix)")


def _pending(opts: ConvertOptions, outputs: dict, index: int, num: int, entries: list,
             summary: Summary) -> tuple:
    """({variant: path} of the shard files to (re)write, {variant: fingerprint}); a file
    that is there but does not verify is logged and counted."""
    fingerprints = shard_fingerprints(opts, outputs, index, num, entries)
    pending = {}
    for variant, path in outputs.items():
        problem = records.shard_problem(path, fingerprints[variant][0])
        if problem and os.path.exists(path):
            log.warning("%s: %s; converting it again", path, problem)
            summary.shards_replaced += 1
        if problem:
            pending[variant] = path
    return pending, fingerprints


def _plan(opts: ConvertOptions, entries: list, summary: Summary):
    """-> [(shard index, entries, {variant: path} still to write, fingerprints)], skipped
    (verified) shards counted."""
    num = opts.num_shards or max(1, math.ceil(len(entries) / IMAGES_PER_AUTO_SHARD))
    if opts.shard_index is not None and not 0 <= opts.shard_index < num:
        raise PoseTfError(f"--shard-index {opts.shard_index} is outside 0..{num - 1}")
    prefix = opts.prefix or default_prefix(opts.source, opts.images)
    _refuse_other_layouts(opts.out, prefix, num)
    plan = []
    for index, (start, stop) in enumerate(shard_slices(len(entries), num)):
        if opts.shard_index is not None and index != opts.shard_index:
            continue
        chunk = entries[start:stop]
        pending, fingerprints = _pending(opts, _outputs(opts, prefix, index, num), index, num,
                                         chunk, summary)
        if not pending:
            summary.shards_skipped += 1
            continue
        _remove_stale_temps(pending.values())
        plan.append((index, chunk, pending, fingerprints))
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
    writable_folder(opts.out, "--out")     # before any work: nothing is half-written
    summary = Summary()
    result = read_source(opts.source, opts.annotations, opts.images, frame_step=opts.frame_step)
    summary.images_listed = len(result.entries)
    summary.annotation_problems = len(result.problems)
    for line in result.problems:
        summary.problems.append(line)
        report(line)
    plan, num, prefix = _plan(opts, result.entries, summary)
    variants_of = {index: tuple(v for v in pending if v != "orig") for index, _, pending, _ in plan}
    tasks = ((entry, variants_of[index]) for index, chunk, _, _ in plan for entry in chunk)
    total = sum(len(chunk) for _, chunk, _, _ in plan)
    from tqdm import tqdm

    bar = tqdm(total=total, desc=f"convert {prefix}", unit="img", disable=not opts.progress)
    results = _results(tasks, max(1, int(opts.workers)))
    try:
        for index, chunk, pending, fingerprints in plan:
            with _shard_writers(pending, fingerprints) as writers:
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
