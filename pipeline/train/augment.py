"""Training-time augmentation as Keras preprocessing layers (run inside the model, so on the
accelerator): geometry, contrast and brightness only — never hue, since color is a label."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

WHITE = 255.0  # catalog photos sit on white: fill exposed borders with it


def augmentation(seed: int = 0, strength: float = 1.0) -> keras.Sequential:
    """Random flip, small rotation/translation/zoom, contrast and brightness on [0,255] RGB."""
    import keras
    from keras import layers

    s = strength
    fill = {"fill_mode": "constant", "fill_value": WHITE}
    return keras.Sequential(
        [
            layers.RandomFlip("horizontal", seed=seed),
            layers.RandomRotation(0.03 * s, seed=seed + 1, **fill),
            layers.RandomTranslation(0.06 * s, 0.06 * s, seed=seed + 2, **fill),
            layers.RandomZoom((-0.12 * s, 0.08 * s), seed=seed + 3, **fill),
            layers.RandomContrast(0.1 * s, value_range=(0, 255), seed=seed + 4),
            layers.RandomBrightness(0.04 * s, value_range=(0, 255), seed=seed + 5),
        ],
        name="augment",
    )
