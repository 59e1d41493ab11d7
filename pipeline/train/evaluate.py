"""Evaluation on the held-out test split and the promotion gate.

Both the candidate and the production model are scored on the candidate's test split (the
same images, each model at its own input size); the candidate is promoted only if its mean
accuracy over the attributes both models predict beats production's by ``min_improvement``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.lake import Lake


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


def predict_labels(lake: Lake, version: str, table: pa.Table, batch_size: int = 128) -> dict[str, list[str]]:
    """The model's predicted value per attribute for each row of ``table`` (same order)."""
    from pipeline.registry import load_model
    from pipeline.train.data import make_dataset

    model = load_model(lake, version)
    preds: dict[str, list[np.ndarray]] = {a: [] for a in model.attributes}
    ds = make_dataset(lake, table, model.attributes, model.image_size, batch_size, shuffle=False, cache=None)
    for images, _ in ds:
        out = model.keras_model(images, training=False)
        for a in model.attributes:
            preds[a].append(np.asarray(out[a]).argmax(axis=1))
    return {a: [model.attributes[a][i] for i in (np.concatenate(p) if p else [])] for a, p in preds.items()}


def evaluate_version(lake: Lake, version: str, table: pa.Table) -> dict[str, Any]:
    """Metrics of one registered model on ``table`` (rows with undecodable images are skipped
    at read time and so must not be in it)."""
    from pipeline.registry import load_model

    model = load_model(lake, version)
    preds = predict_labels(lake, version, table)
    metrics: dict[str, Any] = {"version": version, "images": table.num_rows, "attributes": {}}
    for attr, values in model.attributes.items():
        if attr in table.column_names:
            metrics["attributes"][attr] = attribute_metrics(table.column(attr).to_pylist(), preds[attr], values)
    return metrics


def mean_accuracy(metrics: dict[str, Any], attributes: Sequence[str]) -> float:
    accs = [metrics["attributes"][a]["accuracy"] for a in attributes]
    accs = [a for a in accs if a is not None]
    return float(np.mean(accs)) if accs else 0.0


def promotion_decision(
    candidate: dict[str, Any], production: dict[str, Any] | None, min_improvement: float
) -> dict[str, Any]:
    """Pure gate: promote iff there is no production model, or the candidate's mean accuracy
    over the attributes both predict beats production's by at least ``min_improvement``."""
    if production is None:
        shared = list(candidate["attributes"])
        score = mean_accuracy(candidate, shared)
        return {
            "promote": True,
            "candidate_score": score,
            "production_score": None,
            "attributes": shared,
            "reason": "no production model yet",
        }
    if candidate["version"] == production["version"]:
        return {
            "promote": False,
            "candidate_score": None,
            "production_score": None,
            "attributes": [],
            "reason": "candidate is already production",
        }
    shared = [a for a in candidate["attributes"] if a in production["attributes"]]
    if not shared:
        return {
            "promote": False,
            "candidate_score": None,
            "production_score": None,
            "attributes": [],
            "reason": "candidate and production share no attribute to compare on",
        }
    cand, prod = mean_accuracy(candidate, shared), mean_accuracy(production, shared)
    promote = cand >= prod + min_improvement
    verdict = "beats" if promote else "does not beat"
    return {
        "promote": promote,
        "candidate_score": cand,
        "production_score": prod,
        "attributes": shared,
        "min_improvement": min_improvement,
        "reason": f"candidate mean accuracy {cand:.4f} {verdict} production {prod:.4f} + {min_improvement:.4f}"
        f" on {shared}",
    }


def evaluate_candidate(lake: Lake, version: str, trainset_uri: str, min_improvement: float = 0.01) -> dict[str, Any]:
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
    decision = promotion_decision(candidate, production, min_improvement)
    decision.update(candidate_version=version, production_version=prod_version, trainset=trainset_uri)
    history = read_metadata(lake, version).get("history", [])
    decision["report"] = write_report(lake, version, candidate, production, decision, history)
    for attr, m in candidate["attributes"].items():
        if m["accuracy"] is None:
            print(f"  {attr:<10} no labelled test images")
        else:
            print(f"  {attr:<10} accuracy {m['accuracy']:.4f}  macro-F1 {m['macro_f1']:.4f}  (n={m['n']})")
    print(decision["reason"])
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
