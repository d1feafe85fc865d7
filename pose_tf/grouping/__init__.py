"""Post-processing: network maps -> peaks -> people, with the compiled core.

`decode(maps, layout, params, cell_to_image)` is the whole path from one [h, w, C] map
tensor (the network's own resolution, no upsampling) to `Pose`s in image coordinates.

Bad arguments (maps that do not fit the layout, a self-limb, negative counts, ...) raise
ValueError. Non-finite map values (NaN, inf) are never peaks and never support a limb, so
every returned position and score is finite.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from ..core.keypoints import NUM_KEYPOINTS, Layout
from ..core.pose import Pose
from ._grouping import find_peaks_c, group_c


@dataclass(frozen=True)
class PostprocessParams:
    """Knobs of peak finding and grouping (defaults tuned on coco_mini *train*)."""

    peak_threshold: float = 0.03                  # heatmap value a peak must exceed
    part_thresholds: Optional[Sequence[float]] = None   # per part, overrides the above
    max_peaks_per_part: int = 64
    refine: bool = True                           # sub-pixel peak refinement
    num_samples: int = 10                         # PAF samples along a candidate limb
    paf_threshold: float = 0.05
    min_inlier_ratio: float = 0.8
    min_parts: int = 3
    min_mean_score: float = 0.1

    def thresholds(self, num_parts: int) -> np.ndarray:
        if self.part_thresholds is not None:
            values = np.asarray(self.part_thresholds, np.float32)
            if values.shape != (num_parts,):
                raise ValueError(f"part_thresholds needs {num_parts} values, got {values.shape}")
            return values
        return np.full(num_parts, self.peak_threshold, np.float32)


def _maps_for(maps: np.ndarray, layout: Layout) -> np.ndarray:
    """`maps` as contiguous float32 [h, w, layout.num_channels], or ValueError."""
    maps = np.ascontiguousarray(maps, np.float32)
    if maps.ndim != 3 or maps.shape[2] != layout.num_channels:
        raise ValueError(
            f"maps must be [h, w, {layout.num_channels}] for layout {layout.name} "
            f"({layout.num_parts} heatmaps, {int(layout.has_background)} background, "
            f"{2 * layout.num_limbs} PAF channels), got shape {maps.shape}")
    return maps


def limb_table(layout: Layout) -> np.ndarray:
    """[L, 4] int32: part_a, part_b and the absolute PAF channels (x, y) of each limb."""
    for i, (a, b) in enumerate(layout.limb_array()):
        if a == b:
            name = layout.part_names[a] if 0 <= a < layout.num_parts else str(a)
            raise ValueError(f"layout {layout.name}: limb {i} ({name}-{name}) joins part {a} "
                             "to itself (a self-limb)")
    channels = layout.paf_channel_array() + layout.paf_offset
    return np.ascontiguousarray(np.concatenate([layout.limb_array(), channels], 1), np.int32)


def find_peaks(maps: np.ndarray, layout: Layout, params: PostprocessParams) -> np.ndarray:
    """Peaks [N, 4] (x, y, score, part) in map cells, grouped by part."""
    maps = _maps_for(maps, layout)
    return find_peaks_c(maps, params.thresholds(layout.num_parts), layout.num_parts,
                        params.max_peaks_per_part, params.refine)


def group(maps: np.ndarray, peaks: np.ndarray, layout: Layout, params: PostprocessParams):
    """(people [M, parts] peak index or -1, raw scores [M]) for one image's maps."""
    maps = _maps_for(maps, layout)
    peaks = np.ascontiguousarray(peaks, np.float32)
    if peaks.ndim != 2 or peaks.shape[1] != 4:
        raise ValueError(f"peaks must be [N, 4] (x, y, score, part), got shape {peaks.shape}")
    return group_c(peaks, maps, limb_table(layout),
                   layout.num_parts, params.num_samples, params.paf_threshold,
                   params.min_inlier_ratio, params.min_parts, params.min_mean_score)


def people_to_keypoints(peaks: np.ndarray, people: np.ndarray, layout: Layout) -> np.ndarray:
    """[M, 17, 3] COCO keypoints (x, y in map cells, score; 0 where missing)."""
    coco_parts = np.asarray(layout.to_coco, np.int64)
    index = people[:, coco_parts]                       # [M, 17] peak index or -1
    found = index >= 0
    picked = peaks[np.where(found, index, 0)][..., :3]  # [M, 17, 3]
    return np.where(found[..., None], picked, 0.0).astype(np.float32)


def person_score(keypoints: np.ndarray) -> np.ndarray:
    """Confidence used to rank detections: mean keypoint score over all 17 joints.

    Dividing by 17 (not by the number found) ranks complete people above fragments,
    which is what COCO AP rewards.
    """
    return keypoints[..., 2].sum(-1) / NUM_KEYPOINTS


def decode(maps: np.ndarray, layout: Layout, params: PostprocessParams,
           cell_to_image: np.ndarray, complete_missing: bool = True,
           peaks: Optional[np.ndarray] = None) -> list:
    """Maps [h, w, C] -> list[Pose] in image pixels.

    `cell_to_image` is (scale_x, scale_y, offset_x, offset_y): image = cell * scale + offset.
    Missing joints get a placement from `pose_tf.codec.completion` (score stays 0).
    `peaks` [N, 4] as `find_peaks` returns them (grouped by part) replaces its search on
    `maps`, e.g. to measure what moving some peaks would change (bench/distill_gap.py).
    """
    from ..codec.completion import complete_keypoints

    if peaks is None:
        peaks = find_peaks(maps, layout, params)
    people, _ = group(maps, peaks, layout, params)
    if len(people) == 0:
        return []
    keypoints = people_to_keypoints(peaks, people, layout)
    sx, sy, ox, oy = cell_to_image
    found = keypoints[..., 2] > 0
    keypoints[..., 0] = np.where(found, keypoints[..., 0] * sx + ox, 0)
    keypoints[..., 1] = np.where(found, keypoints[..., 1] * sy + oy, 0)
    if complete_missing:
        keypoints = complete_keypoints(keypoints)
    scores = person_score(keypoints)
    return [Pose(k, s) for k, s in zip(keypoints, scores)]
