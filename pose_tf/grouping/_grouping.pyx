# distutils: language = c++
# cython: boundscheck=False, wraparound=False
"""Thin Cython wrapper over the C++ core (cpp/grouping.cpp). Releases the GIL."""
import numpy as np

cimport numpy as cnp
from libc.stdint cimport int32_t
from libcpp cimport bool as cbool
from libcpp.vector cimport vector

cnp.import_array()


cdef extern from "grouping.hpp" namespace "posetf":
    cdef struct Peak:
        float x
        float y
        float score
        int32_t part

    cdef cppclass MapView:
        const float* data
        int height
        int width
        int channels

    cdef struct GroupParams:
        int num_samples
        float paf_threshold
        float min_inlier_ratio
        int min_parts
        float min_mean_score

    cdef struct Limb:
        int32_t part_a
        int32_t part_b
        int32_t channel_x
        int32_t channel_y

    cdef cppclass Person:
        vector[int32_t] peak
        float score
        int count

    vector[Peak] find_peaks(const MapView& maps, int num_parts, const float* thresholds,
                            int max_peaks_per_part, cbool refine) nogil
    vector[Person] group(const vector[Peak]& peaks, const MapView& maps,
                         const vector[Limb]& limbs, int num_parts,
                         const GroupParams& params) nogil


cdef MapView _view(const float[:, :, ::1] maps):
    cdef MapView view
    view.data = &maps[0, 0, 0]
    view.height = maps.shape[0]
    view.width = maps.shape[1]
    view.channels = maps.shape[2]
    return view


def find_peaks_c(const float[:, :, ::1] maps, const float[::1] thresholds, int num_parts,
                 int max_peaks_per_part=0, bint refine=True):
    """Peaks of channels [0, num_parts) as float32 [N, 4]: x, y, score, part (map cells)."""
    if thresholds.shape[0] < num_parts or maps.shape[2] < num_parts:
        raise ValueError("need a threshold and a map channel for every part")
    cdef MapView view = _view(maps)
    cdef vector[Peak] peaks
    with nogil:
        peaks = find_peaks(view, num_parts, &thresholds[0], max_peaks_per_part, refine)
    out = np.empty((peaks.size(), 4), np.float32)
    cdef float[:, ::1] o = out
    cdef size_t i
    for i in range(peaks.size()):
        o[i, 0] = peaks[i].x
        o[i, 1] = peaks[i].y
        o[i, 2] = peaks[i].score
        o[i, 3] = peaks[i].part
    return out


def group_c(const float[:, ::1] peaks, const float[:, :, ::1] maps, const int[:, ::1] limbs,
            int num_parts, int num_samples=10, float paf_threshold=0.05,
            float min_inlier_ratio=0.8, int min_parts=3, float min_mean_score=0.2):
    """Assemble people. `peaks` [N, 4] grouped by part (as find_peaks_c returns them);
    `limbs` [L, 4]: part_a, part_b, absolute PAF channel x, channel y.
    Returns (people int32 [M, num_parts] peak index or -1, scores float32 [M])."""
    cdef Py_ssize_t n = peaks.shape[0], i, k
    if limbs.shape[1] != 4:
        raise ValueError("limbs must be [L, 4]: part_a, part_b, channel_x, channel_y")
    cdef vector[Peak] pk
    pk.resize(n)
    cdef int last_part = -1
    for i in range(n):
        pk[i].x = peaks[i, 0]
        pk[i].y = peaks[i, 1]
        pk[i].score = peaks[i, 2]
        pk[i].part = <int32_t>peaks[i, 3]
        if pk[i].part < last_part or pk[i].part >= num_parts or pk[i].part < 0:
            raise ValueError("peaks must be grouped by part, with parts in [0, num_parts)")
        last_part = pk[i].part
    cdef vector[Limb] lb
    lb.resize(limbs.shape[0])
    for i in range(limbs.shape[0]):
        lb[i].part_a, lb[i].part_b = limbs[i, 0], limbs[i, 1]
        lb[i].channel_x, lb[i].channel_y = limbs[i, 2], limbs[i, 3]
        if not (0 <= lb[i].part_a < num_parts and 0 <= lb[i].part_b < num_parts):
            raise ValueError(f"limb {i} names a part outside [0, {num_parts})")
        if not (0 <= lb[i].channel_x < maps.shape[2] and 0 <= lb[i].channel_y < maps.shape[2]):
            raise ValueError(f"limb {i} names a PAF channel outside the maps")
    cdef GroupParams params
    params.num_samples = num_samples
    params.paf_threshold = paf_threshold
    params.min_inlier_ratio = min_inlier_ratio
    params.min_parts = min_parts
    params.min_mean_score = min_mean_score
    cdef MapView view = _view(maps)
    cdef vector[Person] people
    with nogil:
        people = group(pk, view, lb, num_parts, params)
    out = np.empty((people.size(), num_parts), np.int32)
    scores = np.empty(people.size(), np.float32)
    cdef int[:, ::1] o = out
    for i in range(<Py_ssize_t>people.size()):
        for k in range(num_parts):
            o[i, k] = people[i].peak[k]
        scores[i] = people[i].score
    return out, scores
