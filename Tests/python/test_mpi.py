"""Data-parallel training over MPI: `mpirun -np 2 unet-engine --mpi` through the client's
`Engine(launcher=[...])`, two ranks of one thread each, against one process.

Without BatchNorm, 5 steps at batch 4 per rank give the weights of one process at batch 8 on the same images
(SGD with momentum: the update is linear in the gradient, so the float sums' rounding stays at ~1e-7; Adam
divides by the root of tiny second moments and magnifies it). With BatchNorm (local batch statistics) the
ranks' weights stay bit-identical to each other; with `sync_batch_norm` they equal one process's at batch 8. A rank killed mid-fit ends the job: the client raises, and the
checkpoint saved before is intact.

The gradient sums overlapped with the backward (the default) give the same weights, to the bit, as sums after
the backward (`UNET_MPI_OVERLAP=0`), in buckets small enough that there are many. `evaluate` and `fit`'s
validation shard the batches across the ranks and gather every image's scores: their results equal one
process's exactly (every field, ROC curve and per-image rows included), and a `cancel` during validation stops
the fit there. Skips, saying so, where `mpirun` is absent (`make test` installs Open MPI).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))

from conftest import engine_binary  # noqa: E402
from unet_engine import Cancelled, Engine, EngineDied, EngineError  # noqa: E402

safetensors_numpy = pytest.importorskip("safetensors.numpy")

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None,
                                reason="mpirun is not installed (Debian: openmpi-bin libopenmpi-dev; make deps)")

LAUNCHER = ["mpirun", "-np", "2", "--oversubscribe"]


def train(tmp_path: Path, launcher, batch_size: int, batch_norm: bool, name: str, env=None, **configure):
    kw = {"launcher": launcher} if launcher else {}
    if env:
        kw["env"] = {**os.environ, **env}
    with Engine(str(engine_binary()), threads=1, debug_methods=True, timeout=120, **kw) as e:
        e.model_create("unet", [1, 16, 16], depth=2, filters=2, batch_norm=batch_norm, seed=1)
        e.dataset_open("p", task="segmentation", phantoms={"count": 40, "size": [16, 16], "seed": 1})
        e.train_configure(batch_size=batch_size, loss="bce", optimizer="sgd", learning_rate=0.05, seed=2, **configure)
        fit = e.train_fit("p", epochs=1)
        path = tmp_path / f"{name}.safetensors"
        e.model_save(path)
        ranks = e.call("debug.ranks")["ranks"]
    weights = {k: v for k, v in safetensors_numpy.load_file(str(path)).items() if not k.startswith("optimizer")}
    return fit, weights, ranks


def assert_same_weights(w1, w2):
    assert w1.keys() == w2.keys() and w1
    for k in w1:
        relative = np.linalg.norm(w2[k] - w1[k]) / max(np.linalg.norm(w1[k]), 1e-30)
        assert relative <= 1e-5, f"{k}: {relative:.3g}"


def test_two_ranks_equal_one_process_at_twice_the_batch(tmp_path):
    fit2, w2, ranks = train(tmp_path, LAUNCHER, 4, False, "mpi")
    fit1, w1, _ = train(tmp_path, None, 8, False, "single")
    assert len(ranks) == 2 and ranks[0]["pid"] != ranks[1]["pid"]
    assert fit2["step"] == fit1["step"] == 5
    assert fit2["history"][0]["loss"] == pytest.approx(fit1["history"][0]["loss"], rel=1e-5)
    assert_same_weights(w1, w2)
    # Something was learnt: the weights are not those of the initialisation.
    with Engine(str(engine_binary()), threads=1) as e:
        e.model_create("unet", [1, 16, 16], depth=2, filters=2, batch_norm=False, seed=1)
        e.model_save(tmp_path / "init.safetensors")
    w0 = safetensors_numpy.load_file(str(tmp_path / "init.safetensors"))
    assert any(not np.array_equal(w0[k], w1[k]) for k in w1)


def test_batch_norm_ranks_stay_bit_identical(tmp_path):
    _, _, ranks = train(tmp_path, LAUNCHER, 4, True, "bn")
    assert len(ranks) == 2
    assert ranks[0]["weights_digest"] == ranks[1]["weights_digest"] != "0"




def test_sync_batch_norm_equals_one_process_at_twice_the_batch(tmp_path):
    """With sync_batch_norm the BatchNorm statistics are the global batch's: weights and running statistics
    are those of one process at batch 8 (local statistics, the default, differ from it)."""
    fit2, w2, ranks = train(tmp_path, LAUNCHER, 4, True, "sync", sync_batch_norm=True)
    fit1, w1, _ = train(tmp_path, None, 8, True, "single_bn")
    assert ranks[0]["weights_digest"] == ranks[1]["weights_digest"]
    assert fit2["history"][0]["loss"] == pytest.approx(fit1["history"][0]["loss"], rel=1e-5)
    assert_same_weights(w1, w2)
    _, local, _ = train(tmp_path, LAUNCHER, 4, True, "local")
    assert any(np.linalg.norm(local[k] - w1[k]) > 1e-4 * np.linalg.norm(w1[k]) for k in w1 if "running" in k)


def test_killed_rank_ends_the_job_with_an_error(tmp_path):
    e = Engine(str(engine_binary()), threads=1, debug_methods=True, launcher=LAUNCHER)
    try:
        e.model_create("unet", [1, 16, 16], depth=2, filters=2, seed=1)
        e.dataset_open("p", task="segmentation", phantoms={"count": 64, "size": [16, 16], "seed": 1})
        e.train_configure(batch_size=4, loss="bce", optimizer="sgd")
        checkpoint = tmp_path / "before.safetensors"
        e.model_save(checkpoint)
        ranks = {r["rank"]: r["pid"] for r in e.call("debug.ranks")["ranks"]}
        pending = e.start("train.fit", {"dataset": "p", "epochs": 10000})
        time.sleep(1.0)
        os.kill(ranks[1], signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(EngineError) as raised:
            pending.wait(timeout=60)
        assert isinstance(raised.value, EngineDied), raised.value
        assert time.monotonic() - started < 60
    finally:
        e.close(timeout=10)
    with Engine(str(engine_binary()), threads=1) as alone:
        alone.model_load(checkpoint)  # the last checkpoint is intact


def test_overlapped_sums_give_the_weights_of_sums_after_the_backward_bit_for_bit(tmp_path):
    """Buckets of 1000 floats (the model has 6.5 thousand parameters), synchronized BatchNorm's own allreduces
    in between: the overlapped sums run while the backward goes on, and their results are the same."""
    launcher = LAUNCHER + ["-x", "UNET_MPI_OVERLAP", "-x", "UNET_MPI_BUCKET_MB"]
    weights, digests = {}, {}
    for overlap in ("0", "1"):
        env = {"UNET_MPI_OVERLAP": overlap, "UNET_MPI_BUCKET_MB": str(4000 / 2**20)}
        _, weights[overlap], ranks = train(tmp_path, launcher, 4, True, f"overlap{overlap}", env=env,
                                           sync_batch_norm=True)
        assert ranks[0]["weights_digest"] == ranks[1]["weights_digest"]
        digests[overlap] = ranks[0]["weights_digest"]
    assert weights["0"].keys() == weights["1"].keys()
    for k in weights["0"]:
        assert np.array_equal(weights["0"][k], weights["1"][k]), k
    assert digests["0"] == digests["1"]


def test_a_non_finite_loss_rolls_every_rank_back_and_the_job_goes_on():
    with Engine(str(engine_binary()), threads=1, debug_methods=True, timeout=120, launcher=LAUNCHER) as e:
        e.model_create("unet", [1, 16, 16], depth=2, filters=4, seed=1)
        e.train_configure(batch_size=2, loss="bce", optimizer="sgd", learning_rate=0.05)
        before = e.call("debug.ranks")["ranks"]
        huge = np.full((2, 1, 16, 16), 3e38, dtype=np.float32)
        with pytest.raises(EngineError, match="diverged|not finite"):
            e.train_step(images=huge, masks=np.ones((2, 16, 16), dtype=np.float32))
        after = e.call("debug.ranks")["ranks"]
        assert [r["weights_digest"] for r in after] == [r["weights_digest"] for r in before]
        images = np.random.default_rng(0).random((2, 1, 16, 16), dtype=np.float32)
        assert e.train_step(images=images, masks=(images[:, 0] > 0.5).astype(np.float32))["step"] == 1
        ranks = e.call("debug.ranks")["ranks"]
        assert ranks[0]["weights_digest"] == ranks[1]["weights_digest"] != before[0]["weights_digest"]


def evaluations(launcher, checkpoint: Path, tmp_path: Path):
    """The segmentation model of `checkpoint` (made if missing, after one epoch of fit validated on the same
    data) and a classifier, evaluated with per-image rows at a batch size that leaves the ranks unequal shares."""
    kw = {"launcher": launcher} if launcher else {}
    out = {}
    with Engine(str(engine_binary()), threads=1, timeout=120, **kw) as e:
        e.dataset_open("seg", task="segmentation", phantoms={"count": 34, "size": [16, 16], "seed": 3},
                       validation_split=0.4, seed=1)
        if not checkpoint.exists():
            e.model_create("unet", [1, 16, 16], depth=2, filters=4, batch_norm=True, seed=1)
            e.train_configure(batch_size=3, loss="bce+dice", optimizer="adam", learning_rate=0.01, seed=2)
            out["fit"] = e.train_fit("seg", validation="seg.val", epochs=1)
            e.model_save(checkpoint)
        else:
            e.model_load(checkpoint)
        out["seg"] = e.evaluate("seg.val", batch_size=3, per_image=True)
        e.dataset_open("cls", task="classification", phantoms={"count": 25, "size": [16, 16], "seed": 4})
        e.model_create("unet", [1, 16, 16], depth=2, filters=4, classification_head=2, seed=5)
        out["cls"] = e.evaluate("cls", batch_size=2, per_image=True)
    return out


def test_evaluate_on_two_ranks_equals_one_process_exactly(tmp_path):
    checkpoint = tmp_path / "seg.safetensors"
    mpi = evaluations(LAUNCHER, checkpoint, tmp_path)
    single = evaluations(None, checkpoint, tmp_path)
    for kind in ("seg", "cls"):
        assert mpi[kind] == single[kind], kind  # every field, to the last digit
    assert len(single["seg"]["per_image"]) == single["seg"]["count"] > 0
    assert single["cls"]["count"] == 25 and len(single["cls"]["roc"]["fpr"]) > 2
    assert {"auc", "pr_auc", "youden", "confusion_matrix", "report"} <= set(single["cls"])
    # fit's validation (sharded the same way) reports what evaluate measures on the final weights.
    epoch = mpi["fit"]["history"][0]
    assert epoch["val_loss"] == mpi["seg"]["loss"] and epoch["val_dice"] == mpi["seg"]["dice"]


def test_cancel_during_validation_stops_the_fit_there():
    with Engine(str(engine_binary()), threads=1, debug_methods=True, timeout=120, launcher=LAUNCHER) as e:
        e.model_create("unet", [1, 32, 32], depth=2, filters=4, seed=1)
        e.dataset_open("train", task="segmentation", phantoms={"count": 8, "size": [32, 32], "seed": 1})
        e.dataset_open("val", task="segmentation", phantoms={"count": 400, "size": [32, 32], "seed": 2})
        e.train_configure(batch_size=4, loss="bce", optimizer="sgd")
        steps, outcome = [], {}
        pending = e.start("train.fit", {"dataset": "train", "validation": "val", "epochs": 1},
                          on_progress=lambda p: steps.append(p) if p.get("kind") == "step" else None)

        def collect():  # wait() runs the progress callback as the notifications arrive
            try:
                outcome["result"] = pending.wait(timeout=120)
            except EngineError as error:
                outcome["error"], outcome["at"] = error, time.monotonic()

        collector = threading.Thread(target=collect)
        collector.start()
        deadline = time.monotonic() + 60
        while not steps and time.monotonic() < deadline:
            time.sleep(0.01)
        assert steps, "no step was reported"
        time.sleep(0.2)  # the only step is done: the fit is validating 400 images (a minute unoptimized)
        pending.cancel()
        cancelled_at = time.monotonic()
        collector.join(120)
        assert isinstance(outcome.get("error"), Cancelled), outcome
        assert outcome["at"] - cancelled_at < 10
        assert outcome["error"].data["history"] == []  # the epoch's validation did not finish
        ranks = e.call("debug.ranks")["ranks"]  # both ranks serve on, in step
        assert ranks[0]["weights_digest"] == ranks[1]["weights_digest"]
