"""Two-phase training of a candidate attribute model, registered in the lake when done.

With the ImageNet-pretrained EfficientNet-Lite0 (the default) the backbone's features are
extracted once (:mod:`pipeline.train.features`): phase 1 trains the heads on them, phase 2
fine-tunes the top blocks on the cached activations entering them. Other backbones train on
decoded images: phase 1 trains the heads (backbone frozen when a weights file was loaded; a
random backbone is trained too, freezing random features would be pointless), phase 2
fine-tunes with a lower learning rate (the top of a loaded backbone, all of a scratch one). Each
phase stops early on validation loss and keeps its best weights (by default an exponential
moving average of them); phase 2's weights are kept only if they beat phase 1's. Losses
(:mod:`pipeline.train.losses`) are masked (an image without a label for one head still trains
the others) and class-weighted; a supervised contrastive term on the embedding's projection
(``similarity_weight``) pulls images that share the ``similarity_attributes`` together, so
visual-search neighbours agree on them. The registered model's embedding appends those heads'
probabilities to the projection (``similarity_blend``, :func:`pipeline.model.blended`).
Mixed precision and XLA are used when a GPU is present (``precision``).
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.imageio import lake_reads
from pipeline.lake import Lake
from pipeline.train.checkpoint import Checkpoint
from pipeline.train.config import MIN_HEAD_STEPS, TrainConfig
from pipeline.train.losses import class_weights, masked_accuracy, masked_loss, similarity_loss, with_similarity

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    version: str
    history: list[dict[str, float]] = field(default_factory=list)
    images_per_second: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)  # per stage images (or views) per second


def _time_budget(deadline: float | None) -> keras.callbacks.Callback:
    """Stops training once past ``deadline``, but never inside a phase's first epoch (a
    phase that starts late still yields weights trained on every example once)."""
    import keras

    class TimeBudget(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.epochs_done = 0

        def on_epoch_end(self, epoch, logs=None):
            self.epochs_done += 1

        def on_train_batch_end(self, batch, logs=None):
            if deadline is not None and self.epochs_done and time.monotonic() > deadline:
                self.model.stop_training = True

    return TimeBudget()


def has_gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def _training_model(model: keras.Model, outputs: list[str], config: TrainConfig) -> keras.Model:
    """The model as trained: augmentation in front, only the trained ``outputs`` (the
    attribute heads, and the embedding when the similarity loss is on)."""
    import keras

    from pipeline.train.augment import augmentation

    inputs = keras.Input(model.input_shape[1:], name="image")
    x = augmentation(config.seed)(inputs) if config.augment else inputs
    out = model(x)
    return keras.Model(inputs, {a: out[a] for a in outputs}, name="training")


def _set_trainable(model: keras.Model, phase: int, config: TrainConfig) -> None:
    """Which backbone layers train in a phase (BatchNorm of a pretrained backbone stays frozen)."""
    from keras import layers

    from pipeline.model import backbone_of

    base = backbone_of(model)
    if not config.weights:
        base.trainable = True
        return
    base.trainable = phase == 2
    if phase == 2:
        cut = int(len(base.layers) * (1 - config.finetune_fraction))
        for i, layer in enumerate(base.layers):
            layer.trainable = i >= cut and not isinstance(layer, layers.BatchNormalization)


def _fit_phase(
    train_model: keras.Model,
    train_ds: Any,
    val_ds: Any,
    phase: int,
    *,
    losses: dict,
    loss_weights: dict[str, float],
    config: TrainConfig,
    deadline: float | None,
    jit: bool,
    verbose: int,
    initial_epoch: int = 0,
    callbacks: list | None = None,
) -> tuple[list[dict[str, float]], float, list[np.ndarray]]:
    """Compile and fit phase 1 (``learning_rate``, ``epochs``) or 2 (``finetune_learning_rate``,
    ``finetune_epochs``); returns per-epoch logs (each with its ``phase``), the best val loss
    and its weights.

    With ``config.ema_momentum`` the optimizer keeps a moving average of the weights; it is
    swapped in for validation and at each epoch's end, so early stopping judges, and keeps,
    the averaged weights.
    """
    import keras

    lr, epochs = (
        (config.learning_rate, config.epochs) if phase == 1 else (config.finetune_learning_rate, config.finetune_epochs)
    )
    ema = bool(config.ema_momentum)
    averaging = {"use_ema": True, "ema_momentum": config.ema_momentum} if ema else {}
    optimizer = keras.optimizers.Adam(lr, **averaging)
    train_model.compile(
        optimizer=optimizer,
        loss=losses,
        loss_weights=loss_weights,
        metrics={a: [masked_accuracy()] for a in losses if a != "embedding"},
        jit_compile=jit,
    )
    stop = keras.callbacks.EarlyStopping("val_loss", patience=config.patience, restore_best_weights=True)
    plateau = keras.callbacks.ReduceLROnPlateau(
        "val_loss", factor=0.5, patience=max(1, config.patience // 2), min_lr=lr / 20
    )
    swap = [keras.callbacks.SwapEMAWeights(swap_on_epoch=True)] if ema else []  # before `stop`: it sees EMA
    with warnings.catch_warnings():
        # Keras warns "Your input ran out of data" at the end of the first epoch of any input
        # whose length is unknown (ours: undecodable images are filtered out, cached features
        # come from a generator), though no steps_per_epoch was asked for (keras-team/keras#23360)
        warnings.filterwarnings("ignore", "Your input ran out of data", UserWarning)
        hist = train_model.fit(
            train_ds,
            validation_data=val_ds,
            epochs=epochs,
            verbose=verbose,
            shuffle=False,  # the dataset shuffles
            callbacks=[*swap, stop, plateau, _time_budget(deadline), *(callbacks or [])],
            initial_epoch=initial_epoch,
        )
    logs = [
        {**{k: float(v[i]) for k, v in hist.history.items()}, "phase": phase} for i in range(len(hist.history["loss"]))
    ]
    best = min((e["val_loss"] for e in logs), default=math.inf)
    return logs, best, train_model.get_weights()


def heads_batch_size(views: int, config: TrainConfig) -> int:
    """Phase 1's batch on cached features: ``feature_batch_size``, but on a small training set
    no larger than gives MIN_HEAD_STEPS steps an epoch (never below ``batch_size``): a few
    large steps an epoch leave the heads undertrained."""
    return min(config.feature_batch_size, max(config.batch_size, views // MIN_HEAD_STEPS))


def _phase1_deadline(start: float, deadline: float | None, config: TrainConfig) -> float | None:
    """With a time budget, fine-tuning keeps a quarter of what is left after ``start``."""
    return start + 0.75 * (deadline - start) if deadline and config.finetune_epochs else deadline


@dataclass(frozen=True)
class _Run:
    """What either training path reads: the lake, the train and val splits, the vocabularies,
    the masked losses (keyed by trained output), the number of values of each similarity
    attribute, the keyword arguments every ``_fit_phase`` shares, and the start time."""

    lake: Lake
    train_t: Any
    val_t: Any
    vocab: dict[str, list[str]]
    losses: dict
    similar: dict[str, int]
    common: dict
    start: float


@lake_reads()
def _train_end_to_end(
    run: _Run, checkpoint: Checkpoint | None = None, cache_dir: Path | None = None
) -> tuple[keras.Model, list[dict[str, float]], int, dict]:
    """Scratch or keras.applications backbones: both phases run on decoded images, with a
    checkpoint per epoch when given (a retry resumes). ``cache_dir``: see train_candidate."""
    from pipeline.model import build_model
    from pipeline.train.data import make_dataset

    config, deadline = run.common["config"], run.common["deadline"]
    big = run.train_t.num_rows * config.image_size**2 * 3 > 2 * 1024**3  # > 2 GiB decoded: cache on disk
    if big:
        on_disk = Path(cache_dir or tempfile.mkdtemp(prefix="vitrine-train-")) / "train"
        on_disk.mkdir(parents=True, exist_ok=True)
    cache = (lambda name: str(on_disk / f"{name}-{time.time_ns()}")) if big else (lambda name: "")
    train_ds = make_dataset(
        run.lake,
        run.train_t,
        run.vocab,
        config.image_size,
        config.batch_size,
        shuffle=True,
        seed=config.seed,
        cache=cache("train"),
        similar=run.similar,
    )
    val_ds = make_dataset(
        run.lake,
        run.val_t,
        run.vocab,
        config.image_size,
        config.batch_size,
        shuffle=False,
        cache=cache("val"),
        similar=run.similar,
    )
    model = build_model(
        run.vocab,
        config.image_size,
        backbone=config.backbone,
        embedding_dim=config.embedding_dim,
        weights=config.weights,
        seed=config.seed,
        cache_dir=cache_dir,
    )
    train_model = _training_model(model, list(run.losses), config)
    resume = checkpoint.load(train_model) if checkpoint else None  # a retry goes on from there
    history = list(resume.history) if resume else []

    def fit(phase: int, done: int, phase_deadline: float | None, **saved: Any) -> tuple[float, list[np.ndarray]]:
        """Fit ``phase`` from epoch ``done``, checkpointed per epoch; its logs join ``history``."""
        _set_trainable(model, phase, config)
        saving = [checkpoint.callback(train_model, phase, history, done, **saved)] if checkpoint else []
        logs, best, weights = _fit_phase(
            train_model,
            train_ds,
            val_ds,
            phase,
            losses=run.losses,
            initial_epoch=done,
            callbacks=saving,
            **{**run.common, "deadline": phase_deadline},
        )
        history.extend(logs)
        return best, weights

    if resume is None or resume.phase == 1:
        best1, weights1 = fit(1, resume.epochs_done if resume else 0, _phase1_deadline(run.start, deadline, config))
        best1 = min((e["val_loss"] for e in history if e["phase"] == 1 and "val_loss" in e), default=best1)
    else:  # resumed in phase 2: phase 1's weights are gone, its best loss is known
        best1, weights1 = resume.phase1_best if resume.phase1_best is not None else math.inf, None
    if config.finetune_epochs and not (deadline and time.monotonic() > deadline):
        done = resume.epochs_done if resume and resume.phase == 2 else 0
        best2, _ = fit(2, done, deadline, phase1_best=best1)
        if best2 > best1 and weights1 is not None:
            train_model.set_weights(weights1)
    seen = run.train_t.num_rows * len(history)
    return model, history, seen, {"train_images_per_s": seen / max(time.monotonic() - run.start, 1e-9)}


def _train_pretrained(run: _Run) -> tuple[keras.Model, list[dict[str, float]], int, dict]:
    """A pretrained backbone: features extracted once (``views`` per training image), phase 1
    trains the heads on the pooled features, phase 2 fine-tunes the top ``finetune_blocks``
    blocks (BatchNorm frozen) on the cached activations entering them, at a low rate. Not
    checkpointed: a retry extracts again, the heads train in minutes."""
    import keras
    from keras import layers

    from pipeline.backbones.efficientnet_lite import N_BLOCKS, TAP_FEATURES, pretrained
    from pipeline.model import SMALL, assemble, build_heads
    from pipeline.train.features import extract, feature_dataset

    config, deadline = run.common["config"], run.common["deadline"]
    size, bs = config.image_size, config.batch_size
    net = pretrained()
    cut = N_BLOCKS - config.finetune_blocks if config.finetune_epochs and config.finetune_blocks else None
    train_f = extract(
        run.lake, run.train_t, run.vocab, net, size, views=config.views, cut_block=cut, seed=config.seed, label="train"
    )
    val_f = extract(run.lake, run.val_t, run.vocab, net, size, cut_block=cut, label="val")
    extraction_s = time.monotonic() - run.start
    rates = {"extract_views_per_s": (len(train_f) + len(val_f)) / max(extraction_s, 1e-9)}
    heads = build_heads(run.vocab, embedding_dim=config.embedding_dim, seed=config.seed)
    model = assemble(net, heads, size)
    heads_model = keras.Model(heads.input, {a: heads.output[a] for a in run.losses}, name="heads_training")
    train_y, val_y = (with_similarity(f.labels, run.similar) for f in (train_f, val_f))
    fbs = heads_batch_size(len(train_f), config)
    train_ds = feature_dataset(
        (train_f.pooled, train_f.low, train_f.small), train_y, fbs, shuffle=True, seed=config.seed
    )
    val_ds = feature_dataset((val_f.pooled, val_f.low, val_f.small), val_y, fbs, shuffle=False)
    t1 = time.monotonic()
    history, best1, _ = _fit_phase(
        heads_model,
        train_ds,
        val_ds,
        1,
        losses=run.losses,
        **{**run.common, "deadline": _phase1_deadline(t1, deadline, config)},
    )
    weights1 = model.get_weights()
    seen = len(train_f) * len(history)
    rates["heads_views_per_s"] = seen / max(time.monotonic() - t1, 1e-9)
    log.info(
        f"features: {len(train_f)} train views ({config.views} per image), {len(val_f)} val, "
        f"{extraction_s:.0f}s; heads: {len(history)} epochs in {time.monotonic() - t1:.0f}s"
    )
    if cut is not None and not (deadline and time.monotonic() > deadline):
        mid = keras.Input(net.cut_shape(size, cut), name="activation")
        low = keras.Input((TAP_FEATURES,), name="low")
        small = keras.Input((SMALL, SMALL, 3), name="small")
        pooled = layers.GlobalAveragePooling2D(name="pool")(net.apply(mid, cut, N_BLOCKS, stem=False))
        out = heads([pooled, low, small])
        top_model = keras.Model([mid, low, small], {a: out[a] for a in run.losses}, name="top_training")
        for name, layer in net.layers.items():
            block = (
                int(name[5:].split("_")[0])
                if name.startswith("block")
                else (N_BLOCKS if name.startswith("top") else -1)
            )
            layer.trainable = block >= cut and not isinstance(layer, layers.BatchNormalization)
        train_ds = feature_dataset(
            (train_f.cut, train_f.low, train_f.small), train_y, bs, shuffle=True, seed=config.seed
        )
        # validated in phase 1's batches: the contrastive loss depends on the batch size, and the
        # two phases' validation losses decide which weights are kept
        val_ds = feature_dataset((val_f.cut, val_f.low, val_f.small), val_y, fbs, shuffle=False)
        t2 = time.monotonic()
        logs2, best2, _ = _fit_phase(top_model, train_ds, val_ds, 2, losses=run.losses, **run.common)
        history += logs2
        seen += len(train_f) * len(logs2)
        rates["finetune_views_per_s"] = len(train_f) * len(logs2) / max(time.monotonic() - t2, 1e-9)
        log.info(
            f"fine-tuning blocks {cut}..{N_BLOCKS - 1} + head: {len(logs2)} epochs in "
            f"{time.monotonic() - t2:.0f}s (best val loss {best2:.4f} vs heads only {best1:.4f})"
        )
        if best2 > best1:
            model.set_weights(weights1)
    return model, history, seen, rates


def train_candidate(
    lake: Lake,
    trainset_uri: str,
    config: TrainConfig,
    *,
    verbose: int = 2,
    register: bool = True,
    checkpoint: Checkpoint | None = None,
    cache_dir: Path | None = None,
) -> TrainResult:
    """Train on the training set's train split (early stopping on val) and register the model.

    ``cache_dir`` (the settings' cache folder, from the adapter) keeps a large decoded training
    set and downloaded backbone weights; None: a temporary ``vitrine-*`` folder (``vitrine gc``).
    """
    import keras

    from pipeline.model import PRETRAINED, blended, build_model
    from pipeline.registry import register_model
    from pipeline.taxonomy import load_taxonomy
    from pipeline.train.data import encode_labels
    from pipeline.train.trainset import read_training_set

    start = time.monotonic()
    deadline = start + config.time_budget_minutes * 60 if config.time_budget_minutes else None
    table = read_training_set(lake, trainset_uri)
    names = config.attributes or [a for a in load_taxonomy().attributes if a in table.column_names]
    vocab = load_taxonomy().vocabularies(names)
    train_t = table.filter(np.array(table.column("split").to_pylist()) == "train")
    val_t = table.filter(np.array(table.column("split").to_pylist()) == "val")
    if train_t.num_rows == 0 or val_t.num_rows == 0:
        raise ValueError(f"training set {trainset_uri} needs train and val rows ({train_t.num_rows}, {val_t.num_rows})")
    train_labels = encode_labels(train_t, vocab)
    weights = {a: class_weights(train_labels[a], len(v), config.class_weight_power) for a, v in vocab.items()}
    gpu = has_gpu()
    policy = config.precision if config.precision != "auto" else "mixed_float16" if gpu else "float32"
    keras.mixed_precision.set_global_policy(policy)
    loss_weights = config.head_weights(list(vocab))
    losses = {a: masked_loss(w, config.label_smoothing) for a, w in weights.items()}
    similar = {a: len(vocab[a]) for a in config.contrastive_heads(list(vocab))}
    if similar:
        losses["embedding"] = similarity_loss()
        loss_weights["embedding"] = config.similarity_weight
    common = dict(config=config, deadline=deadline, jit=gpu, verbose=verbose, loss_weights=loss_weights)
    log.info(
        f"training {config.backbone} @ {config.image_size}px on {train_t.num_rows} images "
        f"(val {val_t.num_rows}), heads {common['loss_weights']}, gpu={gpu}, {policy}"
    )
    try:
        run = _Run(lake, train_t, val_t, vocab, losses, similar, common, start)
        if config.backbone in PRETRAINED:  # not checkpointed: a retry extracts the features again
            model, history, seen, rates = _train_pretrained(run)
        else:
            model, history, seen, rates = _train_end_to_end(run, checkpoint, cache_dir)
        keras.mixed_precision.set_global_policy("float32")
        export = build_model(
            vocab, config.image_size, backbone=config.backbone, embedding_dim=config.embedding_dim, seed=config.seed
        )
        export.set_weights(model.get_weights())
        export = blended(export, config.blend(list(vocab)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    elapsed = time.monotonic() - start
    result = TrainResult(version="", history=history, images_per_second=seen / max(elapsed, 1e-9), rates=rates)
    if register:
        result.version = register_model(
            lake,
            export,
            attributes=vocab,
            image_size=config.image_size,
            backbone=config.backbone,
            extra={
                "trained": True,
                "training_set": trainset_uri,
                "config": asdict(config),
                "history": history,
                "class_weights": {a: w.tolist() for a, w in weights.items()},
                "gpu": gpu,
                "precision": policy,
                "train_seconds": round(elapsed, 1),
                "epochs_run": len(history),
                "rates": {k: round(v, 1) for k, v in rates.items()},
            },
        )
        log.info(f"registered candidate {result.version} after {len(history)} epochs in {elapsed / 60:.1f} min")
    if checkpoint:
        checkpoint.clear()
    return result
