"""Issue 18 §10: an S3 error while tf.data reads images (training, and tagging/embedding) is a
LakeReadError naming the key and the cause (not TensorFlow's opaque UnknownError); a missing
image is still skipped."""

from __future__ import annotations

import io
import re

import boto3
import keras
import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from s3proxy import FaultProxy

from pipeline import layout
from pipeline.imageio import LakeReadError, inference_dataset, lake_reads
from pipeline.lake import Lake
from pipeline.train.data import load_arrays, make_dataset

ATTRIBUTES = {"color": ["red", "blue"]}
SIZE = 16


def _png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (SIZE, SIZE, 3), np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    return out.getvalue()


def _tiny_model() -> keras.Model:
    inputs = keras.Input((SIZE, SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(inputs)
    model = keras.Model(inputs, {"color": keras.layers.Dense(2, name="color")(pooled)})
    model.compile(loss={"color": keras.losses.SparseCategoricalCrossentropy(from_logits=True)})
    return model


def test_an_s3_error_inside_tf_data_names_the_lake_key(moto_server, monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "2",  # the 500s below are permanent: do not wait out 10 attempts
        "AWS_ENDPOINT_URL": moto_server,
    }.items():
        monkeypatch.setenv(key, value)
    boto3.client("s3").create_bucket(Bucket="vitrine-train-reads")
    lake = Lake("s3://vitrine-train-reads/lake")
    keys = []
    for i in range(4):
        data = _png(i)
        keys.append(layout.image_key(f"{i:02d}" + "0" * 62, "png"))
        lake.write_bytes(keys[-1], data)
    table = pa.table({"image_key": keys, "color": ["red", "blue", "red", "blue"]})
    bad = keys[2]
    with FaultProxy(moto_server, rate=1.0, faults=("500",), only=lambda method, path: path.endswith(bad)) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        faulty = Lake("s3://vitrine-train-reads/lake")
        message = rf"^training image {re.escape(bad)}: ClientError: .*\(500\)"
        with pytest.raises(LakeReadError, match=message):
            load_arrays(faulty, table, ATTRIBUTES, SIZE)
        with pytest.raises(LakeReadError, match=message), lake_reads():  # as around a Keras fit
            _tiny_model().fit(
                make_dataset(faulty, table, ATTRIBUTES, SIZE, 2, shuffle=True), epochs=1, verbose=0, shuffle=False
            )
        # tagging and embedding read through inference_dataset, under the same guard
        with pytest.raises(LakeReadError, match=rf"^image {re.escape(bad)}: ClientError: .*\(500\)"), lake_reads():
            list(inference_dataset(faulty, keys, SIZE, 2, failures := {}))
        assert failures == {}  # a failing lake is not a bad image
    assert proxy.injected["500"] >= 2
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    boto3.client("s3").delete_object(Bucket="vitrine-train-reads", Key=f"lake/{bad}")
    images, labels = load_arrays(lake, table, ATTRIBUTES, SIZE)  # a missing image is skipped, as before
    assert images.shape == (3, SIZE, SIZE, 3) and labels["color"].tolist() == [0, 1, 1]
    missing: dict[int, str] = {}
    with lake_reads():
        assert sum(len(p) for p, _ in inference_dataset(lake, keys, SIZE, 2, missing)) == 3
    assert list(missing) == [2] and "missing from the lake" in missing[2]
