"""Training the attribute models: training set from the lake, splits, tf.data, augmentation,
two-phase training, evaluation, reports and the promotion gate."""
