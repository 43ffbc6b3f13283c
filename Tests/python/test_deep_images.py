"""16-bit PNGs and uint16 arrays through the engine: samples kept at full precision and windowed onto 0...255 by
the `window` param (`[center, width]`, `"pLOW-pHIGH"`, `"minmax"`) or, by default, the full scale of the bits
the file declares (sBIT) or its values use. Before windowing existed, 12-bit data stored in a 16-bit PNG came
out as v / 257: nearly black.

Values are checked through `dataset.sample` (the normalised input exactly as the model sees it, rescale 1/255)
with an input_shape equal to the image's size, so no resize is involved.
"""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest

from test_client import binary, engine  # noqa: F401 (fixtures)
from unet_engine import InvalidParams

H, W = 12, 16


def png16(values: np.ndarray, sbit: int | None = None) -> bytes:
    """A 16-bit greyscale PNG of `values` (H, W), with an sBIT chunk when given."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    h, w = values.shape
    rows = b"".join(b"\x00" + values[y].astype(">u2").tobytes() for y in range(h))
    sbit_chunk = chunk(b"sBIT", bytes([sbit])) if sbit else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0, 0, 0, 0)) + sbit_chunk
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def ramp(maximum: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.integers(0, maximum + 1, size=(H, W))
    v.flat[0], v.flat[1] = 0, maximum
    return v.astype(np.uint16)


def sampled(engine, tmp_path, png: bytes, **params) -> np.ndarray:
    """The model input (0...1) dataset.sample gives for one 16-bit PNG in a class folder."""
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir(exist_ok=True)
        (tmp_path / cls / "x.png").write_bytes(png)
    engine.dataset_open("deep", task="classification", root=str(tmp_path), input_shape=[1, H, W], **params)
    return engine.dataset_sample("deep", count=1)["samples"][0]["image_array"][0]


def dicom_linear(x: np.ndarray, c: float, w: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 onto 0...255, as pydicom's apply_voi_lut computes it."""
    x = x.astype(np.float64)
    y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
    y[x <= c - 0.5 - (w - 1) / 2] = 0
    y[x > c - 0.5 + (w - 1) / 2] = 255
    return y


def test_12_bit_data_in_a_16_bit_png_fills_the_range(engine, tmp_path):
    v = ramp(4095)
    got = sampled(engine, tmp_path, png16(v))
    np.testing.assert_allclose(got, v / 4095, atol=1e-6)  # was v / 257 / 255: at most 0.06
    assert got.max() == pytest.approx(1.0)


def test_sbit_declares_the_significant_bits(engine, tmp_path):
    v = ramp(1000)  # would read as 10-bit without sBIT
    np.testing.assert_allclose(sampled(engine, tmp_path, png16(v, sbit=12)), v / 4095, atol=1e-6)


def test_full_range_16_bit_is_unchanged(engine, tmp_path):
    v = ramp(65535)
    np.testing.assert_allclose(sampled(engine, tmp_path, png16(v)), v / 257 / 255, atol=1e-6)


def test_window_center_width(engine, tmp_path):
    v = ramp(4095)
    got = sampled(engine, tmp_path, png16(v), window=[1500, 1000])
    np.testing.assert_allclose(got, dicom_linear(v, 1500, 1000) / 255, atol=1e-5)


def test_window_percentiles_and_minmax(engine, tmp_path):
    v = ramp(4095, seed=3)
    lo, hi = np.percentile(v.astype(np.float64), [1, 99])
    expected = np.clip((v - lo) / (hi - lo), 0, 1)
    np.testing.assert_allclose(sampled(engine, tmp_path, png16(v), window="p1-p99"), expected, atol=1e-5)
    expected = (v - v.min()) / (v.max() - v.min())
    np.testing.assert_allclose(sampled(engine, tmp_path, png16(v), window="minmax"), expected, atol=1e-5)


@pytest.mark.parametrize("window", ["p99-p1", "p1-p101", "max", [100, 0], [1, 2, 3], 5])
def test_bad_window_is_invalid_params(engine, tmp_path, window):
    (tmp_path / "x.png").write_bytes(png16(ramp(4095)))
    engine.model_create(architecture="unet", input_shape=[1, H, W], depth=1, filters=2, seed=1)
    with pytest.raises(InvalidParams) as e:
        engine.segment([str(tmp_path / "x.png")], window=window)
    assert e.value.data["field"] == "window"
    assert engine.status()["busy"] is False


def test_uint16_array_and_16_bit_png_give_the_same_mask(engine, tmp_path):
    v = ramp(4095, seed=5)
    (tmp_path / "x.png").write_bytes(png16(v))
    engine.model_create(architecture="unet", input_shape=[1, H, W], depth=1, filters=2, seed=1)
    for window in (None, [2000, 1500], "p2-p98"):
        extra = {} if window is None else {"window": window}
        from_png = engine.segment([str(tmp_path / "x.png")], encoding="probabilities", **extra)["masks"][0]
        from_array = engine.segment([v], encoding="probabilities", **extra)["masks"][0]
        np.testing.assert_array_equal(from_png["mask"], from_array["mask"])
    # The window reaches the model: a different window gives different probabilities.
    a = engine.segment([v], encoding="probabilities")["masks"][0]["mask"]
    b = engine.segment([v], encoding="probabilities", window=[100, 50])["masks"][0]["mask"]
    assert not np.array_equal(a, b)


def test_client_sends_wide_integers_as_uint16():
    from unet_engine.images import encode_array
    assert encode_array(np.array([[0, 4095]], dtype=np.int32))["array"]["dtype"] == "uint16"
    assert encode_array(np.array([[0, 200]], dtype=np.int32))["array"]["dtype"] == "uint8"
    assert encode_array(np.array([[0, 4095]], dtype=np.uint16))["array"]["dtype"] == "uint16"
    with pytest.raises(ValueError):
        encode_array(np.array([[0, 70000]], dtype=np.int32))
