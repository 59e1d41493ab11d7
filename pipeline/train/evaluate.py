"""Evaluation on the held-out test split and the promotion gate.

Both the candidate and the production model are scored on the candidate's test split (the
same images, each model at its own input size). The gate (:func:`promotion_decision`, options
in :class:`~pipeline.train.config.GateConfig`) refuses a candidate scored on too few test
images, below an attribute's absolute accuracy floor, or lacking an attribute production
serves; otherwise it is promoted only if its mean accuracy over the attributes both models
predict beats production's by ``min_improvement``. The report also gives each model's
retrieval precision (:func:`precision_at_k` on the embedding: neighbours that share the
default similarity attributes), which informs and does not gate.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.imageio import lake_reads
from pipeline.lake import Lake
from pipeline.train.config import DEFAULT_SIMILARITY_ATTRIBUTES, GateConfig

log = logging.getLogger(__name__)

MISTAKES = 12  # worst mistakes per attribute shown in the report
TINY_CLASS = 10  # test classes with fewer labelled images are flagged in the report
RETRIEVAL_K = 5  # neighbours per query in the report's retrieval precision


def attribute_metrics(truth: Sequence[str | None], pred: Sequence[str], values: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/support and the confusion matrix,
    over the labelled rows (``truth`` None is skipped). Pure."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    pairs = [(t, p) for t, p in zip(truth, pred) if t is not None]
    if not pairs:
        return {"n": 0, "accuracy": None, "macro_f1": None, "per_class": {}, "labels": values, "confusion": []}
    y_true, y_pred = zip(*pairs)
    labels = list(values) + sorted({*y_true} - set(values))
    present = [v for v in labels if v in set(y_true)]
    precision, recall, _, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": len(pairs),
        "accuracy": float(np.mean([t == p for t, p in pairs])),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "per_class": {
            v: {"precision": float(p), "recall": float(r), "support": int(s)}
            for v, p, r, s in zip(labels, precision, recall, support)
        },
        "labels": labels,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


@lake_reads()
def predict_outputs(lake: Lake, version: str, table: pa.Table, batch_size: int = 128) -> dict[str, np.ndarray]:
    """The model's softmax per attribute and its embedding for each row of ``table`` (same order)."""
    from pipeline.registry import load_model
    from pipeline.train.data import make_dataset

    model = load_model(lake, version)
    widths = {**{a: len(v) for a, v in model.attributes.items()}, "embedding": model.embedding_dim}
    outs: dict[str, list[np.ndarray]] = {name: [] for name in widths}
    ds = make_dataset(lake, table, model.attributes, model.image_size, batch_size, shuffle=False, cache=None)
    for images, _ in ds:
        out = model.keras_model(images, training=False)
        for name in widths:
            outs[name].append(np.asarray(out[name]))
    return {name: np.concatenate(o) if o else np.zeros((0, widths[name]), np.float32) for name, o in outs.items()}


def precision_at_k(
    embeddings: np.ndarray, labels: Sequence[tuple], groups: Sequence[str], k: int = RETRIEVAL_K, chunk: int = 512
) -> float | None:
    """Pure: the mean share of each fully labelled query's ``k`` nearest neighbours (cosine,
    images of other dedup groups only) whose labels all equal the query's; None without a
    labelled query."""
    emb = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    codes: dict[tuple, int] = {}
    code = np.array([codes.setdefault(tuple(t), len(codes)) if None not in t else -1 for t in labels])
    group = np.unique(np.asarray(groups), return_inverse=True)[1]
    queries = np.flatnonzero(code >= 0)
    k = min(k, len(emb) - 1)
    if not len(queries) or k < 1:
        return None
    hits = []
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        sims = emb[q] @ emb.T
        sims[group[q][:, None] == group[None, :]] = -np.inf  # itself and its near-duplicates
        nn = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        valid = np.take_along_axis(sims, nn, axis=1) > -np.inf
        hits.append(((code[nn] == code[q][:, None]) & valid).mean(axis=1))
    return float(np.concatenate(hits).mean())


