#include "grouping.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace posetf {

float MapView::sample(float x, float y, int c) const {
    // A NaN coordinate has no cell, and must never reach static_cast<int> (undefined
    // behaviour). +-inf are clamped to the border below, so every cast is of [0, size - 1].
    if (std::isnan(x) || std::isnan(y)) return 0.f;
    x = std::min(std::max(x, 0.f), static_cast<float>(width - 1));
    y = std::min(std::max(y, 0.f), static_cast<float>(height - 1));
    const int x0 = static_cast<int>(x), y0 = static_cast<int>(y);
    const int x1 = std::min(x0 + 1, width - 1), y1 = std::min(y0 + 1, height - 1);
    const float fx = x - x0, fy = y - y0;
    const float top = at(y0, x0, c) * (1.f - fx) + at(y0, x1, c) * fx;
    const float bottom = at(y1, x0, c) * (1.f - fx) + at(y1, x1, c) * fx;
    return top * (1.f - fy) + bottom * fy;
}

namespace {

[[noreturn]] void invalid(const std::string& what) { throw std::invalid_argument(what); }

std::string shape_of(const MapView& m) {
    return "[" + std::to_string(m.height) + ", " + std::to_string(m.width) + ", " +
           std::to_string(m.channels) + "]";
}

void check_maps(const MapView& m, const char* where) {
    if (m.height <= 0 || m.width <= 0 || m.channels <= 0 || m.data == nullptr)
        invalid(std::string(where) + ": maps must be [H, W, C] with H, W, C > 0, got " +
                shape_of(m));
}

// The second difference of the log heatmap must be at least this negative (per cell^2)
// for the parabola fit to be trusted. Being a difference of logs it is relative to the
// peak value, (left - 2 centre + right) / centre for a near-flat top, so the floor does
// not depend on the maps' scale. 1e-4 is a Gaussian of sigma 100 cells, yet far above
// float32 rounding of log (~1e-7 per term near 1); real peaks are well above it (>= 0.09
// at the default threshold on the peer network's maps).
constexpr float kMinLogCurvature = 1e-4f;

// Offset of the maximum of a parabola through log(left), log(centre), log(right):
// for a Gaussian peak this is the exact centre. Clamped to half a cell; 0 where the fit
// means nothing: a non-finite neighbour, a flat top (curvature ~0 relative to the peak,
// where the offset would be rounding noise divided by ~0), or no maximum at all.
float log_parabola_offset(float left, float centre, float right) {
    if (!std::isfinite(left) || !std::isfinite(centre) || !std::isfinite(right)) return 0.f;
    const float eps = 1e-6f;
    const float l = std::log(std::max(left, eps));
    const float c = std::log(std::max(centre, eps));
    const float r = std::log(std::max(right, eps));
    const float curvature = l - 2.f * c + r;
    // Written so that a NaN fails too: refine only a clearly curved maximum.
    if (!(curvature < -kMinLogCurvature)) return 0.f;
    const float offset = 0.5f * (l - r) / curvature;
    if (!std::isfinite(offset)) return 0.f;  // cannot happen with the floor; never pass one on
    return std::min(0.5f, std::max(-0.5f, offset));
}

bool is_local_max(const MapView& m, int y, int x, int c, float v) {
    for (int dy = -1; dy <= 1; ++dy) {
        const int yy = y + dy;
        if (yy < 0 || yy >= m.height) continue;
        for (int dx = -1; dx <= 1; ++dx) {
            const int xx = x + dx;
            if ((dx == 0 && dy == 0) || xx < 0 || xx >= m.width) continue;
            const float n = m.at(yy, xx, c);
            if (!std::isfinite(n)) continue;  // a NaN / inf cell is no value, beats nothing
            // Ties: the first cell in raster order wins, so a plateau gives one peak.
            if (n > v || (n == v && (dy < 0 || (dy == 0 && dx < 0)))) return false;
        }
    }
    return true;
}

struct Connection {
    float score;
    int32_t a, b;  // global peak indices
};

// PAF line integral between two peaks; returns false when the pair is not a limb.
bool score_connection(const Peak& pa, const Peak& pb, const MapView& m, const Limb& limb,
                      const GroupParams& p, float* score) {
    const float vx = pb.x - pa.x, vy = pb.y - pa.y;
    const float norm = std::sqrt(vx * vx + vy * vy);
    if (norm < 1e-3f) return false;
    const float ux = vx / norm, uy = vy / norm;
    const int n = std::max(p.num_samples, 2);
    float sum = 0.f;
    int inliers = 0;
    for (int s = 0; s < n; ++s) {
        const float t = static_cast<float>(s) / (n - 1);
        const float x = pa.x + t * vx, y = pa.y + t * vy;
        const float dot = m.sample(x, y, limb.channel_x) * ux + m.sample(x, y, limb.channel_y) * uy;
        if (!std::isfinite(dot)) continue;  // a NaN / inf PAF sample: 0, no support
        sum += dot;
        inliers += dot > p.paf_threshold;
    }
    // OpenPose's prior against limbs longer than half the image height.
    const float prior = std::min(0.5f * m.height / norm - 1.f, 0.f);
    const float mean = sum / n + prior;
    // !(mean > 0) also refuses a NaN; an overflowed (inf) mean is no score either.
    if (inliers < p.min_inlier_ratio * n || !(mean > 0.f) || !std::isfinite(mean)) return false;
    *score = mean;
    return true;
}

// Best non-conflicting connections of one limb: greedy by score, each peak used once.
std::vector<Connection> connect_limb(const std::vector<Peak>& peaks,
                                     const std::vector<int>& part_begin, const MapView& m,
                                     const Limb& limb, const GroupParams& p) {
    std::vector<Connection> candidates;
    const int a0 = part_begin[limb.part_a], a1 = part_begin[limb.part_a + 1];
    const int b0 = part_begin[limb.part_b], b1 = part_begin[limb.part_b + 1];
    for (int i = a0; i < a1; ++i)
        for (int j = b0; j < b1; ++j) {
            float s;
            if (score_connection(peaks[i], peaks[j], m, limb, p, &s)) candidates.push_back({s, i, j});
        }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Connection& x, const Connection& y) { return x.score > y.score; });
    std::vector<char> used(peaks.size(), 0);
    std::vector<Connection> chosen;
    const size_t max_connections = static_cast<size_t>(std::min(a1 - a0, b1 - b0));
    for (const Connection& c : candidates) {
        if (used[c.a] || used[c.b]) continue;
        used[c.a] = used[c.b] = 1;
        chosen.push_back(c);
        if (chosen.size() >= max_connections) break;
    }
    return chosen;
}

