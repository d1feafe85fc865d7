# distutils: language = c++
# cython: boundscheck=False, wraparound=False
"""Thin Cython wrapper over the tracker's compiled per-frame work (cpp/pairs.cpp).

Dtypes, shapes and indices are checked here (ValueError), so the core only sees valid
pointers. Arrays are read through the NumPy C API rather than typed memoryviews: a call
does a few microseconds of work, and acquiring one memoryview costs a few thousand
instructions (checking an array's flags, a few dozen). The GIL is kept for the same reason,
and because `update` writes into arrays the caller owns.

Poses are float64 [N, 2, 17] (x row, y row) with bool [N, 17] detected joints, any
strides; the tracks' state is C-contiguous float64 joints [T, 3, 17] and motion [T, 4]
(see tracker._Tracks).
"""
cimport numpy as cnp
from libc.stdint cimport int64_t
from libcpp.pair cimport pair
from libcpp.vector cimport vector

from pose_tf.core.keypoints import COCO_SIGMAS

cnp.import_array()


cdef extern from "pairs.hpp" namespace "posetf::tracking":
    const int kJoints
    const int kFeatures

    cdef cppclass Poses:
        const double* xy
        ptrdiff_t pose_stride, coord_stride, joint_stride
        const unsigned char* ok
        ptrdiff_t ok_pose_stride, ok_joint_stride
        int count

    cdef cppclass Tracks:
        double* joints
        double* motion
        int count

    cdef cppclass PairParams:
        double frame
        double joint_memory
        const double* oks_denom

    cdef cppclass Model:
        const double* coef
        double constant
        double clip


# The core's functions under other names, so the Python ones below can keep theirs.
cdef extern from "pairs.hpp":
    void core_predict "posetf::tracking::predict"(const Tracks& tracks, double frame,
                                                  double joint_memory, double* gap, double* xy,
                                                  unsigned char* ok)
    void core_boxes "posetf::tracking::boxes"(const Poses& poses, double* out)
    void core_iou "posetf::tracking::iou"(const double* a, int na, const double* b, int nb,
                                          double* out)
    void core_pair_features "posetf::tracking::pair_features"(
        const Tracks& tracks, const Poses& dets, const PairParams& params, double* out)
    void core_pair_logits "posetf::tracking::pair_logits"(
        const Tracks& tracks, const Poses& dets, const PairParams& params, const Model& model,
        double* out)
    vector[pair[int, int]] core_assign "posetf::tracking::assign"(
        const double* logit, int rows, int cols, double gate) except +
    void core_update "posetf::tracking::update"(
        Tracks& tracks, const int64_t* rows, const int64_t* cols, int links, const Poses& dets,
        double frame, double velocity_smoothing, double position_smoothing)


# OKS's per-joint 2 (2 sigma)^2, from the one table of COCO sigmas
cdef double OKS_DENOM[17]
assert len(COCO_SIGMAS) == kJoints == 17
for _j, _sigma in enumerate(COCO_SIGMAS.tolist()):
    OKS_DENOM[_j] = 2.0 * ((2.0 * _sigma) * (2.0 * _sigma))


cdef bint _is(cnp.ndarray a, int dtype, int ndim):
    """a has this dtype and number of dimensions, native byte order, aligned (so its strides
    are whole elements)."""
    return cnp.PyArray_TYPE(a) == dtype and cnp.PyArray_NDIM(a) == ndim and cnp.PyArray_ISBEHAVED_RO(a)


cdef str _kind(cnp.ndarray a):
    return f"{(<object>a).dtype} {list((<object>a).shape)}"


cdef Poses _poses(cnp.ndarray xy, cnp.ndarray ok) except *:
    if not (_is(xy, cnp.NPY_DOUBLE, 3) and xy.shape[1] == 2 and xy.shape[2] == kJoints):
        raise ValueError(f"poses must be float64 [N, 2, {kJoints}] (x row, y row), got {_kind(xy)}")
    if not (_is(ok, cnp.NPY_BOOL, 2) and ok.shape[0] == xy.shape[0] and ok.shape[1] == kJoints):
        raise ValueError(f"detected joints must be bool [{xy.shape[0]}, {kJoints}], got {_kind(ok)}")
    cdef Poses p
    p.count = xy.shape[0]
    p.xy = <const double*>cnp.PyArray_DATA(xy)
    p.pose_stride = xy.strides[0] // <Py_ssize_t>sizeof(double)
    p.coord_stride = xy.strides[1] // <Py_ssize_t>sizeof(double)
    p.joint_stride = xy.strides[2] // <Py_ssize_t>sizeof(double)
    p.ok = <const unsigned char*>cnp.PyArray_DATA(ok)
    p.ok_pose_stride, p.ok_joint_stride = ok.strides[0], ok.strides[1]
    return p