def worst_mistakes(
    truth: Sequence[str | None], probs: np.ndarray, values: list[str], keys: Sequence[str], k: int = MISTAKES
) -> list[dict[str, Any]]:
    """Pure: the ``k`` most confident wrong predictions (image key, true, predicted, confidence)."""
    best = probs.argmax(axis=1) if len(probs) else np.zeros(0, int)
    wrong = [(float(probs[i, best[i]]), i) for i, t in enumerate(truth) if t is not None and values[best[i]] != t]
    return [
        {"image_key": keys[i], "true": truth[i], "pred": values[best[i]], "confidence": round(c, 4)}
        for c, i in sorted(wrong, reverse=True)[:k]
    ]


def evaluate_version(lake: Lake, version: str, table: pa.Table) -> dict[str, Any]:
    """Metrics of one registered model on ``table`` (rows with undecodable images are skipped
    at read time and so must not be in it)."""
    from pipeline.registry import load_model

    model = load_model(lake, version)
    outputs = predict_outputs(lake, version, table)
    keys = table.column("image_key").to_pylist()
    metrics: dict[str, Any] = {
        "version": version,
        "images": table.num_rows,
        "attributes": {},
        "trained": bool(model.metadata.get("trained", True)),
        "mistakes": {},
    }
    for attr, values in model.attributes.items():
        if attr in table.column_names:
            truth = table.column(attr).to_pylist()
            pred = [values[i] for i in outputs[attr].argmax(axis=1)]
            metrics["attributes"][attr] = attribute_metrics(truth, pred, values)
            metrics["mistakes"][attr] = worst_mistakes(truth, outputs[attr], values, keys)
    similar = [a for a in DEFAULT_SIMILARITY_ATTRIBUTES if a in table.column_names]
    if similar:
        labels = list(zip(*(table.column(a).to_pylist() for a in similar), strict=True))
        precision = precision_at_k(outputs["embedding"], labels, table.column("group_id").to_pylist())
        metrics["retrieval"] = {"attributes": similar, "k": RETRIEVAL_K, "precision": precision}
    return metrics


def split_counts(table: pa.Table, attributes: Sequence[str]) -> dict[str, dict[str, dict[str, int]]]:
    """Pure: attribute → value → split → labelled images."""
    from collections import Counter

    splits = table.column("split").to_pylist()
    out: dict[str, dict[str, dict[str, int]]] = {}
    for attr in attributes:
        if attr not in table.column_names:
            continue
        counts = Counter(zip(table.column(attr).to_pylist(), splits))
        values = sorted({v for v, _ in counts if v is not None})
        out[attr] = {v: {s: counts.get((v, s), 0) for s in ("train", "val", "test")} for v in values}
    return out


def mean_accuracy(metrics: dict[str, Any], attributes: Sequence[str]) -> float:
    accs = [metrics["attributes"][a]["accuracy"] for a in attributes]
    accs = [a for a in accs if a is not None]
    return float(np.mean(accs)) if accs else 0.0


def gate_refusals(candidate: dict[str, Any], production: dict[str, Any] | None, gate: GateConfig) -> list[str]:
    """Pure: every rule the candidate breaks, whatever production scores (empty: it may be compared)."""
    refusals = []
    if candidate["images"] < gate.min_test_images:
        refusals.append(
            f"test split has {candidate['images']} images, fewer than min_test_images {gate.min_test_images}"
        )
    for attr, floor in sorted(gate.accuracy_floors.items()):
        if attr not in candidate["attributes"]:
            continue
        acc = candidate["attributes"][attr]["accuracy"]
        if acc is None:
            refusals.append(f"{attr} has no labelled test images to check its floor {floor:.2f}")
        elif acc < floor:
            refusals.append(f"{attr} accuracy {acc:.4f} is below its floor {floor:.2f}")
    if production is not None and production.get("trained", True):
        missing = sorted(set(production["attributes"]) - set(candidate["attributes"]))
        if missing:
            refusals.append(f"candidate lacks attribute(s) production serves: {missing}")
    return refusals


