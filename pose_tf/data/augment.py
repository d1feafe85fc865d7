"""Per-sample augmentation in TF ops: one affine matrix moves image, keypoints and mask.

For each sample a random scale, rotation, horizontal flip and crop centre make one 3x3
matrix `forward` from source pixels to input pixels (continuous coordinates: pixel i
covers [i, i+1)). The image is resampled once with it (ImageProjectiveTransformV3:
scale, rotation, crop and padding in a single bilinear pass), the keypoints are
multiplied by it, and the ignore mask is resampled with it. A flip also swaps left/right
joints (COCO_FLIP) and the source's per-joint labelled flags. Colour jitter (brightness,
contrast, saturation) follows on the float image.

Randomness is stateless: every draw comes from `tf.random.stateless_*` with a per-sample
seed [2], so a pipeline with a fixed seed yields the same samples every run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..core.keypoints import COCO_FLIP


@dataclass
class AugmentConfig:
    scale_min: float = 0.6        # zoom relative to "whole image fits the input"
    scale_max: float = 1.5
    rotation_deg: float = 40.0    # uniform in [-rotation_deg, rotation_deg]
    flip_prob: float = 0.5
    person_centre_prob: float = 0.7   # centre the crop on a random person (else the image)
    translate: float = 0.15       # crop-centre jitter, share of the input size
    brightness: float = 30.0      # additive, in 0..255 units
    contrast: float = 0.3         # multiplicative around the mean, 1 +- contrast
    saturation: float = 0.3       # blend with grey, 1 +- saturation
    fill_value: float = 128.0     # grey padding where the crop leaves the image
    mosaic_prob: float = 0.0      # share of samples made of four half-size crops, 2x2

    def validate(self):
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError("need 0 < scale_min <= scale_max")
        if not all(0 <= p <= 1 for p in (self.flip_prob, self.person_centre_prob,
                                          self.mosaic_prob)):
            raise ValueError("probabilities (flip_prob, person_centre_prob, mosaic_prob) "
                             "must be in [0, 1]")


def affine(src_centre, scale, angle, flip, dst_centre):
    """Forward 3x3 matrix (float32): source pixel -> input pixel.

    p_dst = dst_centre + R(angle) . S(scale) . F(flip) . (p_src - src_centre), where F
    mirrors x. Rotation is counter-clockwise on screen (y points down).
    """
    import tensorflow as tf

    scale = tf.cast(scale, tf.float32)
    cos, sin = tf.cos(angle) * scale, tf.sin(angle) * scale
    mirror = tf.where(flip, -1.0, 1.0)
    # Row-major 2x2 of R.S.F; screen CCW with y down is [[cos, sin], [-sin, cos]].
    m00, m01 = cos * mirror, sin
    m10, m11 = -sin * mirror, cos
    sx, sy = src_centre[0], src_centre[1]
    tx = dst_centre[0] - (m00 * sx + m01 * sy)
    ty = dst_centre[1] - (m10 * sx + m11 * sy)
    return tf.reshape(tf.stack([m00, m01, tx, m10, m11, ty, 0.0, 0.0, 1.0]), [3, 3])


def _projective_params(forward, out_scale=1.0):
    """ImageProjectiveTransformV3 parameters [1, 8]: output *index* -> source index.

    `out_scale` > 1 makes the output grid coarser (a cell = out_scale input pixels).
    Index coordinates put pixel centres on integers, continuous ones on i + 0.5.
    """
    import tensorflow as tf

    inv = tf.linalg.inv(forward)
    to_cont = tf.constant([[out_scale, 0, 0.5 * out_scale], [0, out_scale, 0.5 * out_scale],
                           [0, 0, 1]], tf.float32)
    to_index = tf.constant([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]], tf.float32)
    m = to_index @ inv @ to_cont
    return tf.reshape(m, [-1])[:8][None]


def warp_image(image, forward, output_hw, fill_value=128.0, interpolation="BILINEAR"):
    """Resample `image` [H, W, C] (any numeric dtype) into [h, w, C] with `forward`."""
    import tensorflow as tf

    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=_projective_params(forward),
        output_shape=tf.constant(output_hw, tf.int32), fill_value=float(fill_value),
        interpolation=interpolation, fill_mode="CONSTANT")
    return out[0]


def ignore_fraction(mask, forward, input_size, stride):
    """Share of each output cell [h, w] covered by the ignore mask (uint8 [H, W], 255 = ignore).

    The mask is resampled at input resolution (nearest) and averaged over stride x stride
    blocks, so a thin ignore region still marks the cells it crosses.
    """
    import tensorflow as tf

    warped = warp_image(mask[..., None], forward, input_size, 0.0, "NEAREST")
    share = tf.nn.avg_pool2d(tf.cast(warped[None], tf.float32) / 255.0, stride, stride, "VALID")
    return share[0, ..., 0]


def transform_keypoints(keypoints, forward, flip):
    """Keypoints [N, 17, 3] through `forward`; a flip swaps left/right joints."""
    import tensorflow as tf

    xy1 = tf.concat([keypoints[..., :2], tf.ones_like(keypoints[..., :1])], axis=-1)
    xy = tf.einsum("ij,nkj->nki", forward[:2], xy1)
    moved = tf.concat([xy, keypoints[..., 2:]], axis=-1)
    return tf.cond(flip, lambda: tf.gather(moved, COCO_FLIP, axis=1), lambda: moved)


def flip_labelled(labelled, flip):
    import tensorflow as tf

    return tf.cond(flip, lambda: tf.gather(labelled, COCO_FLIP), lambda: labelled)


def _person_centres(keypoints, bbox):
    """[N, 2] centre of each person's box, [N] whether the person can centre a crop:
    labelled joints, or a box (the people of unlabelled sources have boxes only)."""
    import tensorflow as tf

    centres = bbox[:, :2] + 0.5 * bbox[:, 2:]
    has_joints = tf.reduce_any(keypoints[..., 2] > 0, axis=-1)
    has_box = (bbox[:, 2] > 0) & (bbox[:, 3] > 0)
    return centres, has_joints | has_box


def random_params(seed, image_hw, keypoints, bbox, input_size, config: AugmentConfig):
    """Draw one sample's augmentation from `seed` [2]: (forward, flip, colour seed)."""
    import tensorflow as tf

    h0, w0 = tf.cast(image_hw[0], tf.float32), tf.cast(image_hw[1], tf.float32)
    out_h, out_w = float(input_size[0]), float(input_size[1])
    u = tf.random.stateless_uniform([8], seed=seed)
    fit = tf.minimum(out_h / h0, out_w / w0)
    scale = fit * (config.scale_min + (config.scale_max - config.scale_min) * u[0])
    angle = (2.0 * u[1] - 1.0) * math.radians(config.rotation_deg)
    flip = u[2] < config.flip_prob

    centres, has_joints = _person_centres(keypoints, bbox)
    candidates = tf.boolean_mask(centres, has_joints)
    n = tf.shape(candidates)[0]
    pick = tf.minimum(tf.cast(u[3] * tf.cast(n, tf.float32), tf.int32), tf.maximum(n - 1, 0))
    image_centre = tf.stack([0.5 * w0, 0.5 * h0])
    use_person = (n > 0) & (u[4] < config.person_centre_prob)
    centre = tf.cond(use_person, lambda: candidates[pick], lambda: image_centre)
    jitter = (2.0 * u[5:7] - 1.0) * config.translate * tf.constant([out_w, out_h]) / scale
    dst_centre = tf.constant([0.5 * out_w, 0.5 * out_h])
    forward = affine(centre + jitter, scale, angle, flip, dst_centre)
    colour_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    return forward, flip, scale, colour_seed