cdef Tracks _tracks(cnp.ndarray joints, cnp.ndarray motion, bint write=False) except *:
    if not (_is(joints, cnp.NPY_DOUBLE, 3) and cnp.PyArray_IS_C_CONTIGUOUS(joints)
            and joints.shape[1] == 3 and joints.shape[2] == kJoints):
        raise ValueError(f"track joints must be C-contiguous float64 [T, 3, {kJoints}]")
    if not (_is(motion, cnp.NPY_DOUBLE, 2) and cnp.PyArray_IS_C_CONTIGUOUS(motion)
            and motion.shape[0] == joints.shape[0] and motion.shape[1] == 4):
        raise ValueError(f"track motion must be C-contiguous float64 [{joints.shape[0]}, 4]")
    if write and not (cnp.PyArray_ISWRITEABLE(joints) and cnp.PyArray_ISWRITEABLE(motion)):
        raise ValueError("track arrays must be writeable")
    cdef Tracks t
    t.count = joints.shape[0]
    t.joints = <double*>cnp.PyArray_DATA(joints)
    t.motion = <double*>cnp.PyArray_DATA(motion)
    return t


cdef const int64_t* _indices(cnp.ndarray index, Py_ssize_t n, Py_ssize_t bound, str what) except NULL:
    """The data of `index`, C-contiguous int64 [n] of distinct values in [0, bound)."""
    if not (_is(index, cnp.NPY_INT64, 1) and cnp.PyArray_IS_C_CONTIGUOUS(index) and index.shape[0] == n):
        raise ValueError(f"{what} must be C-contiguous int64 [{n}]")
    cdef const int64_t* data = <const int64_t*>cnp.PyArray_DATA(index)
    cdef vector[char] taken = vector[char](bound, 0)
    cdef Py_ssize_t i
    for i in range(n):
        if not 0 <= data[i] < bound or taken[data[i]]:
            raise ValueError(f"{what} must be distinct and in [0, {bound}); item {i} is {data[i]}")
        taken[data[i]] = 1
    return data


cdef cnp.ndarray _empty(int dtype, int ndim, Py_ssize_t a, Py_ssize_t b=0, Py_ssize_t c=0):
    """An uninitialised array (the core fills every element) of up to 3 dimensions."""
    cdef cnp.npy_intp dims[3]
    dims[0], dims[1], dims[2] = a, b, c
    return cnp.PyArray_EMPTY(ndim, dims, dtype, 0)


cdef PairParams _params(double frame, double joint_memory):
    cdef PairParams params
    params.frame, params.joint_memory, params.oks_denom = frame, joint_memory, OKS_DENOM
    return params


def predict(cnp.ndarray joints not None, cnp.ndarray motion not None, double frame,
            double joint_memory):
    """(gap [T], xy [T, 2, 17], ok [T, 17]): frames since each track was seen, its joints
    moved by its velocity to `frame`, and the joints its template still holds."""
    cdef Tracks t = _tracks(joints, motion)
    gap, xy = _empty(cnp.NPY_DOUBLE, 1, t.count), _empty(cnp.NPY_DOUBLE, 3, t.count, 2, kJoints)
    ok = _empty(cnp.NPY_BOOL, 2, t.count, kJoints)
    core_predict(t, frame, joint_memory, <double*>cnp.PyArray_DATA(gap),
                 <double*>cnp.PyArray_DATA(xy), <unsigned char*>cnp.PyArray_DATA(ok))
    return gap, xy, ok


def seen_since(cnp.ndarray motion not None, double first):
    """None if every track was last seen at frame `first` or later, else a bool [T] mask
    of those that were."""
    if not (_is(motion, cnp.NPY_DOUBLE, 2) and cnp.PyArray_IS_C_CONTIGUOUS(motion) and motion.shape[1] == 4):
        raise ValueError("track motion must be C-contiguous float64 [T, 4]")
    cdef const double* m = <const double*>cnp.PyArray_DATA(motion)
    cdef Py_ssize_t t, n = motion.shape[0]
    for t in range(n):
        if m[4 * t + 2] < first:
            break
    else:
        return None
    mask = _empty(cnp.NPY_BOOL, 1, n)
    cdef cnp.npy_bool* out = <cnp.npy_bool*>cnp.PyArray_DATA(mask)
    for t in range(n):
        out[t] = m[4 * t + 2] >= first
    return mask


def boxes(cnp.ndarray xy not None, cnp.ndarray ok not None):
    """[N, 4] boxes (x0, y0, x1, y1) of the detected joints of poses (0-size if none)."""
    cdef Poses p = _poses(xy, ok)
    out = _empty(cnp.NPY_DOUBLE, 2, p.count, 4)
    core_boxes(p, <double*>cnp.PyArray_DATA(out))
    return out


