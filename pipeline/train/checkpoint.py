"""Training checkpoints in the lake, so a retried training task resumes instead of restarting.

After every epoch the training model's weights and the progress so far (phase, epochs done,
history) go to ``<prefix>/`` in the lake: the weights first, ``state.json`` last, so a state
always names weights that are complete. A new try of the same run reads them back and goes on
from the next epoch. Optimizer moments and early-stopping counters start afresh on resume.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.lake import Lake

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)


@dataclass
class Resume:
    """Where an interrupted run stopped: the phase, epochs done in it, and the history so far."""

    phase: int
    epochs_done: int
    history: list[dict[str, float]] = field(default_factory=list)
    phase1_best: float | None = None


class Checkpoint:
    """Epoch checkpoints of one training run under a lake prefix (e.g. the run's staging)."""

    def __init__(self, lake: Lake, prefix: str):
        self.lake = lake
        self.prefix = prefix.rstrip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}"

    def load(self, model: keras.Model) -> Resume | None:
        """Restore the last checkpoint's weights into ``model``; None when there is none."""
        if not self.lake.exists(self._key("state.json")):
            return None
        state = self.lake.read_json(self._key("state.json"))
        with tempfile.TemporaryDirectory() as tmp:
            local = self.lake.get_file(self._key(state["weights"]), Path(tmp) / state["weights"])
            model.load_weights(local)
        log.info(
            "resuming training from %s: phase %d, %d epoch(s) done",
            self.lake.uri(self.prefix),
            state["phase"],
            state["epochs_done"],
        )
        return Resume(state["phase"], state["epochs_done"], state["history"], state.get("phase1_best"))

    def save(self, model: keras.Model, resume: Resume) -> None:
        """Write the weights, then the state naming them."""
        name = f"phase{resume.phase}-epoch{resume.epochs_done}.weights.h5"
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / name
            model.save_weights(local)
            self.lake.put_file(self._key(name), local)
        previous = self.lake.read_json(self._key("state.json")) if self.lake.exists(self._key("state.json")) else None
        self.lake.write_json(
            self._key("state.json"),
            {
                "weights": name,
                "phase": resume.phase,
                "epochs_done": resume.epochs_done,
                "history": resume.history,
                "phase1_best": resume.phase1_best,
            },
        )
        if previous and previous["weights"] != name:
            self.lake.delete(self._key(previous["weights"]))

    def callback(
        self,
        model: keras.Model,
        phase: int,
        done: list[dict[str, float]],
        initial_epoch: int = 0,
        phase1_best: float | None = None,
    ) -> keras.callbacks.Callback:
        """A Keras callback checkpointing ``model`` at the end of each epoch of ``phase``."""
        import keras

        checkpoint = self

        class EpochCheckpoint(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                entry = {k: float(v) for k, v in (logs or {}).items()}
                history = [*done, *[{**e, "phase": phase} for e in self.seen], {**entry, "phase": phase}]
                self.seen.append(entry)
                checkpoint.save(model, Resume(phase, epoch + 1, history, phase1_best))

            def on_train_begin(self, logs: dict | None = None) -> None:
                self.seen: list[dict[str, float]] = []

        return EpochCheckpoint()

    def clear(self) -> None:
        """Remove the checkpoints once the trained model is registered."""
        self.lake.delete_prefix(self.prefix)