def promotion_decision(
    candidate: dict[str, Any], production: dict[str, Any] | None, gate: GateConfig
) -> dict[str, Any]:
    """Pure gate. Refused when the test split is smaller than ``min_test_images``, when an
    attribute is below its accuracy floor (or has no labelled test images to check it), when
    the candidate lacks an attribute a trained production model serves, or when the
    candidate is production. Otherwise promoted iff there is no trained production model, or
    the candidate's mean accuracy over the attributes both predict beats production's by
    ``min_improvement``."""
    margin = gate.min_improvement
    base: dict[str, Any] = {
        "candidate_score": None,
        "production_score": None,
        "attributes": [],
        "min_improvement": margin,
        "refusals": [],
    }
    if production is not None and candidate["version"] == production["version"]:
        return {**base, "promote": False, "reason": "candidate is already production"}
    refusals = gate_refusals(candidate, production, gate)
    if production is None or not production.get("trained", True):
        shared = list(candidate["attributes"])
        score = mean_accuracy(candidate, shared)
        why = "no production model yet" if production is None else "production is an untrained model"
        return {
            **base,
            "promote": not refusals,
            "candidate_score": score,
            "attributes": shared,
            "refusals": refusals,
            "reason": "; ".join(refusals) if refusals else why,
        }
    shared = [a for a in candidate["attributes"] if a in production["attributes"]]
    if not shared:
        refusals.append("candidate and production share no attribute to compare on")
        return {**base, "promote": False, "refusals": refusals, "reason": "; ".join(refusals)}
    cand, prod = mean_accuracy(candidate, shared), mean_accuracy(production, shared)
    beats = cand >= prod + margin
    verdict = "beats" if beats else "does not beat"
    reason = f"candidate mean accuracy {cand:.4f} {verdict} production {prod:.4f} + {margin:.4f} on {shared}"
    return {
        **base,
        "promote": beats and not refusals,
        "candidate_score": cand,
        "production_score": prod,
        "attributes": shared,
        "refusals": refusals,
        "reason": "; ".join([*refusals, reason]),
    }


def evaluate_candidate(lake: Lake, version: str, trainset_uri: str, gate: GateConfig | None = None) -> dict[str, Any]:
    """Score candidate and production on the test split, write the report, decide.

    Returns the decision (small: it travels through XCom); the report lands in the
    candidate's folder: ``models/attributes/<version>/report/``.
    """
    from pipeline.registry import production_version, read_metadata
    from pipeline.train.report import write_report
    from pipeline.train.trainset import read_training_set

    table = read_training_set(lake, trainset_uri)
    test = table.filter(np.array(table.column("split").to_pylist()) == "test")
    if test.num_rows == 0:
        raise ValueError(f"training set {trainset_uri} has no test rows")
    candidate = evaluate_version(lake, version, test)
    prod_version = production_version(lake)
    production = evaluate_version(lake, prod_version, test) if prod_version else None
    decision = promotion_decision(candidate, production, gate if gate is not None else GateConfig())
    decision.update(candidate_version=version, production_version=prod_version, trainset=trainset_uri)
    meta = read_metadata(lake, version)
    context = {
        "config": meta.get("config", {}),
        "backbone": meta.get("backbone"),
        "image_size": meta.get("image_size"),
        "train_seconds": meta.get("train_seconds"),
        "split_counts": split_counts(table, list(candidate["attributes"])),
        "tiny_class": TINY_CLASS,
    }
    decision["report"] = write_report(lake, version, candidate, production, decision, meta.get("history", []), context)
    for attr, m in candidate["attributes"].items():
        if m["accuracy"] is None:
            log.info(f"  {attr:<10} no labelled test images")
        else:
            log.info(f"  {attr:<10} accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  (n={m['n']})")
    retrieval = candidate.get("retrieval") or {}
    if retrieval.get("precision") is not None:
        log.info(
            f"  retrieval  precision@{retrieval['k']} {retrieval['precision']:.4f}  (same {', '.join(retrieval['attributes'])})"
        )
    log.info("%s", decision["reason"])
    return decision


def promote_if_better(lake: Lake, decision: dict[str, Any]) -> bool:
    """Apply a decision: move the production pointer when it says so; True if promoted."""
    from pipeline.registry import production_version, promote

    if not decision["promote"]:
        return False
    if production_version(lake) != decision["production_version"]:
        raise RuntimeError(
            f"production changed since evaluation ({decision['production_version']} → "
            f"{production_version(lake)}): re-run the evaluation"
        )
    promote(
        lake,
        decision["candidate_version"],
        reason=decision["reason"],
        metrics={"candidate_score": decision["candidate_score"], "production_score": decision["production_score"]},
    )
    return True
