"""Every option of a retrain, described once: the retrain DAG's Params form and the
``vitrine train`` flags are both generated from these dataclasses (no numpy, no TensorFlow:
the DAG file imports this at parse time).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from pipeline.config import ConfigError
from pipeline.model import BACKBONES, DEFAULT_BACKBONE

DEFAULT_LOSS_WEIGHTS = {"color": 2.5}
DEFAULT_SIMILARITY_ATTRIBUTES = ["category", "color"]  # the neighbours visual search should return
MIN_HEAD_STEPS = 32  # steps per phase 1 epoch on cached features, at least (train.heads_batch_size)
# Absolute floors on test accuracy below which a candidate is never promoted (README, "Promotion gate")
DEFAULT_ACCURACY_FLOORS = {"category": 0.6, "color": 0.5, "pattern": 0.5}


def option(default: Any, help: str, **schema: Any) -> Any:
    """A dataclass field with its description and JSON schema (for Airflow's Param)."""
    meta = {"help": help, "schema": schema}
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TrainConfig:
    """Everything a training run can be told."""

    attributes: list[str] | None = option(
        None, "attribute heads to train (default: all in the taxonomy)", type=["null", "array"]
    )
    image_size: int = option(
        160,
        "model input size in pixels (a multiple of 32 for a pretrained backbone)",
        type="integer",
        minimum=32,
        maximum=512,
    )
    backbone: str = option(
        DEFAULT_BACKBONE,
        "efficientnet_lite0: ImageNet-pretrained (features cached, top "
        "blocks fine-tuned); compact: small CNN trained from scratch",
        enum=list(BACKBONES),
    )
    embedding_dim: int = option(
        128,
        "dimension of the learned projection, the embedding's first part (similarity_blend appends the rest)",
        type="integer",
        minimum=8,
    )
    weights: str | None = option(
        None, "keras.applications backbones: a .weights.h5 path, file:// or s3:// URI", type=["null", "string"]
    )
    epochs: int = option(30, "phase 1 (heads) maximum epochs", type="integer", minimum=1)
    finetune_epochs: int = option(10, "phase 2 (fine-tuning) maximum epochs; 0 skips it", type="integer", minimum=0)
    learning_rate: float = option(2e-3, "phase 1 learning rate (Adam)", type="number", exclusiveMinimum=0)
    finetune_learning_rate: float = option(3e-4, "phase 2 learning rate (Adam)", type="number", exclusiveMinimum=0)
    finetune_fraction: float = option(
        0.3,
        "keras.applications backbones: top share of layers unfrozen in phase 2",
        type="number",
        minimum=0,
        maximum=1,
    )
    views: int = option(
        2,
        "pretrained backbone: versions of each training image whose features are cached "
        "(the first as is, the others augmented)",
        type="integer",
        minimum=1,
    )
    finetune_blocks: int = option(
        2,
        "pretrained backbone: top MBConv blocks fine-tuned in phase 2 (with the "
        "head convolution; BatchNorm stays frozen)",
        type="integer",
        minimum=1,
        maximum=4,
    )
    batch_size: int = option(64, "images (or cached views) per step", type="integer", minimum=1)
    feature_batch_size: int = option(
        256,
        "pretrained backbone: cached views per step while the heads train (phase 1; a larger "
        "batch holds more similar pairs for the similarity loss); smaller on a small training "
        f"set, so that an epoch has at least {MIN_HEAD_STEPS} steps, but never below batch_size",
        type="integer",
        minimum=2,
    )
    patience: int = option(5, "epochs without a better validation loss before a phase stops", type="integer", minimum=1)
    class_weight_power: float = option(
        0.3, "class weights ∝ frequency^-power (0: none, 1: fully balanced)", type="number", minimum=0, maximum=1
    )
    loss_weights: dict[str, float] = option(DEFAULT_LOSS_WEIGHTS, "per-head loss weight, others 1", type="object")
    similarity_weight: float = option(
        1.0,
        "loss weight of the embedding's supervised contrastive term (0: off): images that share "
        "every similarity attribute are pulled together, the rest of the batch pushed apart",
        type="number",
        minimum=0,
    )
    similarity_attributes: list[str] = option(
        DEFAULT_SIMILARITY_ATTRIBUTES,
        "attributes two images must share to be neighbours in the embedding (visual search)",
        type="array",
    )
    similarity_blend: float = option(
        0.5,
        "weight in the exported embedding (what visual search looks up) of each similarity "
        "attribute's predicted probabilities, appended to the learned projection (0: the projection alone)",
        type="number",
        minimum=0,
    )
    label_smoothing: float = option(
        0.1, "target mass spread evenly over the classes (weak labels are noisy)", type="number", minimum=0, maximum=0.5
    )
    ema_momentum: float = option(
        0.99,
        "validate, early-stop on and keep a moving average of the weights (0: the raw weights)",
        type="number",
        minimum=0,
        exclusiveMaximum=1,
    )
    augment: bool = option(True, "augment training images (flip, small geometry, contrast, brightness)", type="boolean")
    time_budget_minutes: float | None = option(
        None, "stop training after this long (feature extraction included)", type=["null", "number"]
    )
    seed: int = option(0, "random seed (splits, initialisation, augmentation)", type="integer")
    precision: str = option(
        "auto", "auto: mixed_float16 (and XLA) on a GPU, float32 on a CPU", enum=["auto", "float32", "mixed_float16"]
    )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        check_known(values, cls)
        return cls(**{k: v for k, v in values.items() if v is not None or k in ("weights", "attributes")})

    def head_weights(self, heads: list[str]) -> dict[str, float]:
        """The loss weight of each head (1 unless ``loss_weights`` says otherwise)."""
        unknown = sorted(set(self.loss_weights) - set(heads) - set(DEFAULT_LOSS_WEIGHTS))
        if unknown:
            raise ConfigError(f"loss_weights names heads that are not trained: {unknown}; heads: {heads}")
        return {h: float(self.loss_weights.get(h, 1.0)) for h in heads}

    def similarity_heads(self, heads: list[str]) -> list[str]:
        """The trained heads that define similar images; the defaults that are not trained
        are left out, any other name is an error."""
        unknown = sorted(set(self.similarity_attributes) - set(heads) - set(DEFAULT_SIMILARITY_ATTRIBUTES))
        if unknown:
            raise ConfigError(f"similarity_attributes names heads that are not trained: {unknown}; heads: {heads}")
        return [h for h in self.similarity_attributes if h in heads]

    def contrastive_heads(self, heads: list[str]) -> list[str]:
        """The heads whose shared values define the contrastive term's positives ([] when off)."""
        return self.similarity_heads(heads) if self.similarity_weight else []

    def blend(self, heads: list[str]) -> dict[str, float]:
        """The heads whose probabilities the exported embedding appends, with their weight."""
        return {h: self.similarity_blend for h in self.similarity_heads(heads)} if self.similarity_blend else {}


@dataclass
class GateConfig:
    """What a candidate must show before it replaces production."""

    min_improvement: float = option(0.01, "promotion margin on mean test accuracy over production", type="number")
    min_test_images: int = option(
        200, "never promote on fewer labelled test images than this", type="integer", minimum=1
    )
    accuracy_floors: dict[str, float] = option(
        DEFAULT_ACCURACY_FLOORS,
        "per attribute, the test accuracy a candidate must reach to be promoted at all",
        type="object",
    )

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> GateConfig:
        check_known(values, cls)
        return cls(**{k: v for k, v in values.items() if v is not None})


OPTION_CLASSES = (TrainConfig, GateConfig)


def option_names(*classes: type) -> list[str]:
    return [f.name for cls in (classes or OPTION_CLASSES) for f in fields(cls)]


def check_known(values: dict[str, Any], *classes: type) -> None:
    """Refuse keys that are no option, naming the valid ones."""
    known = option_names(*classes)
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown option(s) {unknown}; valid options: {', '.join(sorted(known))}")


def split_options(values: dict[str, Any]) -> tuple[TrainConfig, GateConfig]:
    """A DAG run's params (or conf) → the two configs; unknown keys are an error."""
    check_known(values)
    train = {f.name: values[f.name] for f in fields(TrainConfig) if f.name in values}
    gate = {f.name: values[f.name] for f in fields(GateConfig) if f.name in values}
    return TrainConfig.from_dict(train), GateConfig.from_dict(gate)


def describe() -> list[tuple[str, Any, str, dict[str, Any]]]:
    """(name, default, description, JSON schema) of every option, in order."""
    out = []
    for cls in OPTION_CLASSES:
        for f in fields(cls):
            default = f.default_factory() if f.default is MISSING else f.default  # type: ignore[operator]
            out.append((f.name, default, f.metadata["help"], f.metadata["schema"]))
    return out
