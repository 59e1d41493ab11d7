"""Training losses and metrics: masked, class-weighted cross-entropy per attribute head, its
accuracy, and the supervised contrastive loss that shapes the similarity embedding.

Every loss ignores label -1 (an image without a label for one head still trains the others).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

SIMILARITY_TEMPERATURE = 0.1  # of the contrastive softmax over cosine similarities (SupCon's default)


def class_weights(labels: np.ndarray, n_classes: int, power: float) -> np.ndarray:
    """Per-class loss weights ∝ frequency^-power, normalized to mean 1 over labelled samples."""
    counts = np.bincount(labels[labels >= 0], minlength=n_classes).astype(np.float64)
    weights = np.where(counts > 0, (counts.sum() / np.maximum(counts, 1)) ** power, 0.0)
    labelled = counts.sum()
    if labelled:
        weights /= (weights * counts).sum() / labelled
    return weights.astype(np.float32)


def masked_loss(weights: np.ndarray, label_smoothing: float = 0.0) -> keras.losses.Loss:
    """Sparse cross-entropy that ignores label -1, weighted per class, averaged over labelled,
    with ``label_smoothing`` of the target mass spread uniformly over the classes."""
    import keras
    from keras import ops

    class MaskedSparseCrossEntropy(keras.losses.Loss):
        def __init__(self) -> None:
            super().__init__(name="masked_sparse_ce", reduction="sum")
            self.class_weights = ops.convert_to_tensor(weights, "float32")

        def call(self, y_true, y_pred):
            y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            mask = ops.cast(y >= 0, "float32")
            safe = ops.maximum(y, 0)
            probs = ops.cast(y_pred, "float32")
            ce = keras.losses.sparse_categorical_crossentropy(safe, probs)
            if label_smoothing:
                uniform = -ops.mean(ops.log(ops.clip(probs, 1e-7, 1.0)), axis=-1)
                ce = (1.0 - label_smoothing) * ce + label_smoothing * uniform
            w = ops.take(self.class_weights, safe) * mask
            return ce * w / ops.maximum(ops.sum(mask), 1.0)

    return MaskedSparseCrossEntropy()


def masked_accuracy() -> keras.metrics.Metric:
    """Accuracy over labelled samples only."""
    import keras
    from keras import ops

    class MaskedAccuracy(keras.metrics.Metric):
        def __init__(self) -> None:
            super().__init__(name="acc")
            self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
            self.total = self.add_variable(shape=(), initializer="zeros", name="total")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            mask = y >= 0
            hit = ops.logical_and(mask, ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), y))
            self.correct.assign_add(ops.sum(ops.cast(hit, "float32")))
            self.total.assign_add(ops.sum(ops.cast(mask, "float32")))

        def result(self):
            return self.correct / ops.maximum(self.total, 1.0)

        def reset_state(self):
            self.correct.assign(0.0)
            self.total.assign(0.0)

    return MaskedAccuracy()


def similarity_labels(labels: Mapping[str, np.ndarray], sizes: Mapping[str, int]) -> np.ndarray:
    """Per example, one id for its values of the attributes in ``sizes`` (attribute → number
    of values), -1 where any of them is unlabelled: two examples are similar when their ids
    are equal."""
    if not sizes:
        raise ValueError("similarity needs at least one attribute")
    joint = np.zeros(len(labels[next(iter(sizes))]), np.int64)
    missing = np.zeros(len(joint), bool)
    for attr, size in sizes.items():
        joint = joint * size + np.maximum(labels[attr], 0)
        missing |= labels[attr] < 0
    return np.where(missing, -1, joint).astype(np.int32)


def with_similarity(labels: dict[str, np.ndarray], similar: Mapping[str, int] | None) -> dict[str, np.ndarray]:
    """The labels, plus ``embedding``: their :func:`similarity_labels` when ``similar`` is set."""
    return {**labels, "embedding": similarity_labels(labels, similar)} if similar else labels


def similarity_loss(temperature: float = SIMILARITY_TEMPERATURE) -> keras.losses.Loss:
    """Supervised contrastive loss (Khosla et al., 2020) on unit embeddings: for each labelled
    example with a similar one in the batch, the mean over those of
    -log softmax(cos / temperature) against every other example of the batch; averaged over
    such anchors. y_true: :func:`similarity_labels`."""
    import keras
    from keras import ops

    class SupervisedContrastive(keras.losses.Loss):
        def __init__(self) -> None:
            super().__init__(name="supervised_contrastive", reduction="sum")

        def call(self, y_true, y_pred):
            y = ops.cast(ops.reshape(y_true, (-1,)), "int32")
            z = ops.cast(y_pred, "float32")
            itself = ops.eye(ops.shape(z)[0], dtype="bool")
            sims = ops.where(itself, -1e9, ops.matmul(z, ops.transpose(z)) / temperature)
            log_prob = sims - ops.logsumexp(sims, axis=1, keepdims=True)
            labelled = y >= 0
            similar = ops.logical_and(ops.equal(y[:, None], y[None, :]), ops.logical_not(itself))
            similar = ops.cast(ops.logical_and(similar, labelled[:, None]), "float32")
            count = ops.sum(similar, axis=1)
            per_anchor = -ops.sum(similar * log_prob, axis=1) / ops.maximum(count, 1.0)
            anchors = ops.cast(count > 0, "float32")
            return per_anchor * anchors / ops.maximum(ops.sum(anchors), 1.0)

    return SupervisedContrastive()
