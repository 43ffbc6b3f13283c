"""Tiled (sliding-window) segmentation, `segment` with `tile`, against the whole-image forward and against a
numpy re-implementation of MONAI's `sliding_window_inference` blending (window placement and Gaussian importance
map as in monai.inferers.utils / monai.data.utils.compute_importance_map) fed with the engine's own per-window
outputs.

Exactness: a window sees zero padding at its edges where the whole image has neighbours, so tiles equal the
whole-image forward only for a model whose receptive field fits the windows' overlap. A unet of depth 2 whose
3x3 kernels keep only their centre tap sees exactly its aligned 4x4 block, and windows starting at multiples of
4 contain whole blocks: there tiled = whole, in either blending mode.
"""
from __future__ import annotations

import numpy as np
import pytest

from test_client import binary, engine, gradient_image  # noqa: F401 (fixtures)
from test_tta import rewrite_kernels
from unet_engine import InvalidParams

UNET = dict(architecture="unet", input_shape=[1, 32, 32], depth=2, filters=2, seed=3)


def probabilities(engine, images, **params) -> list[np.ndarray]:
    return [m["mask"] for m in engine.segment(images, encoding="probabilities", resize=False, **params)["masks"]]


def centre_taps_only(engine, tmp_path) -> None:
    """Every 3x3 kernel keeps only its centre tap (2x2 transposed-convolution kernels are kept)."""
    def centre(t):
        if t.shape[2:] != (3, 3):
            return t
        out = np.zeros_like(t)
        out[:, :, 1, 1] = t[:, :, 1, 1]
        return out
    rewrite_kernels(engine, tmp_path, centre)


def monai_starts(image: int, roi: int, overlap: float) -> list[int]:
    if image <= roi:
        return [0]
    interval = max(int(roi * (1 - overlap)), 1)
    count = int(np.ceil((image - roi) / interval)) + 1
    return [min(i * interval, image - roi) for i in range(count)]


def monai_gaussian(h: int, w: int, sigma_scale: float = 0.125) -> np.ndarray:
    axes = []
    for n in (h, w):
        x = np.arange(-(n - 1) / 2.0, (n - 1) / 2.0 + 1)
        axes.append(np.exp(x ** 2 / (-2 * (n * sigma_scale) ** 2)))
    m = axes[0][:, None] * axes[1][None, :]
    return np.maximum(m, max(m.min(), 1e-3))


def test_tiles_equal_the_whole_image_where_the_receptive_field_fits(engine, tmp_path):
    engine.model_create(**UNET)
    centre_taps_only(engine, tmp_path)
    image = gradient_image(64, 48, seed=2)
    (whole,) = probabilities(engine, [image])
    for mode in ("constant", "gaussian"):
        (tiled,) = probabilities(engine, [image], tile={"size": [32, 32], "overlap": 0.5, "mode": mode, "batch": 4})
        np.testing.assert_allclose(tiled, whole, atol=2e-6, err_msg=mode)


def test_gaussian_blend_matches_monai_on_the_same_windows(engine):
    engine.model_create(**UNET)
    image = gradient_image(70, 53, seed=3)  # windows overlap unevenly and the last ones are moved back
    roi, overlap = (32, 24), 0.25
    ys, xs = monai_starts(70, roi[0], overlap), monai_starts(53, roi[1], overlap)
    crops = [np.ascontiguousarray(image[y:y + roi[0], x:x + roi[1]]) for y in ys for x in xs]
    outputs = probabilities(engine, crops, batch_size=1)
    weight = monai_gaussian(*roi)
    total, count = np.zeros(image.shape), np.zeros(image.shape)
    for (y, x), out in zip([(y, x) for y in ys for x in xs], outputs):
        total[y:y + roi[0], x:x + roi[1]] += weight * out
        count[y:y + roi[0], x:x + roi[1]] += weight
    (tiled,) = probabilities(engine, [image], tile={"size": list(roi), "overlap": overlap, "mode": "gaussian",
                                                    "batch": 1})
    np.testing.assert_allclose(tiled, total / count, atol=1e-5)
    (whole,) = probabilities(engine, [image])
    assert np.abs(tiled - whole).max() > 1e-4  # an ordinary model does see the window edges


def test_window_batch_does_not_change_the_result_and_one_window_is_the_whole_image(engine):
    engine.model_create(**UNET)
    image = gradient_image(64, 64, seed=4)
    one, four = (probabilities(engine, [image], tile={"size": [32, 32], "batch": b})[0] for b in (1, 4))
    np.testing.assert_allclose(one, four, atol=1e-5)
    (whole,) = probabilities(engine, [image])
    (single,) = probabilities(engine, [image], tile={"size": [64, 64]})
    np.testing.assert_array_equal(single, whole)
    (larger,) = probabilities(engine, [image], tile={"size": [100, 100]})  # clamped to the image
    np.testing.assert_array_equal(larger, whole)


def test_tiles_run_at_full_resolution_by_default(engine):
    engine.model_create(**UNET)
    image = gradient_image(96, 80, seed=5)
    masks = engine.segment([image], tile={"size": [32, 32], "mode": "gaussian"}, encoding="probabilities")["masks"]
    assert masks[0]["shape"] == [96, 80]
    (whole,) = probabilities(engine, [image])
    assert np.abs(masks[0]["mask"] - whole).max() < 0.2


