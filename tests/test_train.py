"""Training: splits without leakage, training set from lake tables, two-phase training with a
pretrained backbone file, the retrain DAG end to end (dag.test), and the promotion gate."""

from __future__ import annotations

import os
import warnings
from collections import Counter, defaultdict

import numpy as np
import pytest

from pipeline import layout
from pipeline.lake import Lake
from pipeline.model import backbone_of, build_model
from pipeline.registry import (
    ensure_production_model,
    list_versions,
    load_model,
    production_version,
    read_metadata,
    register_model,
)
from pipeline.taxonomy import load_taxonomy
from pipeline.train.config import GateConfig, TrainConfig, option_names, split_options
from pipeline.train.data import make_dataset
from pipeline.train.evaluate import evaluate_candidate, promote_if_better, promotion_decision
from pipeline.train.folder_import import import_labelled_folder
from pipeline.train.losses import class_weights, masked_loss, similarity_labels, similarity_loss
from pipeline.train.splits import LeakageError, assign_splits, check_no_leakage
from pipeline.train.train import _fit_phase, _training_model, heads_batch_size, train_candidate
from pipeline.train.trainset import build_training_set, read_training_set
from tests.support.attributes import write_duplicate_groups, write_labelled_folder

pytestmark = pytest.mark.heavy  # whole DAG runs or training: scheduled first (conftest)

ATTRS = ["category", "color", "pattern"]


# -- splits --------------------------------------------------------------------------------------
def test_splits_keep_groups_together_and_are_stratified() -> None:
    rng = np.random.default_rng(0)
    groups = [f"g{int(g)}" for g in rng.integers(0, 700, 2000)]
    group_label = {g: ["a", "b", "c", None][hash(g) % 4] for g in set(groups)}
    strata = [group_label[g] for g in groups]
    splits = assign_splits(groups, strata, seed=3)
    check_no_leakage(groups, [f"img{i}" for i in range(len(groups))], splits)
    counts = Counter(splits)
    assert abs(counts["train"] / len(groups) - 0.70) < 0.03
    assert abs(counts["test"] / len(groups) - 0.15) < 0.03
    for label in ("a", "b", "c"):
        per = Counter(s for s, st in zip(splits, strata) if st == label)
        total = sum(per.values())
        assert abs(per["val"] / total - 0.15) < 0.05 and abs(per["test"] / total - 0.15) < 0.05
    assert splits == assign_splits(groups, strata, seed=3)


def test_leakage_check_catches_a_group_in_two_splits() -> None:
    with pytest.raises(LeakageError, match="group 'g1'"):
        check_no_leakage(["g1", "g1"], ["a", "b"], ["train", "test"])
    with pytest.raises(LeakageError, match="image 'a'"):
        check_no_leakage(["g1", "g2"], ["a", "a"], ["train", "test"])


def test_class_weights_balance_rare_classes() -> None:
    labels = np.array([0] * 90 + [1] * 10 + [-1] * 50)
    w = class_weights(labels, 3, power=1.0)
    assert w[2] == 0 and w[1] > w[0]
    assert np.isclose((w[0] * 90 + w[1] * 10) / 100, 1.0)
    assert np.allclose(class_weights(labels, 3, power=0.0)[:2], 1.0)


def test_masked_loss_ignores_missing_labels_and_smooths() -> None:
    probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]], "float32")
    y = np.array([0, 1, -1])
    plain = float(np.sum(masked_loss(np.ones(3, "float32"))(y, probs)))
    assert np.isclose(plain, -(np.log(0.7) + np.log(0.8)) / 2, atol=1e-5)  # row 3 unlabelled
    smooth = float(np.sum(masked_loss(np.ones(3, "float32"), 0.1)(y, probs)))
    uniform = -(np.log(probs[0]).mean() + np.log(probs[1]).mean()) / 2
    assert np.isclose(smooth, 0.9 * plain + 0.1 * uniform, atol=1e-5)


