"""Training: experiment `settings`, the `trainer` loop (checkpoints, resume, periodic COCO
evaluation), its `losses`, learning-rate `schedules`, `distribution` strategies and run
log (`runlog`), and distillation from a frozen teacher (`distill`).
"""
