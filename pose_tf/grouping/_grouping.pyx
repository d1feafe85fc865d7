# distutils: language = c++
# cython: boundscheck=False, wraparound=False
"""Thin Cython wrapper over the C++ core (cpp/grouping.cpp). Releases the GIL.

The core checks its arguments and throws std::invalid_argument, which `except +` turns
into ValueError (any other C++ exception into its Python counterpart, never an abort).
"""
import numpy as np

cimport numpy as cnp
from libc.math cimport floor, isfinite
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

    # Both throw std::invalid_argument on bad arguments: `except +` is what keeps a C++
    # exception from terminating the interpreter.
    vector[Peak] find_peaks(const MapView& maps, int num_parts, const vector[float]& thresholds,
                            int max_peaks_per_part, cbool refine) except + nogil
    vector[Person] group(const vector[Peak]& peaks, const MapView& maps,
                         const vector[Limb]& limbs, int num_parts,
                         const GroupParams& params) except + nogil


cdef MapView _view(const float[:, :, ::1] maps):
    cdef MapView view
    # An empty map has no first element to point at; the core refuses it (ValueError).
    if maps.shape[0] > 0 and maps.shape[1] > 0 and maps.shape[2] > 0:
        view.data = &maps[0, 0, 0]
    else:
        view.data = NULL
    view.height = maps.shape[0]
    view.width = maps.shape[1]
    view.channels = maps.shape[2]
    return view


def find_peaks_c(const float[:, :, ::1] maps, const float[::1] thresholds, int num_parts,
                 int max_peaks_per_part=0, bint refine=True):
    """Peaks of channels [0, num_parts) as float32 [N, 4]: x, y, score, part (map cells).
    Raises ValueError for bad arguments (see cpp/grouping.hpp)."""
    cdef vector[float] th
    cdef Py_ssize_t i
    for i in range(thresholds.shape[0]):
        th.push_back(thresholds[i])   # the core checks there is one per part
    cdef MapView view = _view(maps)
    cdef vector[Peak] peaks
    with nogil:
        peaks = find_peaks(view, num_parts, th, max_peaks_per_part, refine)
    out = np.empty((peaks.size(), 4), np.float32)
    cdef float[:, ::1] o = out
    for i in range(<Py_ssize_t>peaks.size()):
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
    Returns (people int32 [M, num_parts] peak index or -1, scores float32 [M]).
    Raises ValueError for bad arguments (see cpp/grouping.hpp)."""
    cdef Py_ssize_t n = peaks.shape[0], i, k
    cdef float part
    if peaks.shape[1] != 4:
        raise ValueError(f"peaks must be [N, 4]: x, y, score, part; got {peaks.shape[1]} columns")
    if limbs.shape[1] != 4:
        raise ValueError("limbs must be [L, 4]: part_a, part_b, channel_x, channel_y")
    cdef vector[Peak] pk
    pk.resize(n)
    for i in range(n):
        pk[i].x = peaks[i, 0]
        pk[i].y = peaks[i, 1]
        pk[i].score = peaks[i, 2]
        part = peaks[i, 3]
        # Only a finite whole number in int32's range may be cast (anything else is
        # undefined behaviour); the core checks the range [0, num_parts) and the order.
        if not (isfinite(part) and part == floor(part) and -2147483648.0 <= part < 2147483648.0):
            raise ValueError(f"peak {i}: part {part} is not a whole number (peaks must be "
                             "grouped by part, with parts in [0, num_parts))")
        pk[i].part = <int32_t>part
    cdef vector[Limb] lb
    lb.resize(limbs.shape[0])
    for i in range(limbs.shape[0]):
        lb[i].part_a, lb[i].part_b = limbs[i, 0], limbs[i, 1]
        lb[i].channel_x, lb[i].channel_y = limbs[i, 2], limbs[i, 3]
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
