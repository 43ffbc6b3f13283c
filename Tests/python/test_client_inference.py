"""The Python client's conveniences against the real binary: numpy batches that say what they are, and the
Keras-style summary table.

A 3-D array (N, H, W) with N = 3 used to be sent as one RGB image and other N as an N-channel image: the client
guessed. Now it takes a 3-D array as a batch only with ``batch=True``, as one image with ``batch=False``, and
refuses to guess otherwise. The fixtures (`engine`, `binary`) and the test images come from test_client.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from test_client import TINY_UNET, binary, engine, gradient_image  # noqa: F401 (fixtures)
from unet_engine.images import encode_images


def stack(n: int, h: int = 32, w: int = 32) -> np.ndarray:
    return np.stack([gradient_image(h, w, seed=s) for s in range(n)])


@pytest.mark.parametrize("n", [2, 3, 5])
def test_a_3d_array_is_refused_unless_batch_says_what_it_is(engine, n):
    engine.model_create(**TINY_UNET)
    images = stack(n)
    for call in (engine.segment_masks, engine.segment):
        with pytest.raises(ValueError, match="batch=True"):
            call(images)
    assert engine.status()["busy"] is False  # nothing was sent

    masks = engine.segment_masks(images, batch=True)
    assert len(masks) == n
    one_by_one = engine.segment_masks(list(images))
    for a, b in zip(masks, one_by_one):
        np.testing.assert_array_equal(a, b)


def test_batch_false_sends_one_image_of_c_channels(engine):
    engine.model_create(**TINY_UNET)
    rgb = stack(3)
    (mask,) = engine.segment_masks(rgb, batch=False)  # planar RGB, made grey by the engine
    assert mask.shape == (32, 32)
    np.testing.assert_array_equal(mask, engine.segment_masks([rgb])[0])


def test_batch_applies_to_predict_and_train_step(engine):
    engine.model_create(**TINY_UNET, classification_head=2)
    images = stack(3)
    with pytest.raises(ValueError, match="batch=False"):
        engine.predict(images)
    assert len(engine.predict(images, batch=True)["predictions"]) == 3
    with pytest.raises(ValueError):
        engine.train_step(images=images[:2], labels=[0, 1])
    step = engine.train_step(images=images[:2], labels=[0, 1], batch=True)
    assert step["step"] == 1


def test_shapes_that_are_plainly_one_image_need_no_batch():
    grey = gradient_image()
    assert len(encode_images(grey)) == 1
    assert len(encode_images(grey[None])) == 1  # (1, H, W): one grey image either way
    (rgb,) = encode_images(np.stack([grey] * 3, axis=-1))  # (H, W, 3), as Pillow gives it
    assert rgb["array"]["shape"] == [3, 32, 32]
    assert len(encode_images(np.stack([grey] * 4)[:, None])) == 4  # (N, 1, H, W)
    with pytest.raises(ValueError, match="batch=True takes"):
        encode_images(grey, batch=True)


def test_summary_table_has_keras_layout(engine):
    summary = engine.model_create(**TINY_UNET, batch_norm=True)
    table = engine.summary_table()
    assert table == engine.summary_table(summary)
    lines = table.split("\n")
    assert lines[0] == 'Model: "unet"'
    assert set(lines[1]) == {"_"} and set(lines[3]) == {"="} and len(lines[1]) == len(lines[3])
    header = lines[2]
    assert header.split() == ["Layer", "(type)", "Output", "Shape", "Param", "#"]
    shape_at, params_at = header.index("Output Shape"), header.index("Param #")
    rows = [line for line in lines[4:] if line and not set(line) <= {"=", "_"} and ":" not in line]
    assert len(rows) == len(summary["layers"])
    for row, layer in zip(rows, summary["layers"]):
        assert row[:shape_at].strip() == f"{layer['name']} ({layer['type']})"
        shape = "(None, " + ", ".join(str(n) for n in layer["output_shape"]) + ")"
        assert row[shape_at:params_at].strip() == shape
        assert row[params_at:].strip() == str(layer["params"])
    # enc1.conv1: 1 -> filters channels, 3x3, no bias before BatchNorm
    assert rows[0].split()[-1] == str(9 * TINY_UNET["filters"])
    total, trainable = summary["total_params"], summary["trainable_params"]
    assert total > trainable  # BatchNorm's running statistics count, as in Keras
    assert lines[-4:] == [f"Total params: {total:,}", f"Trainable params: {trainable:,}",
                          f"Non-trainable params: {total - trainable:,}", lines[1]]
