"""Training survives being killed: a checkpoint per epoch in the lake, and the next try resumes
from it (the retry of an Airflow task whose worker died)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from pipeline.lake import Lake
from pipeline.registry import read_metadata
from pipeline.taxonomy import load_taxonomy
from pipeline.train.folder_import import import_labelled_folder
from pipeline.train.trainset import build_training_set
from tests.conftest import REPO_ROOT
from tests.support.attributes import write_duplicate_groups, write_labelled_folder

pytestmark = pytest.mark.heavy  # whole DAG runs or training: scheduled first (conftest)

EPOCHS = 5
PREFIX = "staging/run-1/train-checkpoint"
TRAIN = f"""
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
from pipeline.lake import Lake
from pipeline.train.checkpoint import Checkpoint
from pipeline.train.config import TrainConfig
from pipeline.train.train import train_candidate
lake = Lake(sys.argv[1])
config = TrainConfig(attributes=["category", "color"], backbone="compact", image_size=32, epochs={EPOCHS}, finetune_epochs=0,
                     batch_size=16, patience=100, ema_momentum=0)
result = train_candidate(lake, sys.argv[2], config, verbose=0, checkpoint=Checkpoint(lake, "{PREFIX}"))
print("VERSION", result.version)
"""


def test_killed_training_resumes_from_its_last_epoch(tmp_path) -> None:
    write_labelled_folder(tmp_path / "folder", n=48, size=32)
    lake = Lake(f"file://{tmp_path / 'lake'}")
    import_labelled_folder(lake, tmp_path / "folder", retailer="acme")
    write_duplicate_groups(lake)
    trainset = build_training_set(lake, "run-1", load_taxonomy(), ["category", "color"])
    cmd = [sys.executable, "-c", TRAIN, lake.root, trainset]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    state_key = f"{PREFIX}/state.json"

    first = subprocess.Popen(cmd, env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while first.poll() is None and time.monotonic() < deadline:
            if lake.exists(state_key) and lake.read_json(state_key)["epochs_done"] >= 2:
                break
            time.sleep(0.2)
        assert first.poll() is None, (
            f"training ended before it could be killed:\n{first.stdout.read().decode()[-3000:]}"
        )
        os.kill(first.pid, signal.SIGKILL)  # the worker dies: no clean-up, no exception handler
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
    killed = lake.read_json(state_key)
    done = killed["epochs_done"]
    assert 2 <= done < EPOCHS and lake.exists(f"{PREFIX}/{killed['weights']}")

    second = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"phase 1, {done} epoch(s) done" in second.stderr
    version = second.stdout.split("VERSION ")[-1].strip()
    history = read_metadata(lake, version)["history"]
    assert len(history) == EPOCHS, "the resumed run trains only the epochs the killed one had not"
    assert json.dumps(history[:done], sort_keys=True) == json.dumps(killed["history"][:done], sort_keys=True)
    assert not lake.exists(state_key), "checkpoints are removed once the model is registered"
