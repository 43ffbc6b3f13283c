"""Issue 22 through the client and the binary: `harmonize` (border crop undone on the mask), `postprocess`
(keep the largest components, fill holes) and the shift augmentation keys, passed through as keywords.

The definitions themselves are tested in Swift against scikit-image, OpenCV and scipy fixtures
(Tests/fixtures/make_shift_fixtures.py); here the point is the protocol: shapes, pass-through, errors.
"""
from __future__ import annotations

import numpy as np
import pytest

from test_client import TINY_UNET, binary, engine, gradient_image  # noqa: F401 (fixtures)
from unet_engine import InvalidParams


def components(mask: np.ndarray) -> int:
    """8-connected components of a boolean mask (a small flood fill; CI has no scipy)."""
    seen = np.zeros_like(mask, bool)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        count += 1
        stack = [start]
        seen[start] = True
        while stack:
            y, x = stack.pop()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = y + dy, x + dx
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
    return count


def test_border_crop_is_undone_on_the_returned_mask(engine):
    engine.model_create(**TINY_UNET)
    chest = gradient_image(32, 32, seed=3)
    boxed = np.pad(chest, ((0, 0), (8, 8)))  # a 4:3 letterbox: black bands left and right
    full = engine.segment([boxed], encoding="probabilities", harmonize={"crop_borders": True})["masks"][0]["mask"]
    alone = engine.segment([chest], encoding="probabilities")["masks"][0]["mask"]
    assert full.shape == (32, 48)
    assert np.all(full[:, :8] == 0) and np.all(full[:, -8:] == 0)
    np.testing.assert_array_equal(full[:, 8:40], alone)


def test_postprocess_keeps_the_largest_component(engine):
    engine.model_create(**dict(TINY_UNET, filters=4))  # 4 filters: its untrained mask is speckled, 2 give one blob
    image = gradient_image(32, 32, seed=5)
    p = engine.segment([image], encoding="probabilities")["masks"][0]["mask"]
    threshold = float(np.quantile(p, 0.7))  # the top 30% of an untrained model's outputs: scattered islands
    plain = engine.segment_masks([image], threshold=threshold)[0] > 0
    kept = engine.segment_masks([image], threshold=threshold, postprocess={"keep_largest": 1, "fill_holes": True})[0] > 0
    assert components(plain) > 1, "the untrained model's mask should be speckled for this test to mean anything"
    assert components(kept) == 1
    with pytest.raises(InvalidParams) as e:
        engine.segment([image], postprocess={"keep_largest": 0})
    assert e.value.field == "postprocess.keep_largest"


def test_harmonize_and_shift_augmentation_pass_through_dataset_open(engine):
    engine.model_create(**TINY_UNET)
    augment = {"gamma": [0.5, 2], "noise": 0.02, "blur": 1, "letterbox_pad": 0.2, "elastic": {"alpha": 10, "sigma": 4}}
    opened = dict(phantoms={"count": 2, "size": [32, 32], "seed": 1}, seed=2, augment=augment,
                  harmonize={"percentiles": [1, 99], "clahe": {"clip_limit": 2, "tile_grid": [4, 4]}})
    engine.dataset_open("ph", **opened)
    def images():
        return [s["image_array"] for s in engine.dataset_sample("ph", 2, augment=True)["samples"]]
    first = images()
    engine.dataset_open("ph", **opened)
    np.testing.assert_array_equal(images(), first)
    result = engine.evaluate("ph", postprocess={"keep_largest": 2, "fill_holes": True})
    assert 0 <= result["dice"] <= 1
    with pytest.raises(InvalidParams) as e:
        engine.dataset_open("bad", phantoms={"count": 2, "size": [16, 16]}, harmonize={"equalize": True, "clahe": {}})
    assert e.value.field == "harmonize.clahe"
    with pytest.raises(InvalidParams) as e:
        engine.dataset_open("bad", phantoms={"count": 2, "size": [16, 16]}, augment={"gamma": [3, 1]})
    assert e.value.field == "augment.gamma"
