"""The multi-head attribute model (Keras 3): one shared backbone, an L2-normalized projection,
one softmax head per attribute.

Input: float32 RGB in [0, 255], shape (N, S, S, 3); rescaling happens inside the model.
Outputs: a dict {"embedding": (N, D) unit vectors, "<attr>": (N, n_values) softmax}. The heads
read the projection (scaled, as in cosine-softmax classifiers), so nearest neighbours in the
index and the predicted attributes come from the same representation. The embedding is the
projection itself, or (:func:`blended`, the registered model) the projection with some heads'
probabilities appended: each part unit-length and weighted, the whole renormalized, so that
the cosine of two embeddings is a weighted sum of their projections' cosine and their
predicted attributes' agreement.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

if TYPE_CHECKING:
    import keras

BACKBONES = ("efficientnet_lite0", "compact", "mobilenet_v3_small", "efficientnet_b0")
PRETRAINED = ("efficientnet_lite0",)  # ImageNet weights from a pinned package (pipeline/backbones)
DEFAULT_BACKBONE = "efficientnet_lite0"
DEFAULT_EMBEDDING_DIM = 128
THUMB = 8  # side of the color thumbnail fed beside the CNN features
COLOR_BINS = 32  # channels of the learned color histogram
HIST_LEVELS = 6  # levels per RGB channel of the fixed foreground color histogram (6³ colors)
HIST_SHARPNESS = 400.0  # inverse temperature of a pixel's soft assignment to those colors
COSINE_SCALE = 16.0  # logits = scale * <unit embedding, W>: lets unit vectors reach confident softmax
Blend = dict[str, float]  # attribute → weight of its predicted probabilities in the embedding


def _compact_backbone(image_size: int, widths: tuple[int, ...] = (24, 48, 96, 192, 256)) -> keras.Model:
    """A small VGG-style CNN (conv-BN-ReLU, max-pool downsampling); fast on 2 CPU cores."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3), name="pixels")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    for i, width in enumerate(widths):
        stride = 2 if i == 0 else 1
        x = layers.Conv2D(width, 3, strides=stride, padding="same", use_bias=False, name=f"conv{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
        x = layers.ReLU(name=f"relu{i}")(x)
        if 0 < i < len(widths) - 1:
            x = layers.MaxPooling2D(name=f"pool{i}")(x)
    return keras.Model(inputs, x, name="backbone")


def build_backbone(name: str, image_size: int) -> keras.Model:
    """A feature extractor taking [0, 255] RGB and returning a spatial feature map."""
    import keras

    if name == "compact":
        return _compact_backbone(image_size)
    if name == "efficientnet_lite0":
        from pipeline.backbones.efficientnet_lite import pretrained

        return pretrained().model(image_size)
    shape = (image_size, image_size, 3)
    if name == "mobilenet_v3_small":
        net = keras.applications.MobileNetV3Small(
            input_shape=shape, include_top=False, weights=None, include_preprocessing=True
        )
    elif name == "efficientnet_b0":
        net = keras.applications.EfficientNetB0(input_shape=shape, include_top=False, weights=None)
    else:
        raise ValueError(f"unknown backbone {name!r}; choose one of {BACKBONES}")
    return keras.Model(net.input, net.output, name="backbone")


def resolve_weights(weights: str, cache_dir: Path | None = None) -> Path:
    """A local path for backbone weights given as a path or a URI of any lake scheme."""
    from pipeline.lake import Lake, LakeError

    if not urlparse(weights).scheme:
        local: Path | None = Path(weights).expanduser()
    else:
        folder, _, name = weights.rpartition("/")
        try:
            store = Lake(folder)
        except LakeError as exc:
            raise ValueError(f"unsupported weights URI {weights!r}: {exc}") from None
        local = store.local_path(name)
        if local is None:
            dest = Path(cache_dir or tempfile.mkdtemp(prefix="vitrine-weights-")) / "weights" / name
            if not dest.exists():
                store.get_file(name, dest)
            return dest
    if local is None or not local.is_file():
        raise FileNotFoundError(f"backbone weights not found: {weights}")
    return local


def build_model(
    attributes: dict[str, list[str]],
    image_size: int,
    *,
    backbone: str = DEFAULT_BACKBONE,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    weights: str | None = None,
    dropout: float = 0.2,
    seed: int = 0,
    cache_dir: Path | None = None,
) -> keras.Model:
    """Build the multi-head model; ``weights`` (path/URI of a ``.weights.h5`` saved from a
    backbone of the same kind and size) initialises the backbone, otherwise it is random
    with a deterministic ``seed``."""
    import keras
    from keras import layers

    if not attributes:
        raise ValueError("a model needs at least one attribute head")
    for name, values in attributes.items():
        if name == "embedding" or len(values) < 2:
            raise ValueError(f"attribute {name!r} needs a name other than 'embedding' and ≥ 2 values")
    keras.utils.set_random_seed(seed)
    if backbone in PRETRAINED:
        from pipeline.backbones.efficientnet_lite import pretrained

        if weights:
            raise ValueError(f"backbone {backbone!r} brings its own ImageNet weights; `weights` is for the others")
        net = pretrained()
        heads = build_heads(attributes, embedding_dim=embedding_dim, dropout=dropout, seed=seed)
        return assemble(net, heads, image_size)
    base = build_backbone(backbone, image_size)
    if weights:
        base.load_weights(str(resolve_weights(weights, cache_dir)))
    inputs = keras.Input((image_size, image_size, 3), dtype="float32", name="image")
    x = base(inputs)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    # Two cheap color branches beside the CNN features (color is a label, and a CNN trained
    # from scratch is slow to learn it): a learned soft color histogram (per-pixel 1×1 convs,
    # averaged over the image) and a coarse THUMB×THUMB thumbnail (color and silhouette
    # against the white background).
    pixels = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="color_rescale")(inputs)
    x = layers.Concatenate(name="features")([x, *_color_branches(pixels, COLOR_BINS, image_size // THUMB)])
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    return keras.Model(inputs, _embedding_and_heads(x, attributes, embedding_dim), name="vitrine_attributes")


def _color_branches(pixels: keras.KerasTensor, bins: int, thumb_pool: int) -> list[keras.KerasTensor]:
    """From [-1, 1] pixels: a learned soft color histogram (two per-pixel 1×1 convolutions,
    averaged over the image) and a thumbnail average-pooled by ``thumb_pool``, flattened."""
    from keras import layers

    hist = layers.Conv2D(bins, 1, activation="relu", name="color_conv1")(pixels)
    hist = layers.Conv2D(bins, 1, activation="relu", name="color_conv2")(hist)
    hist = layers.GlobalAveragePooling2D(name="color_histogram")(hist)
    thumb = layers.AveragePooling2D(thumb_pool, name="thumbnail")(pixels)
    return [hist, layers.Flatten(name="thumbnail_flat")(thumb)]


def _embedding_and_heads(
    x: keras.KerasTensor, attributes: dict[str, list[str]], embedding_dim: int
) -> dict[str, keras.KerasTensor]:
    """Features → {"embedding": unit vector, "<attr>": softmax over the scaled projection}."""
    from keras import layers

    x = layers.Dense(embedding_dim, name="embedding_dense")(x)
    projection = layers.UnitNormalization(name="projection", dtype="float32")(x)
    scaled = layers.Rescaling(COSINE_SCALE, name="cosine_scale", dtype="float32")(projection)
    outputs = {"embedding": projection}
    for name, values in attributes.items():
        outputs[name] = layers.Dense(len(values), activation="softmax", name=name, dtype="float32")(scaled)
    return outputs


def blended(model: keras.Model, blend: Blend) -> keras.Model:
    """The same model (its layers and weights shared) whose embedding appends the ``blend``
    heads' probabilities, each unit-length times its weight, to the projection, renormalized."""
    import keras
    from keras import layers

    if not blend:
        return model
    outputs = dict(model.output)
    missing = sorted(set(blend) - set(outputs))
    if missing:
        raise ValueError(f"blend names heads the model lacks: {missing}")
    parts = [outputs["embedding"]] + [
        layers.Rescaling(weight, name=f"{name}_blend", dtype="float32")(
            layers.UnitNormalization(name=f"{name}_unit", dtype="float32")(outputs[name])
        )
        for name, weight in blend.items()
    ]
    joined = layers.Concatenate(name="blended", dtype="float32")(parts)
    outputs["embedding"] = layers.UnitNormalization(name="embedding", dtype="float32")(joined)
    return keras.Model(model.input, outputs, name=model.name)  # the same input structure: one image tensor


def embedding_dim_of(model: keras.Model) -> int:
    """The length of the model's ``embedding`` output (its index's dimension)."""
    return int(model.output["embedding"].shape[-1])


def foreground_histogram(pixels: keras.KerasTensor) -> keras.KerasTensor:
    """From [-1, 1] pixels: a fixed (untrained) soft histogram over a HIST_LEVELS³ RGB grid,
    without its white bin (the studio background) and L2-normalized, so it describes the
    product's colors whatever share of the photo the product covers.

    A pixel's share of each grid color is softmax(S·(2⟨p, c⟩ − |c|²)) = softmax(−S|p − c|²):
    a frozen 1×1 convolution and a softmax, standard layers that save and load as any other."""
    import numpy as np
    from keras import layers

    levels = np.linspace(0.0, 1.0, HIST_LEVELS, dtype=np.float32)
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    white = len(grid) - 1
    rgb = layers.Rescaling(0.5, offset=0.5, name="fg_rgb", dtype="float32")(pixels)
    assign = layers.Conv2D(len(grid), 1, trainable=False, name="fg_assign", dtype="float32")
    shares = layers.Softmax(axis=-1, name="fg_shares", dtype="float32")(assign(rgb))
    assign.set_weights([(2 * HIST_SHARPNESS * grid.T)[None, None], -HIST_SHARPNESS * (grid**2).sum(1)])
    hist = layers.GlobalAveragePooling2D(name="fg_mean", dtype="float32")(shares)
    drop_white = layers.Dense(white, use_bias=False, trainable=False, name="fg_colors", dtype="float32")
    colors = drop_white(hist)
    drop_white.set_weights([np.eye(len(grid), white, dtype=np.float32)])
    return layers.UnitNormalization(name="fg_histogram", dtype="float32")(colors)


SMALL = 32  # side of the downsampled image the pretrained model's color branch reads


def small_image(pixels: keras.KerasTensor, image_size: int) -> keras.KerasTensor:
    """[0, 255] pixels average-pooled to SMALL×SMALL, in [-1, 1] (input of the color branch)."""
    from keras import layers

    if image_size % SMALL:
        raise ValueError(f"a pretrained backbone needs an image size divisible by {SMALL}, got {image_size}")
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0, name="small_rescale")(pixels)
    return layers.AveragePooling2D(image_size // SMALL, name="small_image")(x)


def build_heads(
    attributes: dict[str, list[str]],
    *,
    embedding_dim: int = DEFAULT_EMBEDDING_DIM,
    hidden: int = 512,
    dropout: float = 0.2,
    seed: int = 0,
) -> keras.Model:
    """(pooled backbone features, pooled low-level features, SMALL×SMALL image) →
    {"embedding": unit vector, "<attr>": softmax}.

    The heads of a pretrained backbone: beside the ImageNet features (trained to ignore
    color) the pooled activations of earlier stages, and three color descriptions read from
    the small image: a learned soft color histogram (per-pixel 1×1 convolutions, averaged), a
    THUMB×THUMB thumbnail and the fixed foreground histogram. Trained on its own over cached
    features (phase 1), then inside the whole model."""
    import keras
    from keras import layers

    from pipeline.backbones.efficientnet_lite import FEATURES, TAP_FEATURES

    pooled = keras.Input((FEATURES,), name="pooled")
    low = keras.Input((TAP_FEATURES,), name="low")
    small = keras.Input((SMALL, SMALL, 3), name="small")
    hist, thumb = _color_branches(small, COLOR_BINS * 2, SMALL // THUMB)
    low_norm = layers.BatchNormalization(name="low_norm")(low)  # stage activations differ in scale
    fg_norm = layers.BatchNormalization(name="fg_norm")(foreground_histogram(small))
    x = layers.Concatenate(name="features")([pooled, low_norm, hist, thumb, fg_norm])
    x = layers.Dropout(dropout, seed=seed, name="dropout")(x)
    x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    x = layers.Dropout(dropout, seed=seed + 1, name="hidden_dropout")(x)
    return keras.Model([pooled, low, small], _embedding_and_heads(x, attributes, embedding_dim), name="heads")


def assemble(net: Any, heads: keras.Model, image_size: int) -> keras.Model:
    """The servable model: [0, 255] pixels → (pooled backbone features, pooled low-level
    features, small image) → heads."""
    import keras
    from keras import layers

    inputs = keras.Input((image_size, image_size, 3), dtype="float32", name="image")
    top, low = net.tapped_model(image_size)(inputs)
    pooled = layers.GlobalAveragePooling2D(name="pool")(top)
    return keras.Model(inputs, heads([pooled, low, small_image(inputs, image_size)]), name="vitrine_attributes")


def backbone_of(model: keras.Model) -> keras.Model:
    """The shared backbone sub-model (for freezing, fine-tuning and saving its weights)."""
    return model.get_layer("backbone")
