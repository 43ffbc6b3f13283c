"""Data-parallel training over MPI: `mpirun -np 2 unet-engine --mpi` through the client's
`Engine(launcher=[...])`, two ranks of one thread each, against one process.

Without BatchNorm, 5 steps at batch 4 per rank give the weights of one process at batch 8 on the same images
(SGD with momentum: the update is linear in the gradient, so the float sums' rounding stays at ~1e-7; Adam
divides by the root of tiny second moments and magnifies it). With BatchNorm (local batch statistics) the
ranks' weights stay bit-identical to each other; with `sync_batch_norm` they equal one process's at batch 8. A rank killed mid-fit ends the job: the client raises, and the
checkpoint saved before is intact. Skips, saying so, where `mpirun` is absent (`make test` installs Open MPI).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))

from conftest import engine_binary  # noqa: E402
from unet_engine import Engine, EngineDied, EngineError  # noqa: E402

safetensors_numpy = pytest.importorskip("safetensors.numpy")

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None,
                                reason="mpirun is not installed (Debian: openmpi-bin libopenmpi-dev; make deps)")

LAUNCHER = ["mpirun", "-np", "2", "--oversubscribe"]


def train(tmp_path: Path, launcher, batch_size: int, batch_norm: bool, name: str, **configure):
    kw = {"launcher": launcher} if launcher else {}
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
