#include "pairs.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <utility>

namespace posetf {
namespace tracking {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kStateRow = 3 * kJoints;     // one track's joints: x row, y row, age row
constexpr int kMotionRow = 4;              // vx, vy, last frame, hits
const double kExpFloor = std::exp(-50.0);

// Poses in one fixed layout, x row, y row and detected joints of each contiguous, so the
// per-joint loops below read them with constant strides.
struct Packed {
    std::vector<double> xy;              // [N, 2, 17]
    std::vector<unsigned char> ok;       // [N, 17]

    explicit Packed(int n) : xy(std::size_t(n) * 2 * kJoints), ok(std::size_t(n) * kJoints) {}
    Packed(const Poses& poses) : Packed(poses.count) {
        for (int i = 0; i < poses.count; ++i) {
            for (int j = 0; j < kJoints; ++j) {
                xy[i * 2 * kJoints + j] = poses.x(i, j);
                xy[i * 2 * kJoints + kJoints + j] = poses.y(i, j);
                ok[i * kJoints + j] = poses.has(i, j);
            }
        }
    }
    const double* x(int i) const { return xy.data() + i * 2 * kJoints; }
    const double* y(int i) const { return x(i) + kJoints; }
    const unsigned char* has(int i) const { return ok.data() + i * kJoints; }
};

// std::fmin / std::fmax inlined: a NaN (no value yet, or a NaN coordinate) loses
double lower(double a, double b) { return b < a || std::isnan(a) ? b : a; }
double upper(double a, double b) { return b > a || std::isnan(a) ? b : a; }

// A pose's box and what the features use of it.
struct Extent {
    double box[4];            // x0, y0, x1, y1
    double area;              // w * h
    double log_size;          // log of the person size: the box diagonal, at least 1 px
    double inv_size;          // 1 / size
    double mid_x, mid_y;      // twice the box centre

    Extent(const Packed& poses, int i) {
        // NaN start, as numpy's fmin.reduce over NaN-masked joints: a pose without
        // joints keeps it, and gets an all-0 box
        double x0 = kNaN, y0 = kNaN, x1 = kNaN, y1 = kNaN;
        const double *x = poses.x(i), *y = poses.y(i);
        const unsigned char* ok = poses.has(i);
        for (int j = 0; j < kJoints; ++j) {
            if (!ok[j]) continue;
            x0 = lower(x0, x[j]);
            y0 = lower(y0, y[j]);
            x1 = upper(x1, x[j]);
            y1 = upper(y1, y[j]);
        }
        box[0] = std::isnan(x0) ? 0.0 : x0;
        box[1] = std::isnan(y0) ? 0.0 : y0;
        box[2] = std::isnan(x1) ? 0.0 : x1;
        box[3] = std::isnan(y1) ? 0.0 : y1;
        const double w = box[2] - box[0], h = box[3] - box[1];
        const double size = std::max(std::hypot(w, h), 1.0);
        area = w * h;
        log_size = std::log(size);
        inv_size = 1.0 / size;
        mid_x = box[0] + box[2];
        mid_y = box[1] + box[3];
    }
};

double iou_of(const double* a, double area_a, const double* b, double area_b) {
    const double w = std::max(std::min(a[2], b[2]) - std::max(a[0], b[0]), 0.0);
    const double h = std::max(std::min(a[3], b[3]) - std::max(a[1], b[1]), 0.0);
    const double inter = w * h;
    // inter <= union, so the floor only turns 0 / 0 (two empty boxes) into 0
    return inter / std::max(area_a + area_b - inter, 1e-9);
}

// What every pair of a frame shares: the tracks at their prediction, the detections, and
// both sides' boxes.
struct FrameContext {
    std::vector<double> gap, log_gap, log_hits;  // [T]
    Packed predicted, dets;
    std::vector<Extent> track_box, det_box;
    std::vector<double> oks_scale;                // [T, 17] -1 / (track area * 2 (2 sigma)^2)

