"""The multi-head Keras model: shapes, normalization, heads, determinism, backbone weights."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.model import BACKBONES, backbone_of, blended, build_model, embedding_dim_of

VOCAB = {"category": ["a", "b", "c"], "color": ["red", "blue"]}


@pytest.mark.parametrize("backbone", BACKBONES)
def test_outputs_are_a_dict_of_unit_embeddings_and_softmax_heads(backbone: str) -> None:
    model = build_model(VOCAB, 32, backbone=backbone, embedding_dim=16)
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    out = model(x, training=False)
    assert set(out) == {"embedding", "category", "color"}
    emb = np.asarray(out["embedding"])
    assert emb.shape == (4, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-4)
    for name, values in VOCAB.items():
        p = np.asarray(out[name])
        assert p.shape == (4, len(values))
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("backbone", ["compact", "efficientnet_lite0"])
def test_a_blended_embedding_appends_the_weighted_unit_probabilities_to_the_projection(backbone: str) -> None:
    plain = build_model(VOCAB, 32, backbone=backbone, embedding_dim=16, seed=3)
    blend = blended(plain, {"color": 0.5})
    assert {id(w) for w in blend.weights} == {id(w) for w in plain.weights}  # shared, none added
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    p, b = plain(x, training=False), blend(x, training=False)
    color = np.asarray(p["color"])
    expected = np.hstack([np.asarray(p["embedding"]), 0.5 * color / np.linalg.norm(color, axis=1, keepdims=True)])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(np.asarray(b["embedding"]), expected, atol=1e-5)
    np.testing.assert_allclose(np.asarray(b["category"]), np.asarray(p["category"]), atol=1e-6)
    assert embedding_dim_of(blend) == 16 + len(VOCAB["color"]) and embedding_dim_of(plain) == 16
    assert blended(plain, {}) is plain
    with pytest.raises(ValueError, match=r"blend names heads the model lacks: \['pattern'\]"):
        blended(plain, {"pattern": 1.0})


def test_same_seed_same_model() -> None:
    x = np.full((1, 32, 32, 3), 128.0, "float32")
    a = build_model(VOCAB, 32, seed=7)(x)["embedding"]
    b = build_model(VOCAB, 32, seed=7)(x)["embedding"]
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5)


def test_backbone_weights_load_from_a_saved_file(tmp_path) -> None:
    source = build_model(VOCAB, 32, backbone="compact", seed=1)
    path = tmp_path / "backbone.weights.h5"
    backbone_of(source).save_weights(path)
    loaded = build_model(VOCAB, 32, backbone="compact", seed=2, weights=str(path))
    fresh = build_model(VOCAB, 32, backbone="compact", seed=2)
    for w_src, w_loaded in zip(backbone_of(source).get_weights(), backbone_of(loaded).get_weights()):
        np.testing.assert_array_equal(w_src, w_loaded)
    assert any(
        not np.array_equal(a, b) for a, b in zip(backbone_of(source).get_weights(), backbone_of(fresh).get_weights())
    )


def test_bad_arguments_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="backbone"):
        build_model(VOCAB, 32, backbone="resnet9000")
    with pytest.raises(ValueError, match="2 values"):
        build_model({"category": ["only"]}, 32)
    with pytest.raises(FileNotFoundError):
        build_model(VOCAB, 32, backbone="compact", weights=str(tmp_path / "missing.weights.h5"))
    with pytest.raises(ValueError, match="own ImageNet weights"):
        build_model(VOCAB, 32, backbone="efficientnet_lite0", weights=str(tmp_path / "x.weights.h5"))


def _foreground_model():
    import keras

    from pipeline.model import SMALL, foreground_histogram

    small = keras.Input((SMALL, SMALL, 3))
    return keras.Model(small, foreground_histogram(small))


def _on_white(color: tuple[int, int, int], side: int) -> np.ndarray:
    """A SMALL×SMALL photo in [-1, 1]: a centred square of ``color`` on a white background."""
    from pipeline.model import SMALL

    img = np.full((SMALL, SMALL, 3), 255.0, np.float32)
    lo = (SMALL - side) // 2
    img[lo : lo + side, lo : lo + side] = color
    return img / 127.5 - 1.0


def test_foreground_histogram_ignores_the_background_and_the_product_size(tmp_path) -> None:
    import keras

    model = _foreground_model()
    red_small, red_large, blue = (
        _on_white(c, s) for c, s in (((200, 30, 30), 8), ((200, 30, 30), 30), ((30, 40, 160), 8))
    )
    hist = np.asarray(model(np.stack([red_small, red_large, blue])))
    np.testing.assert_allclose(np.linalg.norm(hist, axis=1), 1.0, rtol=1e-4)
    assert hist[0] @ hist[1] > 0.99  # same product color, whatever share of the photo it covers
    assert hist[0] @ hist[2] < 0.1  # another color is another direction
    assert np.isfinite(np.asarray(model(np.stack([_on_white((0, 0, 0), 0)])))).all()  # white only: no NaN

    path = tmp_path / "fg.keras"
    model.save(path)
    np.testing.assert_allclose(np.asarray(keras.models.load_model(path)(red_small[None])), hist[:1], atol=1e-6)


def test_the_foreground_histogram_stays_fixed_while_the_heads_train() -> None:
    from pipeline.model import build_heads

    heads = build_heads(VOCAB)
    trainable = {w.path.split("/")[0] for w in heads.trainable_weights}
    assert not trainable & {"fg_assign", "fg_colors"}
    assert {"hidden", "fg_norm"} <= trainable