def iou(cnp.ndarray a not None, cnp.ndarray b not None):
    """[A, B] IoU of x0y0x1y1 boxes a [A, 4] and b [B, 4] (C-contiguous float64)."""
    for box in (a, b):
        if not (_is(box, cnp.NPY_DOUBLE, 2) and cnp.PyArray_IS_C_CONTIGUOUS(box) and box.shape[1] == 4):
            raise ValueError("boxes must be C-contiguous float64 [N, 4]: x0, y0, x1, y1")
    out = _empty(cnp.NPY_DOUBLE, 2, a.shape[0], b.shape[0])
    core_iou(<const double*>cnp.PyArray_DATA(a), a.shape[0], <const double*>cnp.PyArray_DATA(b),
             b.shape[0], <double*>cnp.PyArray_DATA(out))
    return out


def pair_features(cnp.ndarray joints not None, cnp.ndarray motion not None,
                  cnp.ndarray xy not None, cnp.ndarray ok not None, double frame,
                  double joint_memory):
    """[T, D, 11] features (tracker.FEATURES) of every (track, detection) pair, the tracks
    predicted to `frame`."""
    cdef Tracks t = _tracks(joints, motion)
    cdef Poses dets = _poses(xy, ok)
    out = _empty(cnp.NPY_DOUBLE, 3, t.count, dets.count, kFeatures)
    core_pair_features(t, dets, _params(frame, joint_memory), <double*>cnp.PyArray_DATA(out))
    return out


def pair_logits(cnp.ndarray joints not None, cnp.ndarray motion not None,
                cnp.ndarray xy not None, cnp.ndarray ok not None, double frame,
                double joint_memory, cnp.ndarray coef not None, double constant, double clip):
    """[T, D] log-odds, clip(features . coef + constant, -clip, clip), of the same pairs."""
    if not (_is(coef, cnp.NPY_DOUBLE, 1) and cnp.PyArray_IS_C_CONTIGUOUS(coef) and coef.shape[0] == kFeatures):
        raise ValueError(f"coef must be C-contiguous float64 [{kFeatures}]")
    cdef Tracks t = _tracks(joints, motion)
    cdef Poses dets = _poses(xy, ok)
    cdef Model model
    model.coef, model.constant, model.clip = <const double*>cnp.PyArray_DATA(coef), constant, clip
    out = _empty(cnp.NPY_DOUBLE, 2, t.count, dets.count)
    core_pair_logits(t, dets, _params(frame, joint_memory), model, <double*>cnp.PyArray_DATA(out))
    return out


def assign(cnp.ndarray logit not None, double gate):
    """(rows, columns), int64, of the links that maximise sum(logit - gate) over a
    matching, pairs at or under the gate never linked; rows increasing. `logit` is
    C-contiguous float64 [R, C]. ValueError for a NaN or +inf log-odds."""
    if not (_is(logit, cnp.NPY_DOUBLE, 2) and cnp.PyArray_IS_C_CONTIGUOUS(logit)):
        raise ValueError("log-odds must be C-contiguous float64 [R, C]")
    cdef vector[pair[int, int]] links = core_assign(
        <const double*>cnp.PyArray_DATA(logit), logit.shape[0], logit.shape[1], gate)
    cdef Py_ssize_t i, n = links.size()
    rows, cols = _empty(cnp.NPY_INT64, 1, n), _empty(cnp.NPY_INT64, 1, n)
    cdef int64_t* r = <int64_t*>cnp.PyArray_DATA(rows)
    cdef int64_t* c = <int64_t*>cnp.PyArray_DATA(cols)
    for i in range(n):
        r[i], c[i] = links[i].first, links[i].second
    return rows, cols


def update(cnp.ndarray joints not None, cnp.ndarray motion not None, cnp.ndarray rows not None,
           cnp.ndarray cols not None, cnp.ndarray xy not None, cnp.ndarray ok not None,
           double frame, double velocity_smoothing, double position_smoothing):
    """Link detection cols[i] (of xy [D, 2, 17], ok [D, 17]) to track rows[i] at `frame`,
    in place. Rows and columns are C-contiguous int64, each distinct (ValueError
    otherwise, and nothing is written)."""
    cdef Tracks t = _tracks(joints, motion, write=True)
    cdef Poses dets = _poses(xy, ok)
    cdef Py_ssize_t n = rows.shape[0] if cnp.PyArray_NDIM(rows) == 1 else -1
    cdef const int64_t* r = _indices(rows, n, t.count, "rows")
    cdef const int64_t* c = _indices(cols, n, dets.count, "columns")
    core_update(t, r, c, n, dets, frame, velocity_smoothing, position_smoothing)
