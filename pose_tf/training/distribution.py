"""Distribution: `tf.distribute` strategies for `training.distribute`.

MirroredStrategy over the local devices, or MultiWorkerMirroredStrategy when TF_CONFIG
names a cluster; the batch in the setting is the global batch. The input comes from
`distribute_datasets_from_function`, which does not shard: the trainer's dataset_fn hands
each worker's input pipeline its own share of the record shards (pose_tf.data.pipeline).
"""
from __future__ import annotations

import json
import os

import tensorflow as tf

from ..core.errors import PoseTfError


def _cluster_size_from_tf_config() -> int:
    try:
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
    except json.JSONDecodeError:
        raise PoseTfError("TF_CONFIG is not valid JSON") from None
    return sum(len(tasks) for tasks in cluster.values())


def make_strategy(kind: str):
    """tf.distribute strategy for `training.distribute` ("auto" picks by environment)."""
    if kind == "auto":
        if _cluster_size_from_tf_config() > 1:
            kind = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1 or \
                len(tf.config.list_logical_devices("CPU")) > 1:
            kind = "mirrored"
        else:
            kind = "none"
    if kind == "none":
        return tf.distribute.get_strategy()
    if kind == "multi_worker":
        if _cluster_size_from_tf_config() < 1:
            raise PoseTfError("training.distribute is 'multi_worker' but TF_CONFIG names no cluster")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    if gpus:
        return tf.distribute.MirroredStrategy(gpus)
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    # NCCL is GPU-only: reduce CPU replicas on one device.
    return tf.distribute.MirroredStrategy(cpus, cross_device_ops=tf.distribute.ReductionToOneDevice())


def strategy_name(strategy) -> str:
    for cls in (tf.distribute.MultiWorkerMirroredStrategy, tf.distribute.MirroredStrategy):
        if isinstance(strategy, cls):
            return cls.__name__ if cls is tf.distribute.MirroredStrategy else "MultiWorkerMirroredStrategy"
    return "no distribution"


def is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
