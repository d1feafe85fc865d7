"""The video path: reading, network, temporal aggregation, decoding, tracking, smoothing,
drawing and encoding as stages, run in one thread or pipelined (pipeline.py, stages.py)."""