class Assembler {
public:
    Assembler(const std::vector<Peak>& peaks, int num_parts)
        : peaks_(peaks), num_parts_(num_parts), owner_(peaks.size(), -1) {}

    void add(const Connection& c, const Limb& limb) {
        const int pa = owner_[c.a], pb = owner_[c.b];
        if (pa < 0 && pb < 0) {
            const int id = static_cast<int>(people_.size());
            people_.push_back(Person{std::vector<int32_t>(num_parts_, -1), 0.f, 0});
            attach(id, limb.part_a, c.a);
            attach(id, limb.part_b, c.b);
            people_[id].score += c.score;
        } else if (pa >= 0 && pb >= 0) {
            if (pa == pb) {
                people_[pa].score += c.score;  // a redundant limb confirms a person
            } else if (disjoint(pa, pb)) {
                merge(pa, pb);
                people_[pa].score += c.score;
            }
        } else {
            const int id = pa >= 0 ? pa : pb;
            const int part = pa >= 0 ? limb.part_b : limb.part_a;
            const int peak = pa >= 0 ? c.b : c.a;
            if (people_[id].peak[part] < 0) {
                attach(id, part, peak);
                people_[id].score += c.score;
            }
        }
    }

    std::vector<Person> finish(const GroupParams& p) const {
        std::vector<Person> out;
        for (const Person& person : people_) {
            if (person.count == 0) continue;  // emptied by a merge
            if (person.count < p.min_parts) continue;
            if (person.score / person.count < p.min_mean_score) continue;
            out.push_back(person);
        }
        return out;
    }

private:
    void attach(int id, int part, int peak) {
        people_[id].peak[part] = peak;
        people_[id].score += peaks_[peak].score;
        people_[id].count += 1;
        owner_[peak] = id;
    }

    bool disjoint(int x, int y) const {
        for (int k = 0; k < num_parts_; ++k)
            if (people_[x].peak[k] >= 0 && people_[y].peak[k] >= 0) return false;
        return true;
    }

    void merge(int into, int from) {
        Person& dst = people_[into];
        Person& src = people_[from];
        for (int k = 0; k < num_parts_; ++k)
            if (src.peak[k] >= 0) {
                dst.peak[k] = src.peak[k];
                owner_[src.peak[k]] = into;
                src.peak[k] = -1;
            }
        dst.score += src.score;
        dst.count += src.count;
        src.score = 0.f;
        src.count = 0;
    }

    const std::vector<Peak>& peaks_;
    int num_parts_;
    std::vector<int> owner_;       // person index of each peak, -1 if free
    std::vector<Person> people_;
};

}  // namespace