def test_similarity_ids_are_equal_exactly_when_every_attribute_is() -> None:
    labels = {"category": np.array([0, 0, 1, 0, -1, 2]), "color": np.array([3, 3, 3, 4, 3, 0])}
    ids = similarity_labels(labels, {"category": 3, "color": 5})
    assert ids[0] == ids[1] and len({ids[0], ids[2], ids[3], ids[5]}) == 4
    assert ids[4] == -1  # one attribute unlabelled: similar to nothing
    assert ids.dtype == np.int32


def _unit(rows: list[list[float]]) -> np.ndarray:
    z = np.array(rows, "float32")
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def test_similarity_loss_rewards_similar_pairs_close_and_skips_anchors_without_one() -> None:
    loss = similarity_loss(temperature=0.1)
    y = np.array([0, 0, 1, 1])
    together = _unit([[1, 0], [1, 0.1], [0, 1], [0.1, 1]])
    crossed = _unit([[1, 0], [0, 1], [1, 0.1], [0.1, 1]])
    assert float(np.sum(loss(y, together))) < 0.1 < float(np.sum(loss(y, crossed)))
    # an example without a similar one (label 2, or unlabelled) is no anchor, but still a negative
    lonely = np.array([0, 0, 2, -1])
    pair_only = float(np.sum(loss(lonely, _unit([[1, 0], [1, 0.1], [0, 1], [0.1, 1]]))))
    near_negatives = float(np.sum(loss(lonely, _unit([[1, 0], [1, 0.1], [1, 0.05], [1, 0.08]]))))
    assert pair_only < 0.01 < near_negatives
    assert float(np.sum(loss(np.array([0, 1, -1]), _unit([[1, 0], [0, 1], [1, 1]])))) == 0.0


def test_similarity_attributes_must_be_trained_heads_and_each_weight_zero_turns_its_use_off() -> None:
    assert TrainConfig().similarity_heads(["category", "color", "pattern"]) == ["category", "color"]
    assert TrainConfig().similarity_heads(["color"]) == ["color"]  # an untrained default is left out
    assert TrainConfig(similarity_weight=0).contrastive_heads(["category", "color"]) == []
    assert TrainConfig().contrastive_heads(["category", "color", "pattern"]) == ["category", "color"]
    assert TrainConfig().blend(["category", "color", "pattern"]) == {"category": 0.5, "color": 0.5}
    assert TrainConfig(similarity_blend=0).blend(["category", "color"]) == {}
    with pytest.raises(ValueError, match=r"similarity_attributes .*\['sleeve'\]"):
        TrainConfig(similarity_attributes=["category", "sleeve"]).similarity_heads(["category", "color"])


def test_heads_batch_shrinks_on_a_small_training_set_but_not_below_batch_size() -> None:
    config = TrainConfig(batch_size=64, feature_batch_size=256)
    assert heads_batch_size(20_000, config) == 256
    assert heads_batch_size(4_800, config) == 150  # 32 steps an epoch
    assert heads_batch_size(600, config) == 64
    assert heads_batch_size(20_000, TrainConfig(batch_size=64, feature_batch_size=32)) == 32


def test_head_loss_weights_default_to_one_and_reject_unknown_heads() -> None:
    config = TrainConfig(loss_weights={"color": 2.5})
    assert config.head_weights(["category", "color"]) == {"category": 1.0, "color": 2.5}
    assert config.head_weights(["category"]) == {"category": 1.0}
    with pytest.raises(ValueError, match="sleeve"):
        TrainConfig(loss_weights={"sleeve": 2.0}).head_weights(["category", "color"])


# -- training data in a lake -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def data_lake(tmp_path_factory) -> Lake:
    """A lake with 96 generated products (a few exact-duplicate photos) and near-dup groups."""
    root = tmp_path_factory.mktemp("attributes")
    write_labelled_folder(root / "folder", n=96, size=32)
    lake = Lake(f"file://{root / 'lake'}")
    import_labelled_folder(lake, root / "folder", retailer="acme")
    write_duplicate_groups(lake)
    return lake


