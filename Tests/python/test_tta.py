"""Test-time augmentation (`tta` on predict and segment): the probabilities of the plain forward and of each
view (flipped, rescaled), brought back to the image's geometry, averaged.

A model whose every convolution kernel is mirror-symmetric left-right is equivariant to a horizontal flip, so
`hflip` must give its plain output; on an ordinary model, `tta` must equal the average the host computes from
separate plain requests of the flipped images.
"""
from __future__ import annotations

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from test_client import binary, engine, gradient_image  # noqa: F401 (fixtures)
from unet_engine import InvalidParams

UNET = dict(architecture="unet", input_shape=[1, 32, 32], depth=2, filters=2, seed=3)


def probabilities(engine, image, **params) -> np.ndarray:
    return engine.segment([image], encoding="probabilities", **params)["masks"][0]["mask"]


def rewrite_kernels(engine, tmp_path, change) -> None:
    """Saves the current model, replaces every 4-D weight tensor t (convolution and transposed convolution
    kernels) by change(t), and loads it back."""
    path = tmp_path / "model.safetensors"
    engine.model_save(str(path))
    with safe_open(str(path), "np") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for k, t in tensors.items():
        if t.ndim == 4:
            tensors[k] = np.ascontiguousarray(change(t))
    save_file(tensors, str(path), metadata=metadata)
    engine.model_load(str(path))


def mirror_symmetric(engine, tmp_path) -> None:
    """Every kernel averaged with its mirror image along the width axis."""
    rewrite_kernels(engine, tmp_path, lambda t: (t + t[..., ::-1]) / 2)


def test_hflip_on_a_mirror_symmetric_model_gives_the_plain_output(engine, tmp_path):
    image = gradient_image(32, 32, seed=4)
    engine.model_create(**UNET)
    ordinary = probabilities(engine, image), probabilities(engine, image, tta=["hflip"])
    assert np.abs(ordinary[0] - ordinary[1]).max() > 1e-4  # on an ordinary model the flip does change things
    mirror_symmetric(engine, tmp_path)
    plain = probabilities(engine, image)
    np.testing.assert_allclose(probabilities(engine, image, tta=["hflip"]), plain, atol=1e-6)
    assert not np.allclose(plain, plain[:, ::-1], atol=1e-4)  # the output itself is not symmetric


def test_tta_is_the_average_of_the_views(engine):
    image = gradient_image(32, 32, seed=5)
    engine.model_create(**UNET, classification_head=3)
    views = [probabilities(engine, image),
             probabilities(engine, np.ascontiguousarray(image[:, ::-1]))[:, ::-1],
             probabilities(engine, np.ascontiguousarray(image[::-1]))[::-1]]
    np.testing.assert_allclose(probabilities(engine, image, tta=["hflip", "vflip"]), np.mean(views, axis=0),
                               atol=1e-6)
    classes = [engine.predict([x])["predictions"][0]["probabilities"]
               for x in (image, np.ascontiguousarray(image[:, ::-1]), np.ascontiguousarray(image[::-1]))]
    got = engine.predict([image], tta=["hflip", "vflip"])["predictions"][0]["probabilities"]
    np.testing.assert_allclose(got, np.mean(classes, axis=0), atol=1e-6)


def test_scale_views_come_back_at_the_image_size(engine):
    image = gradient_image(32, 32, seed=6)
    engine.model_create(**UNET)
    plain = probabilities(engine, image)
    scaled = probabilities(engine, image, tta=["scale:0.5,1.5"])
    assert scaled.shape == plain.shape and 0 <= scaled.min() and scaled.max() <= 1
    assert not np.allclose(scaled, plain)
    np.testing.assert_array_equal(probabilities(engine, image, tta=[]), plain)


@pytest.mark.parametrize("tta, field", [(["rot90"], "tta[0]"), (["hflip", 3], "tta[1]"), (["scale:"], "tta[0]"),
                                        (["scale:0.1"], "tta[0]"), ("hflip", "tta")])
def test_bad_tta_is_invalid_params(engine, tta, field):
    engine.model_create(**UNET)
    with pytest.raises(InvalidParams) as e:
        engine.segment([gradient_image()], tta=tta)
    assert e.value.data["field"] == field


def test_scale_needs_a_model_of_any_input_size(engine):
    engine.model_create(architecture="unet-classifier", input_shape=[1, 32, 32], classes=2, seed=1)
    with pytest.raises(InvalidParams) as e:
        engine.predict([gradient_image()], tta=["scale:0.9"])
    assert e.value.data["field"] == "tta[0]"
    assert len(engine.predict([gradient_image()], tta=["hflip"])["predictions"]) == 1
