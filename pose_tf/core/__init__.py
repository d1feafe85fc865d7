"""The conventions everything else shares: errors, keypoints (COCO-17, network layouts,
dataset joint sets), the `Pose` structure, the one YAML/config loader and the one pixel
convention (geometry). Imports nothing from the rest of the package.
"""