def test_cached_feature_batches_are_float32_aligned_and_reshuffled() -> None:
    """The float16 cache reaches TensorFlow as float32 batches (a float16 tensor in a graph makes
    oneDNN log an error line on CPUs without AVX-512 FP16), rows stay aligned with their labels,
    every row comes once per epoch, and each epoch has its own order."""
    import tensorflow as tf

    from pipeline.train.features import feature_dataset

    n = 40
    cut = (np.arange(n, dtype=np.float16)[:, None, None] * np.ones((1, 2, 3), np.float16)).astype(np.float16)
    pooled = np.arange(n, dtype=np.float32)[:, None] * 2
    labels = {"color": np.arange(n, dtype=np.int32)}
    ds = feature_dataset((cut, pooled), labels, 16, shuffle=True, seed=0)
    assert [spec.dtype for spec in ds.element_spec[0]] == [tf.float32, tf.float32]
    epochs = []
    for _ in range(2):
        seen = []
        for (x_cut, x_pooled), y in ds:
            rows = y["color"].numpy()
            assert x_cut.dtype == tf.float32
            np.testing.assert_array_equal(x_cut.numpy()[:, 0, 0], rows)
            np.testing.assert_array_equal(x_pooled.numpy()[:, 0], 2 * rows)
            seen.extend(rows.tolist())
        assert sorted(seen) == list(range(n))
        epochs.append(seen)
    assert epochs[0] != epochs[1]
    in_order = feature_dataset(cut, labels, 16, shuffle=False)
    assert [int(y["color"].numpy()[0]) for _, y in in_order] == [0, 16, 32]


def test_training_set_has_labels_and_no_group_leakage(data_lake) -> None:
    uri = build_training_set(data_lake, "leak-check", load_taxonomy(), ATTRS)
    table = read_training_set(data_lake, uri)
    rows = table.to_pylist()
    assert len({r["sha256"] for r in rows}) == len(rows) == 84  # 96 photos, 12 exact re-uses
    split_of_group = defaultdict(set)
    for r in rows:
        split_of_group[r["group_id"]].add(r["split"])
    assert all(len(s) == 1 for s in split_of_group.values())
    assert any(len([r for r in rows if r["group_id"] == g]) >= 2 for g in split_of_group)
    assert {r["split"] for r in rows} == {"train", "val", "test"}
    assert {r["category"] for r in rows} == {"tshirts_tops", "trousers"}
    assert {r["pattern"] for r in rows} == {"solid", "striped"}
    reused = [r for r in rows if len(r["product_ids"]) == 2]
    assert len(reused) == 12
    coverage = data_lake.read_json(f"{data_lake.key_of(uri)}/_coverage.json")
    assert coverage["attributes"]["color"]["coverage"] == 1.0


def test_pretrained_backbone_file_is_loaded_frozen_then_top_fine_tuned(data_lake, tmp_path) -> None:
    uri = build_training_set(data_lake, "weights", load_taxonomy(), ATTRS)
    vocab = load_taxonomy().vocabularies(ATTRS)
    source = backbone_of(build_model(vocab, 32, backbone="compact", seed=11))
    path = tmp_path / "pretrained.weights.h5"
    source.save_weights(path)
    config = TrainConfig(
        attributes=ATTRS,
        image_size=32,
        epochs=1,
        finetune_epochs=1,
        batch_size=16,
        backbone="compact",
        weights=str(path),
        finetune_fraction=0.3,
        embedding_dim=16,
    )
    result = train_candidate(data_lake, uri, config, verbose=0)
    trained = backbone_of(load_model(data_lake, result.version).keras_model)
    assert [e["phase"] for e in result.history] == [1, 2]
    assert all("embedding_loss" in e for e in result.history)  # end to end too
    cut = int(len(trained.layers) * 0.7)
    for i, (before, after) in enumerate(zip(source.layers, trained.layers)):
        same = all(np.array_equal(a, b) for a, b in zip(before.get_weights(), after.get_weights()))
        if i < cut or before.__class__.__name__ == "BatchNormalization":
            assert same, f"layer {before.name} should have stayed frozen"
    assert any(
        not np.array_equal(a, b)
        for before, after in zip(source.layers[cut:], trained.layers[cut:])
        for a, b in zip(before.get_weights(), after.get_weights())
    ), "the top of the backbone should have been fine-tuned"


