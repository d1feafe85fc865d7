// The pairwise tracker's per-frame work, compiled: pair features and their log-odds, the
// assignment, the track state update (pose_tf/tracking/tracker.py holds the rest).
//
// A frame has a handful of people, so the cost of doing this with numpy was its number of
// calls, not their size; here each step is one loop. Pure functions over caller-owned
// arrays: no allocation visible to the caller, no global state, no Python. The Cython
// wrapper (_pairs.pyx) checks shapes and strides before calling.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace posetf {
namespace tracking {

constexpr int kJoints = 17;         // COCO-17
constexpr int kFeatures = 11;       // tracker.FEATURES, in that order

// Poses [N, 2, 17] (an x row and a y row of joints) and which joints were detected,
// [N, 17]; strides are in elements, so numpy views are read without a copy.
struct Poses {
    const double* xy = nullptr;
    std::ptrdiff_t pose_stride = 0, coord_stride = 0, joint_stride = 0;
    const unsigned char* ok = nullptr;
    std::ptrdiff_t ok_pose_stride = 0, ok_joint_stride = 0;
    int count = 0;

    double x(int i, int j) const { return xy[i * pose_stride + j * joint_stride]; }
    double y(int i, int j) const { return xy[i * pose_stride + coord_stride + j * joint_stride]; }
    bool has(int i, int j) const { return ok[i * ok_pose_stride + j * ok_joint_stride] != 0; }
};

// All tracks' state, C-contiguous: joints [T, 3, 17] holds each joint's template x, y and
// age (frames since it was seen, inf: never); motion [T, 4] the whole-body velocity x, y
// (px per frame), the frame the track was last seen and its detection count.
struct Tracks {
    double* joints = nullptr;
    double* motion = nullptr;
    int count = 0;
};

struct PairParams {
    double frame = 0.0;              // the frame the detections are from
    double joint_memory = 10.0;      // frames an unseen joint stays in a track's template
    const double* oks_denom = nullptr;   // [17] 2 (2 sigma)^2 per joint
};

// The logistic model folded into one weight per raw feature.
struct Model {
    const double* coef = nullptr;    // [kFeatures]
    double constant = 0.0;
    double clip = 30.0;              // log-odds are clipped to [-clip, clip]
};

// Each track moved by its constant velocity to `frame`: gap [T] (frames since it was
// seen), xy [T, 2, 17] and ok [T, 17] (the joints its template still holds).
void predict(const Tracks& tracks, double frame, double joint_memory, double* gap,
             double* xy, unsigned char* ok);

// [N, 4] boxes (x0, y0, x1, y1) around each pose's detected joints (all 0 if none).
void boxes(const Poses& poses, double* out);

// [A, B] IoU of x0y0x1y1 boxes a [A, 4] and b [B, 4].
void iou(const double* a, int na, const double* b, int nb, double* out);

// [T, D, kFeatures] features of every (track, detection) pair, tracks predicted to
// params.frame; see tracker.FEATURES for their meaning.
void pair_features(const Tracks& tracks, const Poses& dets, const PairParams& params, double* out);

// [T, D] log-odds of the same pairs under `model` (the features are never stored).
void pair_logits(const Tracks& tracks, const Poses& dets, const PairParams& params,
                 const Model& model, double* out);

// The links (row, column) of a [rows, cols] log-odds matrix that maximise the summed
// margin over the gate, sum(logit - gate), each row and column at most once, pairs at or
// under the gate never linked; in increasing row order. Throws std::invalid_argument on
// a NaN log-odds (which has no order).
std::vector<std::pair<int, int>> assign(const double* logit, int rows, int cols, double gate);

// Link detection cols[i] to track rows[i], i < links, at `frame`: blends the seen joints
// into the templates, moves the others with the body, smooths the velocity. Rows and
// columns must each be distinct and in range (the wrapper checks).
void update(Tracks& tracks, const int64_t* rows, const int64_t* cols, int links,
            const Poses& dets, double frame, double velocity_smoothing,
            double position_smoothing);

}  // namespace tracking
}  // namespace posetf
