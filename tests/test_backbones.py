"""EfficientNet-Lite0 port: equivalence with the PyTorch reference, and the safe state-dict reader."""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from pipeline.backbones import efficientnet_lite as lite
from pipeline.backbones.torch_legacy import MAGIC, UnsafePickleError, load_state_dict

REFERENCE = Path(__file__).parent / "data" / "efficientnet_lite0_reference.npz"


def test_keras_port_matches_the_pytorch_reference_logits() -> None:
    ref = np.load(REFERENCE)  # saved by bench/efficientnet_port.py --reference
    net = lite.pretrained(include_top=True)
    model = net.model(ref["images"].shape[1], name="efficientnet_lite0")
    logits = np.asarray(model(ref["images"].astype("float32"), training=False))
    np.testing.assert_allclose(logits, ref["logits"], atol=1e-4, rtol=0)
    assert logits.argmax(1).tolist() == ref["logits"].argmax(1).tolist()


def test_backbone_slices_compose_to_the_whole_network() -> None:
    net = lite.pretrained()
    x = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    whole = np.asarray(net.model(64)(x))
    cut = lite.N_BLOCKS - 2
    bottom, top = net.model(64, end=cut, name="bottom"), net.model(64, start=cut, name="top")
    assert bottom.output.shape[1:] == net.cut_shape(64, cut)
    np.testing.assert_allclose(np.asarray(top(bottom(x))), whole, atol=1e-5)
    assert whole.shape == (2, 2, 2, lite.FEATURES)


def _legacy_file(state_pickle: bytes, storages: list[tuple[str, bytes, int]]) -> bytes:
    out = io.BytesIO()
    for obj in (MAGIC, 1001, {"protocol_version": 1001}):
        pickle.dump(obj, out, protocol=2)
    out.write(state_pickle)
    pickle.dump([key for key, _, _ in storages], out, protocol=2)
    for _, data, numel in storages:
        out.write(struct.pack("<q", numel) + data)
    return out.getvalue()


def test_reader_refuses_any_other_global(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_file(pickle.dumps({"w": Evil()}, protocol=2), []))
    with pytest.raises(UnsafePickleError, match="posix.system|os.system"):
        load_state_dict(path)


def test_reader_rejects_zip_files_and_truncated_storages(tmp_path) -> None:
    zipped = tmp_path / "new.pth"
    zipped.write_bytes(b"PK\x03\x04rest")
    with pytest.raises(ValueError, match="zip-format"):
        load_state_dict(zipped)
    real = lite.weights_path().read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(real[: len(real) - 1000])
    with pytest.raises(ValueError, match="truncated"):
        load_state_dict(cut)


def test_reader_gives_every_tensor_of_the_wheel() -> None:
    state = load_state_dict(lite.weights_path())
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].shape == (1000, 1280)
    assert sum(v.size for k, v in state.items() if "num_batches" not in k) == 4_694_024