def test_phase_keeps_the_weight_average_that_early_stopping_judged(data_lake) -> None:
    uri = build_training_set(data_lake, "ema", load_taxonomy(), ATTRS)
    table = read_training_set(data_lake, uri)
    vocab = load_taxonomy().vocabularies(ATTRS)
    split = np.array(table.column("split").to_pylist())
    train_ds, val_ds = (
        make_dataset(data_lake, table.filter(split == s), vocab, 32, 16, shuffle=s == "train") for s in ("train", "val")
    )
    config = TrainConfig(
        attributes=ATTRS,
        image_size=32,
        backbone="compact",
        embedding_dim=16,
        ema_momentum=0.9,
        patience=10,
        learning_rate=1e-2,
        epochs=4,
    )
    train_model = _training_model(build_model(vocab, 32, backbone="compact", embedding_dim=16), ATTRS, config)
    losses = {a: masked_loss(np.ones(len(v), "float32")) for a, v in vocab.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, best, _ = _fit_phase(
            train_model,
            train_ds,
            val_ds,
            1,
            losses=losses,
            loss_weights=config.head_weights(ATTRS),
            config=config,
            deadline=None,
            jit=False,
            verbose=0,
        )
    assert not [w for w in caught if "ran out of data" in str(w.message)], "a dataset of unknown length is no fault"
    assert any("average" in v.path for v in train_model.optimizer.variables), "the optimizer should average"
    # the weights kept are those validated: the moving average at the best epoch, not the raw weights
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Your input ran out of data", UserWarning)  # as in _fit_phase
        assert np.isclose(train_model.evaluate(val_ds, verbose=0, return_dict=True)["loss"], best, rtol=1e-4)


# -- the retrain DAG ---------------------------------------------------------------------------------
@pytest.fixture
def vitrine_env(data_lake, monkeypatch):
    """Point settings (and so every DAG task) at the test lake, at 32 px."""
    from pipeline import config

    monkeypatch.setenv("VITRINE_LAKE", data_lake.root)
    monkeypatch.setenv("VITRINE_IMAGE_SIZE", "32")
    config.settings.cache_clear()
    yield data_lake
    config.settings.cache_clear()


def _asset_events(uri: str) -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        return session.scalar(
            select(func.count())
            .select_from(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
        )


def test_retrain_dag_trains_reports_and_promotes_then_gate_refuses_worse(airflow_db, vitrine_env) -> None:
    from airflow.dag_processing.dagbag import DagBag

    from pipeline.registry import PRODUCTION_MODEL_ASSET_URI

    lake = vitrine_env
    initial = ensure_production_model(lake, 32)  # untrained production model, as on a fresh deployment
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors
    dag = bag.dags["attribute_model_retrain"]
    assert dag.get_task("train").queue == "gpu"
    events_before = _asset_events(PRODUCTION_MODEL_ASSET_URI)
    versions_before = set(list_versions(lake))
    conf = {
        "epochs": 1,
        "finetune_epochs": 1,
        "image_size": 32,
        "batch_size": 16,
        "attributes": ATTRS,
        "min_improvement": 0.0,
        "min_test_images": 10,
        "accuracy_floors": {},
    }  # floors: their own tests
    run = dag.test(run_conf=conf)
    assert str(getattr(run.state, "value", run.state)) == "success"
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    candidates = sorted(set(list_versions(lake)) - versions_before)
    assert len(candidates) == 1
    version = candidates[0]
    meta = read_metadata(lake, version)
    assert meta["trained"] and [e["phase"] for e in meta["history"]] == [1, 2]
    assert all("val_embedding_loss" in e for e in meta["history"])  # the similarity loss, both phases
    report = f"{layout.model_prefix(version)}/report"
    for name in ("report.html", "metrics.json", "curves.png", "confusion_category.png", "confusion_color.png"):
        assert lake.exists(f"{report}/{name}"), name
    metrics = lake.read_json(f"{report}/metrics.json")
    page = lake.read_bytes(f"{report}/report.html").decode()
    for section in ("Split sizes per class", "Hyperparameters", "finetune_blocks", "Tiny test classes"):
        assert section in page, section  # 12 test images: every class is tiny
    retrieval = metrics["candidate"]["retrieval"]
    assert retrieval["attributes"] == ["category", "color"] and 0 <= retrieval["precision"] <= 1
    assert f"Visual search: precision@5 {retrieval['precision']:.4f}; production " in page
    if any(metrics["candidate"]["mistakes"].values()):
        assert "Worst mistakes" in page and 'src="data:image/jpeg;base64,' in page
    decision = metrics["decision"]
    assert decision["production_version"] == initial and decision["candidate_version"] == version
    assert set(metrics["candidate"]["attributes"]) == set(ATTRS)
    # 2 epochs on these easy images beat the untrained initial model: promoted, Asset emitted
    assert decision["promote"] is True, decision["reason"]
    assert production_version(lake) == version and states["promote"] == "success"
    assert _asset_events(PRODUCTION_MODEL_ASSET_URI) == events_before + 1

    # By hand: rollback and promote write the same pointer and emit the same Asset.
    from pipeline.cli import main

    assert main(["model", "--lake", lake.root, "rollback"]) == 0
    assert production_version(lake) == initial
    assert main(["model", "--lake", lake.root, "promote", version]) == 0
    assert production_version(lake) == version
    assert _asset_events(PRODUCTION_MODEL_ASSET_URI) == events_before + 3

    # A candidate worse than production (an untrained model vs the trained one) is not promoted.
    vocab = load_taxonomy().vocabularies(ATTRS)
    worse = register_model(
        lake,
        build_model(vocab, 32, backbone="compact", seed=99),
        attributes=vocab,
        image_size=32,
        backbone="compact",
    )
    gate = evaluate_candidate(lake, worse, decision["trainset"], GateConfig(min_improvement=0.0, min_test_images=10))
    assert gate["candidate_score"] < gate["production_score"]
    assert gate["promote"] is False and promote_if_better(lake, gate) is False
    assert production_version(lake) == version
    assert lake.exists(f"{layout.model_prefix(worse)}/report/report.html")


def _m(version, images=500, trained=True, **acc):
    return {
        "version": version,
        "images": images,
        "trained": trained,
        "attributes": {a: {"accuracy": v} for a, v in acc.items()},
    }


GATE = GateConfig(min_improvement=0.01, min_test_images=100, accuracy_floors={"category": 0.6, "color": 0.5})


def test_gate_is_pure_and_margin_aware() -> None:
    assert promotion_decision(_m("c", color=0.6), None, GATE)["promote"] is True
    assert promotion_decision(_m("c", color=0.80, size=0.1), _m("p", color=0.78), GATE)["promote"] is True
    assert promotion_decision(_m("c", color=0.785), _m("p", color=0.78), GATE)["promote"] is False
    assert (
        promotion_decision(_m("p", color=0.9), _m("p", color=0.9), GateConfig(min_improvement=0.0))["promote"] is False
    )


def test_gate_refuses_a_test_split_below_the_minimum_size() -> None:
    # the 1-epoch model scoring 0.18 on 11 images must not "beat" anything
    d = promotion_decision(_m("c", images=11, color=0.9), _m("p", color=0.3), GATE)
    assert d["promote"] is False and "fewer than min_test_images 100" in d["reason"]
    assert promotion_decision(_m("c", images=11, color=0.9), None, GATE)["promote"] is False


def test_gate_refuses_an_attribute_below_its_floor_even_without_production() -> None:
    d = promotion_decision(_m("c", category=0.18, color=0.9), None, GATE)
    assert d["promote"] is False and "category accuracy 0.1800 is below its floor 0.60" in d["reason"]
    d = promotion_decision(_m("c", category=0.55, color=0.9), _m("p", category=0.3, color=0.3), GATE)
    assert d["promote"] is False and d["candidate_score"] > d["production_score"]


def test_gate_refuses_a_floored_attribute_without_labelled_test_images() -> None:
    d = promotion_decision(_m("c", category=None, color=0.9), None, GATE)
    assert d["promote"] is False and "category has no labelled test images" in d["reason"]


def test_gate_refuses_a_candidate_lacking_an_attribute_production_serves() -> None:
    d = promotion_decision(_m("c", color=0.95), _m("p", color=0.6, pattern=0.7), GATE)
    assert d["promote"] is False and "lacks attribute(s) production serves: ['pattern']" in d["reason"]
    # an untrained production model serves nothing worth keeping (tagging leaves its values empty)
    d = promotion_decision(_m("c", color=0.95), _m("p", trained=False, color=0.6, pattern=0.7), GATE)
    assert d["promote"] is True, d["reason"]


def test_unknown_options_are_rejected_naming_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['epoch'\]; valid options: .*epochs.*min_test_images"):
        split_options({"epoch": 3})
    with pytest.raises(ValueError, match="unknown option"):
        TrainConfig.from_dict({"min_improvement": 0.1})  # a gate option is not a training option
    config, gate = split_options({"epochs": 3, "min_test_images": 5})
    assert config.epochs == 3 and gate.min_test_images == 5


def test_every_train_option_is_a_described_param_and_a_flag() -> None:
    from airflow.dag_processing.dagbag import DagBag

    from pipeline.cli import build_parser

    params = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["attribute_model_retrain"].params
    names = option_names()
    assert set(params) == set(names)
    assert all(params.get_param(n).description for n in names)
    train = build_parser()._subparsers._group_actions[0].choices["train"]
    dests = {a.dest for a in train._actions}
    assert set(names) <= dests
    args = build_parser().parse_args(["train", "--epochs", "2", "--accuracy-floors", "color=0.7", "--no-augment"])
    assert args.epochs == 2 and args.accuracy_floors == [("color", 0.7)] and args.augment is False


def test_retrain_dag_rejects_an_unknown_conf_key(airflow_db, vitrine_env) -> None:
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"]).dags["attribute_model_retrain"]
    run = dag.test(run_conf={"epoch": 1})
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in run.get_task_instances()}
    assert str(getattr(run.state, "value", run.state)) == "failed"
    assert states["build_training_set"] == "failed" and states["train"] != "success"


def test_precision_at_k_counts_neighbours_of_other_groups_that_share_every_label() -> None:
    from pipeline.train.evaluate import precision_at_k

    emb = np.array([[1, 0], [1, 0.01], [1, 0.1], [0.9, 0.5], [0, 1], [0.1, 1]], "float32")
    labels = [("shoe", "red"), ("shoe", "red"), ("shoe", "red"), ("shoe", "blue"), ("bag", None), ("bag", "red")]
    groups = ["g0", "g0", "g1", "g2", "g3", "g4"]  # rows 0 and 1 are near-duplicates, never neighbours
    # k=1: row 0 → 2 (hit; 1 is its own group), 1 → 2 (hit), 2 → 1 (hit), 3 → 2 (miss), 5 → 4 (miss:
    # an unlabelled color is no match); row 4 is no query
    assert precision_at_k(emb, labels, groups, k=1) == pytest.approx(3 / 5)
    assert precision_at_k(emb, labels, groups, k=1, chunk=2) == pytest.approx(3 / 5)  # same in chunks
    # k=5 (the default): rows 0 and 1 have 4 other-group rows to see, a missing 5th is a miss;
    # hits 1, 1, 2, 0, 0 of 5
    assert precision_at_k(emb, labels, groups) == pytest.approx((1 + 1 + 2) / 25)
    assert precision_at_k(emb[:1], labels[:1], groups[:1]) is None  # no neighbour at all
    assert precision_at_k(emb, [(None, None)] * 6, groups) is None  # no labelled query


def test_report_helpers_pick_confident_mistakes_and_count_splits() -> None:
    import pyarrow as pa

    from pipeline.train.evaluate import split_counts, worst_mistakes

    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], "float32")
    got = worst_mistakes(["b", "b", "b", None], probs, ["a", "b"], ["k0", "k1", "k2", "k3"], k=5)
    assert [(m["image_key"], m["pred"]) for m in got] == [("k0", "a"), ("k2", "a")]  # most confident first
    table = pa.table({"split": ["train", "train", "test", "val"], "color": ["red", "blue", "red", None]})
    assert split_counts(table, ["color", "size"]) == {
        "color": {"blue": {"train": 1, "val": 0, "test": 0}, "red": {"train": 1, "val": 0, "test": 1}}
    }
