"""What a training run can be told: the one source of the defaults that ``vitrine train`` and
the retrain DAG's Params form show. Imports neither numpy nor TensorFlow (DAG parsing reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_LOSS_WEIGHTS = {"color": 2.5}


@dataclass
class TrainConfig:
    """Everything a training run can be told (the DAG's Params form and `vitrine train`)."""

    attributes: list[str] | None = None  # None: every attribute in the taxonomy
    image_size: int = 96
    backbone: str = "compact"
    embedding_dim: int = 128
    weights: str | None = None  # backbone .weights.h5 path / file:// / s3:// URI
    epochs: int = 30  # phase 1 maximum
    finetune_epochs: int = 10  # phase 2 maximum (0 skips it)
    learning_rate: float = 2e-3
    finetune_learning_rate: float = 3e-4
    finetune_fraction: float = 0.3  # top share of a pretrained backbone unfrozen in phase 2
    batch_size: int = 64
    patience: int = 5
    class_weight_power: float = 0.3  # 0: none, 1: fully balanced, 0.5: inverse sqrt frequency
    # per-head loss weight (others 1): color is the hardest head for a scratch CNN, and the
    # shared embedding gives it more room when its loss counts more (README, "Training")
    loss_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_LOSS_WEIGHTS))
    label_smoothing: float = 0.1  # weak labels are noisy: spread this much target mass evenly
    # validate, early-stop on and keep an exponential moving average of the weights (per step;
    # 0 keeps the raw weights): averaging smooths the noise weak labels put in late updates
    ema_momentum: float = 0.99
    augment: bool = True
    time_budget_minutes: float | None = None
    seed: int = 0

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; known: {sorted(known)}")
        return cls(**{k: v for k, v in values.items() if v is not None or k in ("weights", "attributes")})

    def head_weights(self, heads: list[str]) -> dict[str, float]:
        """The loss weight of each head (1 unless ``loss_weights`` says otherwise)."""
        unknown = sorted(set(self.loss_weights) - set(heads) - set(DEFAULT_LOSS_WEIGHTS))
        if unknown:
            raise ValueError(f"loss_weights names heads that are not trained: {unknown}; heads: {heads}")
        return {h: float(self.loss_weights.get(h, 1.0)) for h in heads}