std::vector<Peak> find_peaks(const MapView& m, int num_parts,
                             const std::vector<float>& thresholds, int max_peaks_per_part,
                             bool refine) {
    check_maps(m, "find_peaks");
    if (num_parts <= 0) invalid("find_peaks: num_parts must be > 0, got " + std::to_string(num_parts));
    if (num_parts > m.channels)
        invalid("find_peaks: num_parts " + std::to_string(num_parts) +
                " exceeds the map channels, maps are " + shape_of(m));
    if (thresholds.size() < static_cast<size_t>(num_parts))
        invalid("find_peaks: need a threshold for each of the " + std::to_string(num_parts) +
                " parts, got " + std::to_string(thresholds.size()));
    for (int c = 0; c < num_parts; ++c)
        if (std::isnan(thresholds[c]))
            invalid("find_peaks: threshold of part " + std::to_string(c) + " is NaN");
    if (max_peaks_per_part < 0)
        invalid("find_peaks: max_peaks_per_part must be >= 0 (0 = unlimited), got " +
                std::to_string(max_peaks_per_part));

    std::vector<Peak> out;
    std::vector<Peak> part_peaks;
    for (int c = 0; c < num_parts; ++c) {
        part_peaks.clear();
        const float threshold = thresholds[c];
        for (int y = 0; y < m.height; ++y)
            for (int x = 0; x < m.width; ++x) {
                const float v = m.at(y, x, c);
                // !(v > t), not v <= t: a NaN fails the test; +inf is no peak either.
                if (!(v > threshold) || !std::isfinite(v) || !is_local_max(m, y, x, c, v)) continue;
                float fx = static_cast<float>(x), fy = static_cast<float>(y);
                if (refine) {
                    if (x > 0 && x + 1 < m.width)
                        fx += log_parabola_offset(m.at(y, x - 1, c), v, m.at(y, x + 1, c));
                    if (y > 0 && y + 1 < m.height)
                        fy += log_parabola_offset(m.at(y - 1, x, c), v, m.at(y + 1, x, c));
                }
                part_peaks.push_back({fx, fy, v, c});
            }
        std::stable_sort(part_peaks.begin(), part_peaks.end(),
                         [](const Peak& a, const Peak& b) { return a.score > b.score; });
        if (max_peaks_per_part > 0 && static_cast<int>(part_peaks.size()) > max_peaks_per_part)
            part_peaks.resize(max_peaks_per_part);
        out.insert(out.end(), part_peaks.begin(), part_peaks.end());
    }
    return out;
}

std::vector<Person> group(const std::vector<Peak>& peaks, const MapView& maps,
                          const std::vector<Limb>& limbs, int num_parts,
                          const GroupParams& params) {
    check_maps(maps, "group");
    if (num_parts <= 0) invalid("group: num_parts must be > 0, got " + std::to_string(num_parts));
    if (params.num_samples <= 0)
        invalid("group: num_samples must be > 0, got " + std::to_string(params.num_samples));
    if (params.min_parts < 0)
        invalid("group: min_parts must be >= 0, got " + std::to_string(params.min_parts));
    if (std::isnan(params.paf_threshold) || std::isnan(params.min_inlier_ratio) ||
        std::isnan(params.min_mean_score))
        invalid("group: paf_threshold, min_inlier_ratio and min_mean_score must not be NaN");
    int last_part = 0;
    for (size_t i = 0; i < peaks.size(); ++i) {
        const Peak& pk = peaks[i];
        if (!std::isfinite(pk.x) || !std::isfinite(pk.y) || !std::isfinite(pk.score))
            invalid("group: peak " + std::to_string(i) + " has a non-finite x, y or score");
        if (pk.part < 0 || pk.part >= num_parts)
            invalid("group: peak " + std::to_string(i) + " has part " + std::to_string(pk.part) +
                    ", outside [0, " + std::to_string(num_parts) + ")");
        if (pk.part < last_part)
            invalid("group: peaks must be grouped by part (peak " + std::to_string(i) +
                    " has part " + std::to_string(pk.part) + " after part " +
                    std::to_string(last_part) + ")");
        last_part = pk.part;
    }
    for (size_t l = 0; l < limbs.size(); ++l) {
        const Limb& limb = limbs[l];
        const auto name = [&] {
            return "group: limb " + std::to_string(l) + " (part " + std::to_string(limb.part_a) +
                   " -> part " + std::to_string(limb.part_b) + ")";
        };
        if (limb.part_a < 0 || limb.part_a >= num_parts || limb.part_b < 0 || limb.part_b >= num_parts)
            invalid(name() + " names a part outside [0, " + std::to_string(num_parts) + ")");
        if (limb.part_a == limb.part_b) invalid(name() + " is a self-limb: part_a == part_b");
        if (limb.channel_x < 0 || limb.channel_x >= maps.channels || limb.channel_y < 0 ||
            limb.channel_y >= maps.channels)
            invalid(name() + " has PAF channels (" + std::to_string(limb.channel_x) + ", " +
                    std::to_string(limb.channel_y) + ") outside the maps, which are " +
                    shape_of(maps));
    }

    // Peaks arrive grouped by part; part_begin[k]..part_begin[k+1] are part k's.
    std::vector<int> part_begin(num_parts + 1, 0);
    for (const Peak& pk : peaks) part_begin[pk.part + 1] += 1;
    for (int k = 0; k < num_parts; ++k) part_begin[k + 1] += part_begin[k];

    Assembler assembler(peaks, num_parts);
    for (const Limb& limb : limbs)
        for (const Connection& c : connect_limb(peaks, part_begin, maps, limb, params))
            assembler.add(c, limb);
    return assembler.finish(params);
}

}  // namespace posetf
