"""One module per `pose-tf` verb; see `pose_tf/cli.py` for the contract."""
