"""`train.configure`'s `lr_schedule` through the built binary: the rate of each `train.step` follows PyTorch's
recorded rates (Tests/UNetCoreTests/Fixtures/lr_schedules.json, written by Tests/fixtures/make_schedule_fixtures.py),
and `train.fit` reports the scheduled rate in every progress notification and in History.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))

from unet_engine import Engine, InvalidParams  # noqa: E402
from conftest import engine_binary  # noqa: E402

FIXTURE = json.loads((REPO / "Tests" / "UNetCoreTests" / "Fixtures" / "lr_schedules.json").read_text())


@pytest.fixture
def engine():
    with Engine(str(engine_binary()), threads=1, timeout=120) as e:
        e.dataset_open("seg", task="segmentation", phantoms={"count": 8, "size": [32, 32], "seed": 5},
                       input_shape=[1, 32, 32], seed=1)
        # The rates depend on the step alone, so the steps run on the smallest unet there is.
        e.model_create(architecture="unet", input_shape=[1, 32, 32], depth=1, filters=1, seed=7)
        yield e


@pytest.mark.parametrize("name", ["one_cycle"])
def test_each_step_runs_with_pytorchs_rate(engine, name):
    case = next(c for c in FIXTURE["cases"] if c["name"] == name)
    engine.train_configure(optimizer="sgd", learning_rate=case["learning_rate"], batch_size=1,
                           lr_schedule=case["lr_schedule"])
    rates = [engine.train_step("seg")["learning_rate"] for _ in range(len(case["rates"]))]
    # float32 in the engine, float64 in PyTorch.
    np.testing.assert_allclose(rates, [float(r) for r in case["rates"]], rtol=1e-6)


def test_fit_reports_the_scheduled_rate_in_progress_and_history(engine):
    config = engine.train_configure(learning_rate=0.01, batch_size=4,
                                    lr_schedule={"type": "exponential", "decay_rate": 0.5, "by": "epoch"})
    assert config["lr_schedule"] == {"type": "exponential", "decay_steps": 1, "decay_rate": 0.5,
                                     "staircase": False, "by": "epoch"}
    events = []
    history = engine.train_fit("seg", epochs=3, on_progress=events.append)["history"]
    assert [h["learning_rate"] for h in history] == [0.01, 0.005, 0.0025]
    steps = [e for e in events if e["kind"] == "step"]
    assert steps and all(e["learning_rate"] == history[e["epoch"]]["learning_rate"] for e in steps)


def test_bad_schedule_is_refused_and_the_model_untouched(engine):
    before = engine.train_configure()
    with pytest.raises(InvalidParams) as err:
        engine.train_configure(lr_schedule={"type": "cosine", "decay_steps": -5})
    assert err.value.field == "lr_schedule.decay_steps"
    assert engine.train_configure() == before
    engine.train_configure(lr_schedule={"type": "cosine", "decay_steps": 10, "warmup_steps": 50})
    with pytest.raises(InvalidParams) as err:
        engine.train_fit("seg", epochs=2)
    assert err.value.field == "lr_schedule.warmup_steps"
    assert engine.train_step("seg")["step"] == 1, "the refused fit took no step"
