"""Training data: dataset readers (`sources`), the TFRecord schema (`records`), the sharded
converter (`convert`) and its offline `variants`, fusion `recipes`, and the tf.data stream
(`pipeline`: decode, `augment`, targets; optionally served by tf.data `service` workers).
"""
