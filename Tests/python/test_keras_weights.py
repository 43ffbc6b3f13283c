"""`model.load` of Keras files through the built binary and the client: the seed's classifier saved by Keras
(Tests/fixtures/make_keras_fixtures.py: Keras 2 .h5 whole model and weights only, Keras 3 .keras) predicts
through `predict` as Keras did, within 1e-5; a Keras model of another topology is refused naming its first
layer, and the model in the engine is kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))

from unet_engine import CheckpointInvalid, Engine  # noqa: E402
from conftest import engine_binary  # noqa: E402

FIXTURES = REPO / "Tests" / "UNetCoreTests" / "Fixtures" / "keras"
EXPECTED = json.loads((FIXTURES / "predictions.json").read_text())


@pytest.fixture
def engine():
    with Engine(str(engine_binary()), threads=1, timeout=120) as e:
        e.model_create("unet-classifier", EXPECTED["input_shape"], classes=2)
        yield e


def keras_inputs() -> list[np.ndarray]:
    """The images exactly as Keras saw them: float32 arrays, which the engine takes as they are."""
    return [(np.asarray(p) / 255).astype(np.float32) for p in EXPECTED["pixels"]]


@pytest.mark.parametrize("name", ["classifier_keras2.h5", "classifier_weights_keras2.h5", "classifier.keras"])
def test_keras_weights_predict_as_keras_did(engine, name):
    engine.model_load(FIXTURES / name)
    predictions = engine.predict(keras_inputs())["predictions"]
    got = np.array([p["probabilities"] for p in predictions])
    np.testing.assert_allclose(got, np.array(EXPECTED["predictions"], dtype=float), atol=1e-5)


def test_another_topology_is_refused_and_the_model_kept(engine):
    engine.model_load(FIXTURES / "classifier.keras")
    before = engine.predict(keras_inputs()[:1])["predictions"]
    with pytest.raises(CheckpointInvalid) as err:
        engine.model_load(FIXTURES / "other_topology.h5")
    assert err.value.data["layer"] == "conv2d"
    assert engine.predict(keras_inputs()[:1])["predictions"] == before
