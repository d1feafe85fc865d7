"""Plain NumPy implementation of the compiled peaks + grouping (pose_tf/grouping/cpp).

Same algorithm, written for clarity, not speed; the tests pin the C++ core to it.
Non-finite map values: a NaN / inf cell is never a peak and never beats a neighbour, an axis
with a non-finite neighbour is not refined, and a non-finite PAF sample gives no support.
"""
import numpy as np


def find_peaks_ref(maps, num_parts, thresholds, max_peaks=0, refine=True):
    h, w, _ = maps.shape
    rows = []
    for c in range(num_parts):
        v = maps[..., c]
        padded = np.pad(v, 1, constant_values=-np.inf)
        beaten = np.zeros_like(v, bool)
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                if dy == dx == 0:
                    continue
                n = padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                earlier = dy < 0 or (dy == 0 and dx < 0)   # ties: first in raster order wins
                beaten |= np.isfinite(n) & ((n > v) | ((n == v) & earlier))
        ys, xs = np.nonzero((v > thresholds[c]) & np.isfinite(v) & ~beaten)   # raster order
        found = []
        for y, x in zip(ys, xs):
            fx, fy = float(x), float(y)
            if refine:
                if 0 < x < w - 1:
                    fx += _offset(v[y, x - 1], v[y, x], v[y, x + 1])
                if 0 < y < h - 1:
                    fy += _offset(v[y - 1, x], v[y, x], v[y + 1, x])
            found.append((fx, fy, v[y, x], c))
        found.sort(key=lambda p: -p[2])   # stable: raster order among equal scores
        if max_peaks:
            found = found[:max_peaks]
        rows.extend(found)
    return np.asarray(rows, np.float32).reshape(-1, 4)


MIN_LOG_CURVATURE = np.float32(1e-4)   # flatter tops are not refined (see grouping.cpp)


def _offset(left, centre, right):
    if not np.isfinite([left, centre, right]).all():
        return 0.0
    eps = np.float32(1e-6)
    l, c, r = (np.log(max(np.float32(t), eps)) for t in (left, centre, right))
    curvature = l - 2 * c + r
    if not curvature < -MIN_LOG_CURVATURE:
        return 0.0
    return float(np.clip(0.5 * (l - r) / curvature, -0.5, 0.5))


def bilinear(m, x, y, c):
    h, w = m.shape[:2]
    x = min(max(x, 0.0), w - 1.0)
    y = min(max(y, 0.0), h - 1.0)
    x0, y0 = int(x), int(y)
    x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
    fx, fy = x - x0, y - y0
    top = m[y0, x0, c] * (1 - fx) + m[y0, x1, c] * fx
    bottom = m[y1, x0, c] * (1 - fx) + m[y1, x1, c] * fx
    return top * (1 - fy) + bottom * fy


def connection_score(pa, pb, maps, cx, cy, p):
    v = np.array([pb[0] - pa[0], pb[1] - pa[1]])
    norm = np.hypot(*v)
    if norm < 1e-3:
        return None
    u = v / norm
    n = max(p["num_samples"], 2)
    dots = []
    with np.errstate(invalid="ignore", over="ignore"):   # NaN / inf samples: dropped below
        for s in range(n):
            t = s / (n - 1)
            x, y = pa[0] + t * v[0], pa[1] + t * v[1]
            dots.append(bilinear(maps, x, y, cx) * u[0] + bilinear(maps, x, y, cy) * u[1])
    dots = np.asarray(dots)
    dots = dots[np.isfinite(dots)]   # a non-finite sample adds 0 and is no inlier
    prior = min(0.5 * maps.shape[0] / norm - 1.0, 0.0)
    mean = dots.sum() / n + prior
    if (dots > p["paf_threshold"]).sum() < p["min_inlier_ratio"] * n or not 0 < mean < np.inf:
        return None
    return mean


def group_ref(peaks, maps, limbs, num_parts, **params):
    p = dict(num_samples=10, paf_threshold=0.05, min_inlier_ratio=0.8, min_parts=3,
             min_mean_score=0.2)
    p.update(params)
    by_part = [np.flatnonzero(peaks[:, 3] == k) for k in range(num_parts)]
    owner = -np.ones(len(peaks), int)
    people = []   # dicts: peak (list per part), score, count

    def attach(i, part, peak):
        people[i]["peak"][part] = peak
        people[i]["score"] += peaks[peak, 2]
        people[i]["count"] += 1
        owner[peak] = i

    for a, b, cx, cy in limbs:
        cands = []
        for i in by_part[a]:
            for j in by_part[b]:
                s = connection_score(peaks[i], peaks[j], maps, cx, cy, p)
                if s is not None:
                    cands.append((s, i, j))
        cands.sort(key=lambda t: -t[0])
        used, chosen = set(), []
        for s, i, j in cands:
            if i in used or j in used:
                continue
            used |= {i, j}
            chosen.append((s, i, j))
            if len(chosen) >= min(len(by_part[a]), len(by_part[b])):
                break
        for s, i, j in chosen:
            oa, ob = owner[i], owner[j]
            if oa < 0 and ob < 0:
                people.append({"peak": [-1] * num_parts, "score": 0.0, "count": 0})
                attach(len(people) - 1, a, i)
                attach(len(people) - 1, b, j)
                people[-1]["score"] += s
            elif oa >= 0 and ob >= 0:
                if oa == ob:
                    people[oa]["score"] += s
                elif all(x < 0 or y < 0 for x, y in zip(people[oa]["peak"], people[ob]["peak"])):
                    dst, src = people[oa], people[ob]
                    for k in range(num_parts):
                        if src["peak"][k] >= 0:
                            dst["peak"][k] = src["peak"][k]
                            owner[src["peak"][k]] = oa
                            src["peak"][k] = -1
                    dst["score"] += src["score"] + s
                    dst["count"] += src["count"]
                    src["score"], src["count"] = 0.0, 0
            else:
                i_person = oa if oa >= 0 else ob
                part, peak = (b, j) if oa >= 0 else (a, i)
                if people[i_person]["peak"][part] < 0:
                    attach(i_person, part, peak)
                    people[i_person]["score"] += s
    kept = [q for q in people if q["count"] >= p["min_parts"] and q["count"] > 0
            and q["score"] / q["count"] >= p["min_mean_score"]]
    return (np.asarray([q["peak"] for q in kept], np.int32).reshape(-1, num_parts),
            np.asarray([q["score"] for q in kept], np.float32))
