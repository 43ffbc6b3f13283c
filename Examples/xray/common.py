"""Shared setup for the real-data runs: find the data and the engine, time things, write a JSON report."""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "Examples", "python"))  # use the client without installing it

from unet_engine import Engine  # noqa: E402

DATA = os.environ.get("UNET_DATA", os.path.abspath(os.path.join(REPO, "..", "shared", "data")))


def engine(threads=None):
    """The release engine when built (it is much faster), else whatever the client finds."""
    release = os.path.join(REPO, ".build", "release", "unet-engine")
    binary = os.environ.get("UNET_ENGINE_BIN") or (release if os.path.exists(release) else None)
    return Engine(binary=binary, threads=threads, timeout=None)


def require(path):
    if not os.path.isdir(path):
        sys.exit(f"{path} is absent: this run needs the real data (see ../shared/data/README.md)")
    return path


def write_report(path, report):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"report: {path}")


class Clock:
    def __init__(self):
        self.start = time.time()

    def seconds(self):
        return round(time.time() - self.start, 1)


def fit_keras_style(e, dataset, epochs, out, lr_plateau, early_stopping, best):
    """`e.fit` on `dataset` against `dataset.val` with Keras' three callbacks: ReduceLROnPlateau
    (`lr_plateau`: monitor, factor, patience, min_lr), EarlyStopping restoring the best weights (`early_stopping`:
    monitor, patience) and ModelCheckpoint of the best model by `best` into `out`/best.safetensors."""
    monitor, factor, patience, min_lr = lr_plateau
    path = os.path.abspath(os.path.join(out, "best.safetensors"))
    return e.fit(dataset, validation=f"{dataset}.val", epochs=epochs, callbacks={
        "reduce_lr_on_plateau": {"monitor": monitor, "factor": factor, "patience": patience, "min_lr": min_lr},
        "early_stopping": {"monitor": early_stopping[0], "patience": early_stopping[1], "restore_best_weights": True},
        "checkpoint": {"path": path, "monitor": best, "save_best_only": True}})
