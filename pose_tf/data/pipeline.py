"""The training input pipeline: TFRecord shards -> (images, targets) batches, all in tf.data.

    shards of each source --interleave--> shuffle --> sample_from_datasets(recipe weights)
      --> parse --> decode --> augment (one affine per sample) --> targets --> batch --> prefetch

With `AugmentConfig.mosaic_prob` a share of the samples are 2x2 mosaics of half-size crops
from a second such stream (`tile_2x2`): more images, people and contexts per sample.

Everything after reading is TF ops (no py_function), so the graph can run with any
parallelism, be served by tf.data service workers on other hosts (`pose_tf.data.service`)
and be reproduced exactly under a seed: file order, shuffles, source mixing and every
augmentation draw derive from `seed` (per-sample stateless seeds from
`tf.data.Dataset.random`), and the dataset is marked deterministic when a seed is given.

Multi-worker training: each input pipeline (worker) reads its own share of the records
(`input_shard`). A source with at least as many shard files as pipelines is split by
file (FILE sharding: pipeline i reads files i, i + n, ...; no file is read twice); a
source with fewer files than pipelines falls back to DATA sharding: every pipeline reads
all of its files in the same sorted order and keeps every n-th record (disjoint too, but
each worker pays the reading of the whole source, and the file order is not reshuffled).

`build_dataset` is the one entry point (contract in the project's design notes):
images float32 [B, H, W, 3] RGB 0..255 and a dict of targets (heatmaps [B, h, w, K+1],
pafs [B, h, w, 2L], heatmap_mask, paf_mask; h, w = H/stride, W/stride).
"""
from __future__ import annotations

import dataclasses
from typing import Optional, Sequence, Tuple, Union

from .augment import (AugmentConfig, colour_jitter, fit_params, flip_labelled, ignore_fraction,
                      random_params, transform_keypoints, warp_image)
from ..codec.targets import TargetConfig, check_layout, make_targets
from ..core.errors import PoseTfError
from ..core.keypoints import COCO17, Layout
from .recipes import Recipe, load_recipe

AUTOTUNE = -1   # tf.data.AUTOTUNE, without importing TF at module load


def _check_sizes(input_size, stride):
    height, width = (int(v) for v in input_size)
    if height % stride or width % stride or height <= 0 or width <= 0:
        raise PoseTfError(f"input_size {height}x{width} must be positive multiples of stride {stride}")
    return height, width


