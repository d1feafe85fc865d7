// Peak finding and part-affinity-field grouping: the compiled core of pose-tf.
//
// Pure functions: arrays in, results out, no global state, no Python. The Cython
// wrapper (_grouping.pyx) calls them with the GIL released, so several threads can
// post-process frames at once.
//
// Maps are the network's raw output at its own (low) resolution, [H, W, C] float32,
// channel-last and contiguous. Heatmap and PAF channels are addressed by index into the
// same tensor, so no slice or copy is needed.
//
// Bad arguments (non-positive counts or map sizes, part or channel indices out of range,
// a limb joining a part to itself, peaks not grouped by part, ...) throw
// std::invalid_argument naming the offending value; the wrapper turns it into ValueError.
// Non-finite map values are never peaks and never support a limb; see each function.
#pragma once

#include <cstdint>
#include <vector>

namespace posetf {

struct Peak {
    float x, y;     // sub-pixel position in map cells (cell centres at integers)
    float score;    // heatmap value at the peak
    int32_t part;   // part (heatmap channel) index
};

struct MapView {
    const float* data;
    int height, width, channels;
    float at(int y, int x, int c) const { return data[(static_cast<int64_t>(y) * width + x) * channels + c]; }
    // Bilinear sample of channel c at (x, y) in cell units, clamped to the map; 0 for a
    // NaN coordinate (which has no cell).
    float sample(float x, float y, int c) const;
};

// Local maxima (3x3) of channels [0, num_parts) above thresholds[part], refined to
// sub-pixel by fitting a parabola to the log of the heatmap (exact for a Gaussian peak).
// Peaks are returned grouped by part, strongest first within a part; at most
// max_peaks_per_part per part (0 = unlimited).
// A non-finite cell (NaN, +-inf) is never a peak and never beats a neighbour; an axis whose
// neighbour is non-finite, or whose top is flat, is not refined (offset 0).
// Throws std::invalid_argument unless 0 < num_parts <= maps.channels, H, W > 0,
// thresholds.size() >= num_parts (none NaN) and max_peaks_per_part >= 0.
std::vector<Peak> find_peaks(const MapView& maps, int num_parts,
                             const std::vector<float>& thresholds, int max_peaks_per_part,
                             bool refine);

struct GroupParams {
    int num_samples = 10;          // points sampled along a candidate limb
    float paf_threshold = 0.05f;   // a sample counts as inlier when PAF . limb > this
    float min_inlier_ratio = 0.8f; // share of inlier samples a connection needs
    int min_parts = 3;             // people with fewer parts are dropped
    float min_mean_score = 0.2f;   // ...and those whose score per part is below this
};

struct Limb {
    int32_t part_a, part_b;   // part indices
    int32_t channel_x, channel_y;   // absolute PAF channel indices in the map tensor
};

struct Person {
    std::vector<int32_t> peak;  // peak index per part, -1 where missing
    float score = 0.f;          // sum of peak scores and connection scores
    int count = 0;              // number of parts found
};

// Score every candidate connection of every limb by the PAF line integral, keep the best
// non-conflicting connections per limb, and assemble them into people greedily in limb
// order, merging partial people that a (redundant) limb joins.
// A non-finite PAF sample gives no support (adds 0, is no inlier), so every connection and
// person score is finite.
// Throws std::invalid_argument for non-positive num_parts / num_samples / map sizes, a
// negative min_parts, NaN thresholds, peaks with non-finite values, parts outside
// [0, num_parts) or not grouped by part, and limbs whose parts are out of range or equal
// (a self-limb) or whose PAF channels are outside [0, maps.channels).
std::vector<Person> group(const std::vector<Peak>& peaks, const MapView& maps,
                          const std::vector<Limb>& limbs, int num_parts,
                          const GroupParams& params);

}  // namespace posetf