@pytest.mark.parametrize("tile, field", [({"overlap": 0.5}, "tile.size"), ({"size": [0, 32]}, "tile.size[0]"),
                                         ({"size": [32, 32], "overlap": 1.0}, "tile.overlap"),
                                         ({"size": [32, 32], "mode": "cosine"}, "tile.mode"),
                                         ({"size": [32, 32], "stride": 2}, "tile.stride"), ([32, 32], "tile")])
def test_bad_tile_is_invalid_params(engine, tile, field):
    engine.model_create(**UNET)
    with pytest.raises(InvalidParams) as e:
        engine.segment([gradient_image()], tile=tile)
    assert e.value.data["field"] == field


def find_crop(full: np.ndarray, crop: np.ndarray) -> tuple[int, int] | None:
    h, w = crop.shape
    for y in range(full.shape[0] - h + 1):
        for x in range(full.shape[1] - w + 1):
            if np.array_equal(full[y:y + h, x:x + w], crop):
                return y, x
    return None


def test_dataset_tile_sampling_trains_on_full_resolution_crops(engine, tmp_path):
    from unet_engine.images import encode_png
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    image = gradient_image(64, 48, seed=7)
    mask = (image > 150).astype(np.uint8) * 255
    (tmp_path / "images" / "a.png").write_bytes(encode_png(image))
    (tmp_path / "masks" / "a.png").write_bytes(encode_png(mask))
    engine.dataset_open("crops", images=str(tmp_path / "images"), masks=str(tmp_path / "masks"),
                        input_shape=[1, 16, 16], tile=True, seed=3)
    origins = set()
    for epoch in range(4):
        s = engine.dataset_sample("crops", count=1, augment=True, epoch=epoch)["samples"][0]
        crop = np.rint(s["image_array"][0] * 255).astype(np.uint8)
        at = find_crop(image, crop)
        assert at is not None, "the sample is not a window of the full-resolution image"
        np.testing.assert_array_equal(s["mask_array"], mask[at[0]:at[0] + 16, at[1]:at[1] + 16])
        origins.add(at)
    assert len(origins) > 1  # a new window each epoch
    fixed = [engine.dataset_sample("crops", count=1, epoch=e)["samples"][0]["image_array"] for e in (0, 5)]
    np.testing.assert_array_equal(fixed[0], fixed[1])  # without augmentation the window is fixed
    engine.dataset_open("whole", images=str(tmp_path / "images"), masks=str(tmp_path / "masks"),
                        input_shape=[1, 16, 16], seed=3)
    resized = np.rint(engine.dataset_sample("whole", count=1)["samples"][0]["image_array"][0] * 255)
    assert find_crop(image, resized.astype(np.uint8)) is None  # without tile the image is resized


def test_gaussian_tiles_match_monai_sliding_window_inference_on_the_same_weights(engine, tmp_path):
    """MONAI itself (not the re-implementation above) on the PyTorch twin holding the engine's weights. Runs only
    where torch and monai import; CI installs neither.

    150x170 with 64x64 windows: every window is full size, so MONAI pads nothing and its placement (steps of 48,
    the last window moved back to the edge) and Gaussian map (sigma_scale 0.125) are the engine's; measured, the
    two agree to 2.1e-7 (float32 rounding). A side shorter than the window is where they part by design: MONAI
    pads the image (zeros, split before and after) to the window, the engine runs a shorter window, which sees
    the same context as the whole-image forward; there they differ by up to ~0.1 on this untrained model."""
    torch = pytest.importorskip("torch", reason="the MONAI comparison needs torch (not installed in CI)")
    inferers = pytest.importorskip("monai.inferers", reason="the MONAI comparison needs monai (not installed in CI)")
    from safetensors.numpy import load_file
    import torch_models

    config = dict(architecture="unet", input_shape=[1, 64, 64], depth=2, filters=2, seed=5)
    engine.model_create(**config)
    path = tmp_path / "unet.safetensors"
    engine.model_save(path)
    twin = torch_models.from_config(config)
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in load_file(str(path)).items()}, strict=True)
    twin.eval()

    image = gradient_image(150, 170, seed=8).astype(np.float32) / 255  # float32 goes to the model as is
    (tiled,) = probabilities(engine, [image], tile={"size": [64, 64], "overlap": 0.25, "mode": "gaussian",
                                                    "batch": 4})

    def monai(predictor) -> np.ndarray:
        with torch.no_grad():
            out = inferers.sliding_window_inference(torch.from_numpy(image)[None, None], roi_size=(64, 64),
                                                    sw_batch_size=4, predictor=predictor, overlap=0.25,
                                                    mode="gaussian")
        return out[0, 0].double().numpy()

    # The engine blends probabilities: the sigmoid goes inside MONAI's predictor.
    expected = monai(lambda x: torch.sigmoid(twin(x)[0]))
    assert tiled.shape == expected.shape == (150, 170)
    np.testing.assert_allclose(tiled, expected, atol=2e-6)
    # Blending logits and activating afterwards is measurably another result (about 3e-4 here).
    blended_logits = monai(lambda x: twin(x)[0])
    assert np.abs(1 / (1 + np.exp(-blended_logits)) - expected).max() > 2e-5