def decode_image(image_bytes):
    """RGB uint8 [H, W, 3] from JPEG or PNG bytes (grey and RGBA converted)."""
    import tensorflow as tf

    image = tf.io.decode_image(image_bytes, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def _decode_mask(png):
    import tensorflow as tf

    return tf.io.decode_png(png, channels=1)[..., 0]


def preprocess(example, seed, *, input_size, training, layout: Layout = COCO17,
               augment: Optional[AugmentConfig] = None, targets: Optional[TargetConfig] = None):
    """One parsed record (`records.parse_example`) -> (image float32 [H, W, 3], targets dict).

    `seed` is an int64 [2] stateless seed (ignored when not training: evaluation scales the
    whole image to fit the input, centred, without flip or colour changes).
    """
    import tensorflow as tf

    augment = augment or AugmentConfig()
    targets = targets or TargetConfig()
    stride = targets.stride
    grid_hw = (input_size[0] // stride, input_size[1] // stride)
    image = decode_image(example["image_bytes"])
    image_hw = tf.shape(image)[:2]
    keypoints, bbox = example["keypoints"], example["bbox"]
    if training:
        forward, flip, scale, colour_seed = random_params(seed, image_hw, keypoints, bbox,
                                                          input_size, augment)
    else:
        forward, flip, scale = fit_params(image_hw, input_size)
    warped = tf.cast(warp_image(image, forward, input_size, augment.fill_value), tf.float32)
    if training:
        warped = colour_jitter(warped, colour_seed, augment)
    warped.set_shape([input_size[0], input_size[1], 3])

    moved = transform_keypoints(keypoints, forward, flip)
    labelled = flip_labelled(example["labelled"], flip)
    box_area = bbox[:, 2] * bbox[:, 3] * tf.square(scale)
    png = example["ignore_png"]
    ignored = tf.cond(
        tf.strings.length(png) > 0,
        lambda: ignore_fraction(_decode_mask(png), forward, input_size, stride),
        lambda: tf.zeros(grid_hw, tf.float32))
    maps = make_targets(moved, box_area, labelled, ignored, input_size, layout, targets)
    for key, value in maps.items():
        value.set_shape([grid_hw[0], grid_hw[1], None])
    return warped, maps


def _parallel_calls(num_parallel_calls: Optional[int]) -> int:
    """tf.data's AUTOTUNE for None or AUTOTUNE, else the number given."""
    import tensorflow as tf

    return tf.data.AUTOTUNE if num_parallel_calls in (None, AUTOTUNE) else num_parallel_calls


def _check_input_shard(input_shard):
    count, index = (int(v) for v in input_shard)
    if count < 1 or not 0 <= index < count:
        raise PoseTfError(f"input_shard must be (pipelines >= 1, 0 <= index < pipelines), "
                          f"got {tuple(input_shard)}")
    return count, index


def _source_dataset(files, *, training, seed, shuffle_buffer, cycle_length, deterministic,
                    parallel_reads=True, input_shard=(1, 0)):
    """Records of one source: shards interleaved, shuffled, repeated when training; with
    `input_shard` (count, index) only this pipeline's share (FILE or DATA sharding)."""
    import tensorflow as tf

    count, index = input_shard
    by_file = len(files) >= count
    if by_file:
        files = list(files)[index::count]
    ds = tf.data.Dataset.from_tensor_slices(list(files))
    if training and by_file:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True).repeat()
    # DATA sharding keeps every count-th record, so every pipeline must see the records in
    # the same order: sorted files, deterministic interleave.
    ordered = deterministic or not by_file
    ds = ds.interleave(tf.data.TFRecordDataset, cycle_length=max(1, min(cycle_length, len(files))),
                       block_length=1,
                       num_parallel_calls=tf.data.AUTOTUNE if parallel_reads else None,
                       deterministic=ordered if parallel_reads else None)
    if not by_file:
        ds = ds.shard(count, index)
        if training:
            ds = ds.repeat()
    if training and shuffle_buffer > 1:
        ds = ds.shuffle(shuffle_buffer, seed=None if seed is None else seed + 1,
                        reshuffle_each_iteration=True)
    return ds


def records_dataset(recipe: Recipe, *, training: bool, seed=None, records_root=None,
                    shuffle_buffer=256, cycle_length=4, parallel_reads=True, input_shard=(1, 0)):
    """Serialized Examples mixed from the recipe's sources by weight (training), or
    every record of every source once, in order (evaluation). parallel_reads=False reads
    shards in the calling thread (no background work: single-thread measurements).
    input_shard: (input pipelines, this pipeline's index): read only this share."""
    import tensorflow as tf

    input_shard = _check_input_shard(input_shard)
    files = recipe.files(records_root)
    deterministic = seed is not None or not training
    per_source = [
        _source_dataset(f, training=training, seed=None if seed is None else seed + 1000 * (i + 1),
                        shuffle_buffer=shuffle_buffer, cycle_length=cycle_length,
                        deterministic=deterministic, parallel_reads=parallel_reads,
                        input_shard=input_shard)
        for i, f in enumerate(files)]
    if not training:
        ds = per_source[0]
        for other in per_source[1:]:
            ds = ds.concatenate(other)
        return ds
    if len(per_source) == 1:
        return per_source[0]
    return tf.data.Dataset.sample_from_datasets(per_source, weights=recipe.weights, seed=seed,
                                                stop_on_empty_dataset=False)


def samples_dataset(recipe: Union[Recipe, str], *, input_size: Sequence[int] = (368, 432),
                    stride: int = 8, training: bool, seed: Optional[int] = None,
                    layout: Layout = COCO17, augment: Optional[AugmentConfig] = None,
                    targets: Optional[TargetConfig] = None, records_root: Optional[str] = None,
                    shuffle_buffer: int = 256, cycle_length: int = 4,
                    num_parallel_calls: Optional[int] = None, with_info: bool = False,
                    input_shard: Tuple[int, int] = (1, 0)):
    """Unbatched (image, targets) samples, or (image, targets, info) with `with_info`
    (info: filename, source, variant, image_id of the record, for tools).

    When training with `augment.mosaic_prob` p > 0, a share p of the samples are mosaics:
    four crops made at half the input size from a second stream of records (seed
    `tile_seed(seed)`), placed 2x2 with their targets (`tile_2x2`).
    """
    import tensorflow as tf

    if isinstance(recipe, (str, bytes)) or hasattr(recipe, "__fspath__"):
        recipe = load_recipe(recipe)
    height, width = _check_sizes(input_size, stride)
    check_layout(layout)
    targets = dataclasses.replace(targets or TargetConfig(), stride=stride)
    augment = augment or AugmentConfig()
    mosaic_prob = float(augment.mosaic_prob) if training else 0.0

    def crops(size, stream_seed):
        return _crops(recipe, size, training=training, seed=stream_seed, layout=layout,
                      augment=augment, targets=targets, records_root=records_root,
                      shuffle_buffer=shuffle_buffer, cycle_length=cycle_length,
                      num_parallel_calls=num_parallel_calls, with_info=with_info,
                      input_shard=input_shard)

    if mosaic_prob == 0:
        return crops((height, width), seed)
    if height % (2 * stride) or width % (2 * stride):
        raise PoseTfError(f"augment.mosaic_prob needs an input size divisible by 2 x stride "
                          f"({2 * stride}), so that each tile covers whole output cells; "
                          f"got {height}x{width}")
    parallel = _parallel_calls(num_parallel_calls)
    mosaics = crops((height // 2, width // 2), tile_seed(seed)).batch(4, drop_remainder=True)
    mosaics = mosaics.map(tile_2x2, num_parallel_calls=parallel,
                          deterministic=seed is not None)
    if mosaic_prob == 1:
        return mosaics
    return tf.data.Dataset.sample_from_datasets(
        [crops((height, width), seed), mosaics], weights=[1.0 - mosaic_prob, mosaic_prob],
        seed=None if seed is None else seed + _MIX_SEED_OFFSET)


# The mosaic tiles' record stream and the plain/mosaic mix draw from seeds of their own,
# offset from the pipeline's seed by primes, so they repeat under it without sharing a
# stream with the plain crops (records_dataset derives its per-source seeds by + 1000 i).
_TILE_SEED_OFFSET = 104_729
_MIX_SEED_OFFSET = 1_299_709


def tile_seed(seed: Optional[int]) -> Optional[int]:
    """The seed of the mosaic tiles' stream in a pipeline seeded with `seed`."""
    return None if seed is None else seed + _TILE_SEED_OFFSET


def tile_2x2(images, maps, info=None):
    """Four samples [4, h, w, ...] -> one [2h, 2w, ...], tiles in reading order (top left,
    top right, bottom left, bottom right). An input size divisible by 2 x stride puts every
    tile on whole output cells, so the targets tile exactly like the image.
    With `info`, its string fields are the tiles' joined by "+"; image_id is the first's."""
    import tensorflow as tf

    def grid(x):
        return tf.concat([tf.concat([x[0], x[1]], axis=1),
                          tf.concat([x[2], x[3]], axis=1)], axis=0)

    tiled = (grid(images), {key: grid(value) for key, value in maps.items()})
    if info is None:
        return tiled
    joined = {key: tf.strings.reduce_join(value, separator="+") if value.dtype == tf.string
              else value[0] for key, value in info.items()}
    return tiled + (joined,)


def _crops(recipe: Recipe, input_size, *, training, seed, layout, augment, targets,
           records_root, shuffle_buffer, cycle_length, num_parallel_calls, with_info,
           input_shard):
    """One stream of records -> one augmented crop of `input_size` each, with its targets."""
    import tensorflow as tf

    from .records import parse_example

    records = records_dataset(recipe, training=training, seed=seed, records_root=records_root,
                              shuffle_buffer=shuffle_buffer, cycle_length=cycle_length,
                              parallel_reads=num_parallel_calls != 1, input_shard=input_shard)
    if training:
        seeds = tf.data.Dataset.random(seed=seed).batch(2, drop_remainder=True)
    else:
        seeds = tf.data.Dataset.from_tensors(tf.zeros([2], tf.int64)).repeat()
    ds = tf.data.Dataset.zip((records, seeds))

    def one(serialized, sample_seed):
        example = parse_example(serialized)
        image, maps = preprocess(example, sample_seed, input_size=input_size,
                                 training=training, layout=layout, augment=augment,
                                 targets=targets)
        if not with_info:
            return image, maps
        info = {k: example[k] for k in ("filename", "source", "variant", "image_id")}
        return image, maps, info

    parallel = _parallel_calls(num_parallel_calls)
    return ds.map(one, num_parallel_calls=parallel, deterministic=seed is not None or not training)


def build_dataset(recipe: Union[Recipe, str], *, input_size: Sequence[int] = (368, 432),
                  stride: int = 8, batch_size: int, training: bool, seed: Optional[int] = None,
                  layout: Layout = COCO17, augment: Optional[AugmentConfig] = None,
                  targets: Optional[TargetConfig] = None, records_root: Optional[str] = None,
                  shuffle_buffer: int = 256, cycle_length: int = 4,
                  num_parallel_calls: Optional[int] = None, drop_remainder: Optional[bool] = None,
                  prefetch: bool = True, threads: Optional[int] = None,
                  service: Optional[str] = None, service_job: Optional[str] = None,
                  input_shard: Tuple[int, int] = (1, 0)):
    """The training (or evaluation) dataset of a recipe, yielding (images, targets).

    recipe: a `Recipe`, a recipe file, or a name under datasets/ ("F6").
    training: augment, mix sources by weight and repeat forever; otherwise one pass over
      all records, whole image fitted into the input, no randomness.
    seed: makes the stream reproducible (order, mixing, augmentation).
    num_parallel_calls: parallel map calls (default AUTOTUNE); threads: size of a private
      thread pool for this dataset (default: TF's shared pool).
    drop_remainder: default True when training (static batch size), False otherwise.
    service: "grpc://host:port" of a tf.data service dispatcher: the preprocessing then
      runs on its workers (see pose_tf/data/service.py).
    input_shard: (num_input_pipelines, input_pipeline_id) of a tf.distribute InputContext:
      this pipeline reads only its share of the records (FILE sharding, or DATA sharding
      for a source with fewer shard files than pipelines; see the module notes).
    """
    import tensorflow as tf

    if batch_size <= 0:
        raise PoseTfError(f"batch_size must be > 0, got {batch_size}")
    ds = samples_dataset(recipe, input_size=input_size, stride=stride, training=training,
                         seed=seed, layout=layout, augment=augment, targets=targets,
                         records_root=records_root, shuffle_buffer=shuffle_buffer,
                         cycle_length=cycle_length, num_parallel_calls=num_parallel_calls,
                         input_shard=input_shard)
    parallel = _parallel_calls(num_parallel_calls)
    deterministic = seed is not None or not training
    drop = training if drop_remainder is None else drop_remainder
    if parallel == 1:
        ds = ds.batch(batch_size, drop_remainder=drop)
    else:
        ds = ds.batch(batch_size, drop_remainder=drop, num_parallel_calls=parallel,
                      deterministic=deterministic)
    if service:
        from .service import distribute

        ds = distribute(ds, service, job_name=service_job)
    if prefetch:
        ds = ds.prefetch(tf.data.AUTOTUNE)

    options = tf.data.Options()
    options.deterministic = deterministic
    options.experimental_optimization.map_parallelization = True
    if threads:
        options.threading.private_threadpool_size = int(threads)
        options.threading.max_intra_op_parallelism = 1
    return ds.with_options(options)
