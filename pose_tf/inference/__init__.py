"""Inference: the `estimator` (image -> letterbox -> network -> peaks -> grouping -> poses),
the network `runtimes` behind one interface (.keras, frozen .pb, exported artefacts), and
`artefact`, the description an export writes and the runtimes read.
"""
