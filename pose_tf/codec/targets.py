"""Training targets in TF ops: Gaussian heatmaps, part affinity fields, loss masks.

Everything here is vectorised over people, joints and limbs (no Python loop per person),
so it runs inside the tf.data graph and scales with its parallel map.

Coordinates. Keypoints come in *input pixels* of the augmented image (continuous, pixel
i covers [i, i+1): pose_tf.core.geometry's convention). The targets live on the output grid
of the network (stride 8): cell c covers input pixels [c*stride, (c+1)*stride) and its
centre is grid coordinate c, so grid = input / stride - 0.5 (`geometry.input_to_grid`;
`geometry.grid_to_input` is the inverse, for decoders and drawers).

Sigmas. Each person's Gaussians get one sigma (in output-grid cells) chosen by the ratio
of the person's box area to the input image area: ratio > thresholds[0] -> sigmas[0],
thresholds[1] <= ratio <= thresholds[0] -> sigmas[1], ratio < thresholds[1] -> sigmas[2].
The defaults (0.32, 0.04) -> (3, 3, 2) are the original project's.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import numpy as np

from ..core.geometry import grid_to_input, input_to_grid  # noqa: F401  (the grid's definition)
from ..core.keypoints import COCO17, DERIVED_PARTS, NUM_KEYPOINTS, Layout


@dataclass
class TargetConfig:
    stride: int = 8
    sigma_thresholds: Tuple[float, ...] = (0.32, 0.04)   # box area / image area: large above, small below
    sigmas: Tuple[float, ...] = (3.0, 3.0, 2.0)        # output-grid cells, for large / medium / small people
    paf_width: float = 1.0                   # half-width of a limb's PAF band, output-grid cells
    ignore_cover: float = 0.5                # a cell is ignored when this share of it is ignored

    def validate(self):
        if self.stride <= 0:
            raise ValueError(f"stride must be > 0, got {self.stride}")
        if len(self.sigma_thresholds) != 2 or self.sigma_thresholds[0] < self.sigma_thresholds[1]:
            raise ValueError("sigma_thresholds must be (large_above, small_below) with large >= small")
        if len(self.sigmas) != 3 or min(self.sigmas) <= 0:
            raise ValueError("sigmas must be three positive values (large, medium, small)")
        if self.paf_width <= 0:
            raise ValueError(f"paf_width must be > 0, got {self.paf_width}")


def check_layout(layout: Layout) -> list:
    """How each of the layout's parts is made from the 17 COCO keypoints.

    Returns one tuple of COCO indices per part: (k,) for a COCO keypoint, (a, b) for a
    part derived as the midpoint of two (`keypoints.DERIVED_PARTS`, e.g. OpenPose's
    neck). A layout with any other part is refused here rather than faked.
    """
    from ..core.errors import PoseTfError

    coco_of = {part: k for k, part in enumerate(layout.to_coco)}
    sources = []
    for part, name in enumerate(layout.part_names):
        if part in coco_of:
            sources.append((coco_of[part],))
        elif name in DERIVED_PARTS:
            sources.append(tuple(DERIVED_PARTS[name]))
        else:
            raise PoseTfError(f"layout {layout.name!r}: part {name!r} is neither a COCO "
                              f"keypoint nor derived from them; no training targets for it")
    if sorted(k for src in sources if len(src) == 1 for k in src) != list(range(NUM_KEYPOINTS)):
        raise PoseTfError(f"layout {layout.name!r}: training targets need every one of the "
                          f"17 COCO keypoints as a part")
    return sources


def layout_keypoints(keypoints, labelled, layout: Layout):
    """COCO-17 keypoints [N, 17, 3] and flags [17] -> the layout's parts [N, P, 3], [P].

    A derived part is the midpoint of its two keypoints, present (v = min of theirs) only
    where both are, and labelled only where the source labels both.
    """
    import tensorflow as tf

    kp = tf.convert_to_tensor(keypoints, tf.float32)
    flags = tf.cast(labelled, tf.float32)
    parts, part_flags = [], []
    for src in check_layout(layout):
        if len(src) == 1:
            parts.append(kp[:, src[0]])
            part_flags.append(flags[src[0]])
            continue
        a, b = kp[:, src[0]], kp[:, src[1]]
        both = (a[:, 2] > 0) & (b[:, 2] > 0)
        xy = tf.where(both[:, None], 0.5 * (a[:, :2] + b[:, :2]), 0.0)
        v = tf.where(both, tf.minimum(a[:, 2], b[:, 2]), 0.0)
        parts.append(tf.concat([xy, v[:, None]], axis=-1))
        part_flags.append(flags[src[0]] * flags[src[1]])
    return tf.stack(parts, axis=1), tf.stack(part_flags)


def person_sigmas(box_area_ratio, config: TargetConfig):
    """[N] sigma per person (output-grid cells) from box area / image area."""
    import tensorflow as tf

    large, small = config.sigma_thresholds
    s_large, s_medium, s_small = (float(s) for s in config.sigmas)
    ratio = tf.convert_to_tensor(box_area_ratio, tf.float32)
    return tf.where(ratio > large, s_large, tf.where(ratio >= small, s_medium, s_small))


def heatmaps(keypoints_grid, sigmas, grid_hw):
    """Joint heatmaps [h, w, K] plus background [h, w, 1].

    keypoints_grid [N, K, 3] (x, y, v) in grid coordinates; joints with v <= 0 draw nothing.
    Each person's Gaussian is separable, so it is built as an outer product of a row and a
    column profile ([N, K, w] x [N, K, h]) and people are merged by maximum.
    """
    import tensorflow as tf

    h, w = grid_hw
    kp = tf.convert_to_tensor(keypoints_grid, tf.float32)
    num_k = tf.shape(kp)[1]
    xs = tf.range(w, dtype=tf.float32)
    ys = tf.range(h, dtype=tf.float32)
    inv_two_var = 1.0 / (2.0 * tf.square(sigmas))[:, None, None]               # [N,1,1]
    gx = tf.exp(-tf.square(xs[None, None, :] - kp[..., 0:1]) * inv_two_var)  # [N,K,w]
    gy = tf.exp(-tf.square(ys[None, None, :] - kp[..., 1:2]) * inv_two_var)  # [N,K,h]
    gy = gy * tf.cast(kp[..., 2:3] > 0, tf.float32)                           # absent joints -> 0
    # [h, 1, N, K] * [1, w, N, K] -> max over people -> [h, w, K]
    per_person = tf.transpose(gy, [2, 0, 1])[:, None] * tf.transpose(gx, [2, 0, 1])[None, :]
    joints = tf.reduce_max(tf.concat(
        [tf.zeros([h, w, 1, num_k], tf.float32), per_person], axis=2), axis=2)
    background = tf.maximum(0.0, 1.0 - tf.reduce_max(joints, axis=-1, keepdims=True))
    return joints, background


def pafs(keypoints_grid, limbs, grid_hw, width):
    """Part affinity fields [h, w, 2L]: channel 2l, 2l+1 = unit vector (x, y) of limb l.

    A cell belongs to a person's limb when its projection on the limb segment falls inside
    the segment and its distance to the segment's line is <= `width`. Where several
    people's limbs cover a cell, their unit vectors are averaged (OpenPose's rule).
    """
    import tensorflow as tf

    h, w = grid_hw
    kp = tf.convert_to_tensor(keypoints_grid, tf.float32)
    limbs = np.asarray(limbs, np.int32).reshape(-1, 2)
    a = tf.gather(kp, limbs[:, 0], axis=1)                      # [N, L, 3]
    b = tf.gather(kp, limbs[:, 1], axis=1)
    vec = b[..., :2] - a[..., :2]
    length = tf.norm(vec, axis=-1)                              # [N, L]
    valid = (a[..., 2] > 0) & (b[..., 2] > 0) & (length > 1e-3)
    unit = vec / tf.maximum(length, 1e-3)[..., None]            # [N, L, 2]

    # Projections of every cell on every limb's direction and normal, as two matmuls
    # [P, 2] x [2, N*L] instead of a [P, N, L, 2] difference tensor.
    ys, xs = tf.meshgrid(tf.range(h, dtype=tf.float32), tf.range(w, dtype=tf.float32),
                         indexing="ij")
    cells = tf.stack([tf.reshape(xs, [-1]), tf.reshape(ys, [-1])], axis=-1)  # [P, 2]
    num_n, num_l = tf.shape(kp)[0], limbs.shape[0]
    unit_flat = tf.reshape(unit, [-1, 2])                                 # [NL, 2]
    normal_flat = tf.stack([-unit_flat[:, 1], unit_flat[:, 0]], axis=-1)
    start = tf.reshape(a[..., :2], [-1, 2])
    along = (tf.matmul(cells, unit_flat, transpose_b=True)
             - tf.reduce_sum(start * unit_flat, axis=-1)[None])          # [P, NL]
    across = tf.abs(tf.matmul(cells, normal_flat, transpose_b=True)
                    - tf.reduce_sum(start * normal_flat, axis=-1)[None])
    inside = ((along >= 0.0) & (along <= tf.reshape(length, [-1])[None])
              & (across <= width) & tf.reshape(valid, [-1])[None])
    inside = tf.reshape(tf.cast(inside, tf.float32), [h * w, num_n, num_l])  # [P, N, L]
    total = tf.einsum("pnl,nlc->plc", inside, unit)                      # [P, L, 2]
    count = tf.reduce_sum(inside, axis=1)                                 # [P, L]
    field = total / tf.maximum(count, 1.0)[..., None]
    return tf.reshape(field, [h, w, 2 * limbs.shape[0]])


def to_layout_channels(per_limb, layout: Layout):
    """[..., 2L] values in limb order (limb l at 2l, 2l+1) -> the layout's PAF channel
    order (limb l at `layout.paf_channels[l]`; OpenPose's differs from limb order)."""
    import tensorflow as tf

    source = np.zeros(2 * layout.num_limbs, np.int32)
    for limb, (cx, cy) in enumerate(layout.paf_channels):
        source[cx], source[cy] = 2 * limb, 2 * limb + 1
    return tf.gather(per_limb, source, axis=-1)


def ignore_cells(ignore_fraction, config: TargetConfig):
    """[h, w] 1 = supervise, 0 = ignore, from the ignored share of each cell."""
    import tensorflow as tf

    return tf.cast(ignore_fraction < config.ignore_cover, tf.float32)


def loss_masks(supervise, part_labelled, layout: Layout):
    """Heatmap mask [h, w, K+1] and PAF mask [h, w, 2L].

    `supervise` [h, w] is 0 in ignore regions; `part_labelled` [K] is 0 for the layout's
    parts the sample's source does not annotate: their heatmaps and the PAFs of limbs
    touching them are not supervised. The background channel is supervised outside
    ignore regions, unless the source labels nothing at all (an unlabelled image: its
    people are not drawn, so "no joint here" would be a false label).
    """
    import tensorflow as tf

    part_labelled = tf.cast(part_labelled, tf.float32)
    any_label = tf.reduce_max(part_labelled, keepdims=True)
    channel_on = tf.concat([part_labelled, any_label], axis=0)                    # [K+1]
    limbs = layout.limb_array()
    limb_on = tf.gather(part_labelled, limbs[:, 0]) * tf.gather(part_labelled, limbs[:, 1])
    paf_on = to_layout_channels(tf.repeat(limb_on, 2), layout)                    # [2L]
    sup = supervise[..., None]
    return sup * channel_on, sup * paf_on


def make_targets(keypoints, box_area, labelled, ignore_fraction, input_size,
                 layout: Layout = COCO17, config: TargetConfig | None = None):
    """All targets of one sample.

    keypoints [N, 17, 3] COCO order in input pixels (v > 0 = labelled); box_area [N] person
    box areas in input pixels; labelled [17] the source's flags; ignore_fraction [h, w] the
    ignored share of each output cell (or None). Returns the contract's dict:
    heatmaps [h, w, K+1], pafs [h, w, 2L], heatmap_mask, paf_mask.
    """
    import tensorflow as tf

    config = config or TargetConfig()
    height, width = input_size
    grid_hw = (height // config.stride, width // config.stride)
    kp, part_labelled = layout_keypoints(keypoints, labelled, layout)   # layout's part order
    kp_grid = tf.concat([input_to_grid(kp[..., :2], config.stride), kp[..., 2:]], axis=-1)

    ratio = tf.convert_to_tensor(box_area, tf.float32) / float(height * width)
    joints, background = heatmaps(kp_grid, person_sigmas(ratio, config), grid_hw)
    fields = to_layout_channels(pafs(kp_grid, layout.limbs, grid_hw, config.paf_width), layout)
    if ignore_fraction is None:
        supervise = tf.ones(grid_hw, tf.float32)
    else:
        supervise = ignore_cells(ignore_fraction, config)
    hm_mask, paf_mask = loss_masks(supervise, part_labelled, layout)
    return {
        "heatmaps": tf.concat([joints, background], axis=-1),
        "pafs": fields,
        "heatmap_mask": hm_mask,
        "paf_mask": paf_mask,
    }
