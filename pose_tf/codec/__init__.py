"""What the network's maps mean: the encoder of training targets (`targets`: heatmaps,
PAFs, masks) and the decoder helpers beside it (`completion`: placing joints the network
missed). Peaks and grouping, the decoder's compiled core, are pose_tf.grouping.
"""