def fit_params(image_hw, input_size):
    """Evaluation transform: the whole image scaled to fit, centred, no flip."""
    import tensorflow as tf

    h0, w0 = tf.cast(image_hw[0], tf.float32), tf.cast(image_hw[1], tf.float32)
    out_h, out_w = float(input_size[0]), float(input_size[1])
    scale = tf.minimum(out_h / h0, out_w / w0)
    forward = affine(tf.stack([0.5 * w0, 0.5 * h0]), scale, tf.constant(0.0),
                     tf.constant(False), tf.constant([0.5 * out_w, 0.5 * out_h]))
    return forward, tf.constant(False), scale


def colour_jitter(image, seed, config: AugmentConfig):
    """Brightness, contrast and saturation on a float RGB image in 0..255.

    saturation s: rgb -> g + s (rgb - g), g = luma; contrast c around the mean luma m:
    x -> m + c (x - m); brightness: + b. Luma is unchanged by the saturation step, so the
    three compose into one colour matrix and offset, applied in a single pass:
    out = rgb . (c (s I + (1 - s) w 1^T))^T + (1 - c) m + b.
    """
    import tensorflow as tf

    u = 2.0 * tf.random.stateless_uniform([3], seed=seed) - 1.0
    brightness = config.brightness * u[0]
    contrast = 1.0 + config.contrast * u[1]
    saturation = 1.0 + config.saturation * u[2]
    luma = tf.constant([0.299, 0.587, 0.114], tf.float32)
    # Row-vector form: out = rgb @ matrix, matrix[i, j] = c (s [i == j] + (1 - s) w_i).
    matrix = contrast * (saturation * tf.eye(3) + (1.0 - saturation) * luma[:, None])
    mean = tf.tensordot(tf.reduce_mean(image, axis=[0, 1]), luma, 1)
    offset = (1.0 - contrast) * mean + brightness
    shape = tf.shape(image)
    out = tf.matmul(tf.reshape(image, [-1, 3]), matrix) + offset
    return tf.reshape(tf.clip_by_value(out, 0.0, 255.0), shape)