    FrameContext(const Tracks& tracks, const Poses& detections, const PairParams& params)
        : gap(tracks.count), log_gap(tracks.count), log_hits(tracks.count),
          predicted(tracks.count), dets(detections), oks_scale(tracks.count * kJoints) {
        predict(tracks, params.frame, params.joint_memory, gap.data(), predicted.xy.data(),
                predicted.ok.data());
        for (int t = 0; t < tracks.count; ++t) {
            log_gap[t] = std::log(gap[t]);
            log_hits[t] = std::log(tracks.motion[t * kMotionRow + 3]);
            track_box.emplace_back(predicted, t);
            // OKS with the box area as the object area (COCO uses the segment area)
            const double area = std::max(track_box[t].area, 1.0);
            for (int j = 0; j < kJoints; ++j)
                oks_scale[t * kJoints + j] = -1.0 / (area * params.oks_denom[j]);
        }
        for (int d = 0; d < detections.count; ++d) det_box.emplace_back(dets, d);
    }
};

// The features of track t vs detection d, in tracker.FEATURES order.
void features_of(const FrameContext& c, int t, int d, double* f) {
    const Extent &tb = c.track_box[t], &db = c.det_box[d];
    const double sx = tb.mid_x - db.mid_x, sy = tb.mid_y - db.mid_y;
    const double centre = std::hypot(sx, sy) * (0.5 * tb.inv_size);
    // the per-joint terms, averaged over the joints both have
    const double *tx = c.predicted.x(t), *ty = c.predicted.y(t), *dx = c.dets.x(d), *dy = c.dets.y(d);
    const unsigned char *t_ok = c.predicted.has(t), *d_ok = c.dets.has(d);
    const double* oks_scale = &c.oks_scale[t * kJoints];
    double oks = 0.0, dist = 0.0, pck = 0.0;
    int shared = 0, either = 0;
    for (int j = 0; j < kJoints; ++j) {
        either += t_ok[j] | d_ok[j];
        if (!(t_ok[j] & d_ok[j])) continue;
        ++shared;
        const double ex = tx[j] - dx[j], ey = ty[j] - dy[j];
        const double d2 = ex * ex + ey * ey;
        // exponents floored at -50 as the numpy version did (e^-50 adds nothing to a sum);
        // most pairs are far apart, so the floor also saves most calls to exp
        const double e = d2 * oks_scale[j];
        oks += e < -50.0 ? kExpFloor : std::exp(e);
        const double rel = std::sqrt(d2) * tb.inv_size;
        pck += rel < 0.1 ? 1.0 : 0.0;                   // PCK@0.1
        dist += std::min(rel, 10.0);
    }
    const double n = std::max(shared, 1);
    // logs keep far pairs far apart for the linear model (a clip would make them all alike)
    const double log_dist = std::log(0.02 + (shared > 0 ? dist / n : centre));
    f[0] = oks / n;
    f[1] = log_dist;
    f[2] = pck / n;
    f[3] = iou_of(tb.box, tb.area, db.box, db.area);
    f[4] = shared / static_cast<double>(std::max(either, 1));
    f[5] = std::fabs(db.log_size - tb.log_size);
    f[6] = std::log(0.02 + centre);
    f[7] = c.log_gap[t];
    f[8] = shared * (1.0 / kJoints);
    f[9] = log_dist * c.log_gap[t];
    f[10] = c.log_hits[t];
}

// Columns of a minimum-cost assignment of each of the n rows of cost [n, m] (n <= m) to a
// distinct column, by the Hungarian method with shortest augmenting paths, O(n^2 m): row
// and column potentials u, v keep every reduced cost c - u - v >= 0 (0 on the links);
// each row in turn grows a tree of columns by the least reduced cost until it reaches a
// free column, and the path to it is flipped. Exact: the potentials certify optimality.
std::vector<int> min_cost_columns(const std::vector<double>& cost, int n, int m) {
    std::vector<double> u(n, 0.0), v(m + 1, 0.0);     // column m: where each search starts
    std::vector<int> row_of(m + 1, -1), parent(m + 1, m);
    std::vector<double> slack(m);
    std::vector<char> in_tree(m + 1);
    for (int r = 0; r < n; ++r) {
        std::fill(slack.begin(), slack.end(), kInf);
        std::fill(in_tree.begin(), in_tree.end(), 0);
        row_of[m] = r;
        int col = m;
        do {
            // the tree holds column m and at most r < m real columns, so one remains outside
            in_tree[col] = 1;
            const int i = row_of[col];
            double delta = kInf;
            int next = -1;
            for (int j = 0; j < m; ++j) {
                if (in_tree[j]) continue;
                const double reduced = cost[i * m + j] - u[i] - v[j];
                if (reduced < slack[j]) {
                    slack[j] = reduced;
                    parent[j] = col;
                }
                if (next < 0 || slack[j] < delta) {
                    delta = slack[j];
                    next = j;
                }
            }
            for (int j = 0; j <= m; ++j) {
                if (in_tree[j]) {
                    u[row_of[j]] += delta;
                    v[j] -= delta;
                } else {
                    slack[j] -= delta;
                }
            }
            col = next;
        } while (row_of[col] != -1);
        // flip the path: each column on it takes the row of the column before it
        while (col != m) {
            const int before = parent[col];
            row_of[col] = row_of[before];
            col = before;
        }
    }
    std::vector<int> col_of(n, -1);
    for (int j = 0; j < m; ++j)
        if (row_of[j] >= 0) col_of[row_of[j]] = j;
    return col_of;
}

}  // namespace

void predict(const Tracks& tracks, double frame, double joint_memory, double* gap, double* xy,
             unsigned char* ok) {
    for (int t = 0; t < tracks.count; ++t) {
        const double* joints = tracks.joints + t * kStateRow;
        const double* motion = tracks.motion + t * kMotionRow;
        gap[t] = frame - motion[2];
        const double move_x = motion[0] * gap[t], move_y = motion[1] * gap[t];
        for (int j = 0; j < kJoints; ++j) {
            xy[t * 2 * kJoints + j] = joints[j] + move_x;
            xy[t * 2 * kJoints + kJoints + j] = joints[kJoints + j] + move_y;
            ok[t * kJoints + j] = joints[2 * kJoints + j] <= joint_memory;
        }
    }
}

void boxes(const Poses& poses, double* out) {
    const Packed packed(poses);
    for (int i = 0; i < poses.count; ++i) {
        const Extent e(packed, i);
        std::copy(e.box, e.box + 4, out + 4 * i);
    }
}

void iou(const double* a, int na, const double* b, int nb, double* out) {
    for (int i = 0; i < na; ++i) {
        const double* p = a + 4 * i;
        const double area_a = (p[2] - p[0]) * (p[3] - p[1]);
        for (int k = 0; k < nb; ++k) {
            const double* q = b + 4 * k;
            out[i * nb + k] = iou_of(p, area_a, q, (q[2] - q[0]) * (q[3] - q[1]));
        }
    }
}

void pair_features(const Tracks& tracks, const Poses& dets, const PairParams& params, double* out) {
    const FrameContext context(tracks, dets, params);
    for (int t = 0; t < tracks.count; ++t)
        for (int d = 0; d < dets.count; ++d)
            features_of(context, t, d, out + (t * dets.count + d) * kFeatures);
}

void pair_logits(const Tracks& tracks, const Poses& dets, const PairParams& params,
                 const Model& model, double* out) {
    const FrameContext context(tracks, dets, params);
    double f[kFeatures];
    for (int t = 0; t < tracks.count; ++t) {
        for (int d = 0; d < dets.count; ++d) {
            features_of(context, t, d, f);
            double logit = 0.0;
            for (int k = 0; k < kFeatures; ++k) logit += f[k] * model.coef[k];
            logit += model.constant;
            out[t * dets.count + d] = std::min(std::max(logit, -model.clip), model.clip);
        }
    }
}

std::vector<std::pair<int, int>> assign(const double* logit, int rows, int cols, double gate) {
    // A pair at or under the gate costs 0, the same as no link, so a complete assignment
    // on these costs is an optimal partial matching once its zero-gain pairs are dropped.
    // (Giving gated pairs a huge cost instead makes the solver maximise the *number* of
    // links.) The solver assigns the shorter side, so the matrix is read transposed if needed.
    const bool flip = rows > cols;
    const int n = flip ? cols : rows, m = flip ? rows : cols;
    std::vector<double> cost(static_cast<std::size_t>(n) * m);
    for (int i = 0; i < rows; ++i) {
        for (int j = 0; j < cols; ++j) {
            const double gain = logit[i * cols + j] - gate;
            if (std::isnan(gain) || gain == kInf)
                throw std::invalid_argument("log-odds must not be NaN or +inf");
            cost[flip ? j * m + i : i * m + j] = gain > 0.0 ? -gain : 0.0;
        }
    }
    const std::vector<int> col_of = min_cost_columns(cost, n, m);
    std::vector<std::pair<int, int>> links;
    for (int a = 0; a < n; ++a) {
        const int i = flip ? col_of[a] : a, j = flip ? a : col_of[a];
        if (cost[a * m + col_of[a]] < 0.0) links.emplace_back(i, j);
    }
    std::sort(links.begin(), links.end());
    return links;
}

void update(Tracks& tracks, const int64_t* rows, const int64_t* cols, int links,
            const Poses& dets, double frame, double velocity_smoothing,
            double position_smoothing) {
    for (int k = 0; k < links; ++k) {
        const int i = static_cast<int>(cols[k]);
        double* joints = tracks.joints + rows[k] * kStateRow;
        double* motion = tracks.motion + rows[k] * kMotionRow;
        double* age = joints + 2 * kJoints;
        const double gap = frame - motion[2], hits = motion[3];
        const double move_x = motion[0] * gap, move_y = motion[1] * gap;
        // The body's displacement error, the residual averaged over the joints the track
        // and the detection share (rigid: averaging cancels most per-joint noise), 0 if none.
        double res_x[kJoints], res_y[kJoints], shift_x = 0.0, shift_y = 0.0;
        int shared = 0;
        for (int j = 0; j < kJoints; ++j) {
            res_x[j] = dets.x(i, j) - (joints[j] + move_x);
            res_y[j] = dets.y(i, j) - (joints[kJoints + j] + move_y);
            if (age[j] < kInf && dets.has(i, j)) {
                shift_x += res_x[j];
                shift_y += res_y[j];
                ++shared;
            }
        }
        // a track's first link takes all of it as its velocity, later ones smooth it in
        const double weight = hits == 1.0 ? 1.0 : velocity_smoothing;
        shift_x = shift_x / std::max(shared, 1) * weight;
        shift_y = shift_y / std::max(shared, 1) * weight;
        for (int j = 0; j < kJoints; ++j) {
            // joints seen now blend prediction and detection; unseen ones move with the body
            const double x = joints[j] + move_x, y = joints[kJoints + j] + move_y;
            if (dets.has(i, j)) {
                const double b = age[j] < kInf && hits > 1.0 ? position_smoothing : 1.0;
                joints[j] = x + b * res_x[j];
                joints[kJoints + j] = y + b * res_y[j];
                age[j] = 0.0;
            } else {
                joints[j] = x + shift_x;
                joints[kJoints + j] = y + shift_y;
                age[j] += gap;
            }
        }
        motion[0] += shift_x / gap;
        motion[1] += shift_y / gap;
        motion[2] = frame;
        motion[3] = hits + 1.0;
    }
}

}  // namespace tracking
}  // namespace posetf
