"""Multi-person pose tracking: `tracker` (the online pairwise tracker), `fitting` (its
weights from annotated tracks), `simulator` (the detector noise the fitting and the
benchmarks run on).
"""
