"""Issue 15's eff-unet heads through the binary and the client (no torch needed):

- the seed's head, ``classification_head={"classes": 2, "from": "mask"}``: a `class` output that trains through
  `train.step`, and `explain`'s class_map, which applies the head's Dense to every pixel of the mask logit map the
  head pools (so its mean log-odds are the prediction's);
- ``deep_supervision``: outputs `mask.1` ... `mask.3`, each in a step's loss unless its weight is 0, and
  `segment` answering from the averaged mask;
- the flattened parameters of before (`classification_from`, ...) are refused with the field named.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))
from unet_engine import Engine, EngineError  # noqa: E402
from conftest import engine_binary  # noqa: E402

TINY = dict(encoder="efficientnet-b0", decoder_channels=[16, 8, 8, 8, 4], drop_path_rate=0.0, seed=2)


@pytest.fixture
def engine():
    with Engine(str(engine_binary()), threads=1, timeout=600) as e:
        yield e


def discs() -> tuple[list[np.ndarray], list[int]]:
    """A small disc (class 0) and a large one (class 1) on a noisy background, 64x64 grey."""
    rng = np.random.default_rng(3)
    yy, xx = np.indices((64, 64))
    images = []
    for r in (8, 22):
        disc = ((yy - 32) ** 2 + (xx - 32) ** 2 < r * r).astype(np.float32)
        images.append(np.clip(0.25 + 0.5 * disc + 0.05 * rng.standard_normal((64, 64)), 0, 1).astype(np.float32))
    return images, [0, 1]


def test_the_seeds_mask_head_trains_and_class_map_reads_its_mask(engine):
    summary = engine.model_create("eff-unet", [1, 64, 64], classes=2,
                                  classification_head={"classes": 2, "from": "mask", "dropout": 0.0}, **TINY)
    assert [o["name"] for o in summary["outputs"]] == ["mask", "class"]
    assert summary["config"]["classification_head"] == {"classes": 2, "from": "mask", "pooling": "avg", "dropout": 0.0}
    assert summary["config"]["in_channels"] == 1
    images, labels = discs()
    engine.train_configure(optimizer="adam", learning_rate=1e-2, loss="ce", batch_size=2, seed=1)
    losses = [engine.train_step(images=images, labels=labels)["loss"] for _ in range(10)]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0], losses
    # class_map is the head's Dense on every pixel's mask logits, then the softmax: pooling and the Dense commute,
    # so the mean over the pixels of the map's log-odds is the log-odds of the model's own prediction.
    entries = engine.explain(images, "class_map", target=1)["explanations"]
    predictions = engine.predict(images)["predictions"]
    masks = [np.asarray(m["mask"], dtype=np.float64) for m in engine.segment(images, encoding="probabilities")["masks"]]
    for entry, prediction, mask in zip(entries, predictions, masks):
        m = np.asarray(entry["map"], dtype=np.float64)
        assert m.shape == (64, 64) and entry["target"] == 1
        p = np.asarray(prediction["probabilities"], dtype=np.float64)
        np.testing.assert_allclose(np.log(m / (1 - m)).mean(), np.log(p[1] / p[0]), rtol=1e-3, atol=1e-4)
        assert not np.allclose(m, mask[1], atol=1e-3), "the Dense is applied: not the mask's own channel-1 softmax"


def test_deep_supervision_heads_are_outputs_and_in_the_loss(engine):
    summary = engine.model_create("eff-unet", [1, 64, 64], deep_supervision=True, **TINY)
    assert [o["name"] for o in summary["outputs"]] == ["mask", "mask.1", "mask.2", "mask.3"]
    images, _ = discs()
    masks = [img > 0.5 for img in images]
    # A learning rate of 1e-9: the weights barely move between the two steps, so the losses differ by the heads
    # counted (each deep-supervision term is of the order of the main one).
    engine.train_configure(optimizer="sgd", learning_rate=1e-9, loss="bce", batch_size=2, seed=1)
    every = engine.train_step(images=images, masks=masks)["loss"]
    engine.train_configure(loss={"mask": "bce", "mask.1": {"name": "bce", "weight": 0},
                                 "mask.2": {"name": "bce", "weight": 0}, "mask.3": {"name": "bce", "weight": 0}})
    main = engine.train_step(images=images, masks=masks)["loss"]
    assert every > 2 * main > 0
    out = engine.segment(images, encoding="probabilities")["masks"]
    assert np.squeeze(np.asarray(out[0]["mask"])).shape == (64, 64)


@pytest.mark.parametrize("flat", ["classification_from", "classification_pooling", "classification_dropout"])
def test_the_flattened_head_parameters_are_refused(engine, flat):
    with pytest.raises(EngineError) as e:
        engine.call("model.create", {"architecture": "eff-unet", "input_shape": [1, 64, 64],
                                     "classification_head": {"classes": 2}, flat: "mask"})
    assert e.value.code == -32602 and e.value.data["field"] == flat
