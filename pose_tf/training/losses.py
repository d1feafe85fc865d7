"""The training loss: masked MSE of every stage (intermediate supervision), summed.

The masks come with the targets (`heatmap_mask`, `paf_mask`: 0 where a region is ignored
or a source does not label a joint/limb); the mean is over all map cells, so ignored cells
neither count nor re-weight the rest.
"""
from __future__ import annotations

import tensorflow as tf


def masked_mse(outputs, targets, paf_weight: float = 1.0):
    """Per-example loss [B] summed over stages, and the per-stage [B] losses.

    outputs: list of [B, h, w, C] stage maps (heatmaps then PAFs); targets: the pipeline's
    dict with heatmaps/pafs and their masks (1 = supervise). `paf_weight` scales the
    squared errors of the PAF channels (1 = the plain mean over all channels).
    """
    target = tf.concat([targets["heatmaps"], targets["pafs"]], axis=-1)
    mask = tf.concat([targets["heatmap_mask"], paf_weight * targets["paf_mask"]], axis=-1)
    per_stage = []
    for output in outputs:
        error = mask * tf.square(tf.cast(output, tf.float32) - target)
        per_stage.append(tf.reduce_mean(error, axis=[1, 2, 3]))
    return tf.add_n(per_stage), per_stage
