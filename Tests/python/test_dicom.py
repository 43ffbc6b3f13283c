"""DICOM through the engine (DCMTK behind Sources/CDICOM): each fixture of Tests/fixtures/make_dicom_fixtures.py
decodes to the values pydicom and numpy compute with the same LUTs (modality: rescale slope and intercept; VOI:
the file's window, else min-max, or the request's `window`; MONOCHROME1 inverted), within one grey level; the
tags come back with each result; bad files are per-file errors, and a folder holding them opens the rest.

Values are read through `dataset.sample` (the input exactly as the model sees it, rescale 1/255) at the
fixtures' own size, so no resize is involved.
"""
from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_modality_lut

from test_client import binary, engine  # noqa: F401 (fixtures)
from test_protocol import SchemaChecker
from unet_engine import ImageDecodeFailed

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import make_dicom_fixtures as fixtures  # noqa: E402

H, W = fixtures.H, fixtures.W
BAD = ["no_pixel_data.dcm", "jpeg2000.dcm", "cut_short.dcm", "short_pixel_data.dcm", "huge_declared.dcm"]


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    out = tmp_path_factory.mktemp("dicom")
    return out, fixtures.write_all(out)


def expected(path: Path, source: Path | None, frame: int = 0, window=None) -> np.ndarray:
    """What the file should decode to on 0...255, computed with pydicom and numpy."""
    ds = pydicom.dcmread(path)
    pixels_from = pydicom.dcmread(source) if source is not None and "lossless" in path.name else ds
    arr = pixels_from.pixel_array
    if int(ds.get("NumberOfFrames", 1)) > 1:
        arr = arr[frame]
    x = apply_modality_lut(arr, ds).astype(np.float64)
    if window is None and "WindowCenter" in ds:
        window = [float(ds.WindowCenter), float(ds.WindowWidth)]
    if window is None:
        y = (x - x.min()) / (x.max() - x.min()) * 255
    else:
        c, w = window
        y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
        y[x <= c - 0.5 - (w - 1) / 2] = 0
        y[x > c - 0.5 + (w - 1) / 2] = 255
    return 255 - y if ds.PhotometricInterpretation == "MONOCHROME1" else y


def class_folders(root: Path, files: list[Path]) -> Path:
    """A two-class tree: every file in class a, the first again in class b."""
    for cls, group in (("a", files), ("b", files[:1])):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for f in group:
            shutil.copy(f, root / cls / f.name)
    return root


def sampled(engine, root: Path, **params) -> dict[str, np.ndarray]:
    """Every sample of class a, by file name, on 0...255."""
    opened = engine.dataset_open("dcm", task="classification", root=str(root), input_shape=[1, H, W], **params)
    result = engine.dataset_sample("dcm", count=opened["size"])
    return {Path(s["id"]).name: s["image_array"][0] * 255 for s in result["samples"] if "/a/" in s["id"]}


def test_every_fixture_decodes_as_pydicom_computes(engine, made, tmp_path):
    out, sources = made
    got = sampled(engine, class_folders(tmp_path, [out / n for n in sources]))
    assert set(got) == set(sources)
    for name, source in sources.items():
        want = expected(out / name, source and out / source)
        tolerance = 1.0 if name == "jpeg_baseline.dcm" else 1e-3  # lossy: two JPEG decoders' rounding
        np.testing.assert_allclose(got[name], want, atol=tolerance, err_msg=name)


def test_lossless_jpeg_gives_the_source_values(engine, made, tmp_path):
    out, sources = made
    got = sampled(engine, class_folders(tmp_path, [out / n for n in sources]))
    for name, source in sources.items():
        if source and "lossless" in name:
            np.testing.assert_array_equal(got[name], got[source], err_msg=name)


def test_frame_and_window_params(engine, made, tmp_path):
    out, _ = made
    root = class_folders(tmp_path / "frames", [out / "multiframe_u16.dcm"])
    for frame in (0, 2):
        got = sampled(engine, root, frame=frame)["multiframe_u16.dcm"]
        np.testing.assert_allclose(got, expected(out / "multiframe_u16.dcm", None, frame=frame), atol=1e-3)
    assert not np.allclose(sampled(engine, root, frame=1)["multiframe_u16.dcm"],
                           sampled(engine, root, frame=0)["multiframe_u16.dcm"])
    root = class_folders(tmp_path / "window", [out / "mono2_s12_rescale.dcm", out / "mono1_u12_window.dcm"])
    got = sampled(engine, root, window=[0, 2000])
    for name in ("mono2_s12_rescale.dcm", "mono1_u12_window.dcm"):
        np.testing.assert_allclose(got[name], expected(out / name, None, window=[0, 2000]), atol=1e-3, err_msg=name)


def test_segment_and_predict_report_the_tags(engine, made, openrpc):
    out, _ = made
    schema = SchemaChecker(openrpc)
    path = out / "mono2_u16_window.dcm"
    ds = pydicom.dcmread(path)
    engine.model_create(architecture="unet", input_shape=[1, H, W], depth=1, filters=2, seed=1,
                        classification_head=2)
    raw = engine.call("segment", {"images": [{"path": str(path)}], "include_patient_id": True})
    schema.check({"jsonrpc": "2.0", "id": 1, "result": raw}, "segment")
    raw = engine.call("predict", {"images": [{"path": str(path)}]})
    schema.check({"jsonrpc": "2.0", "id": 1, "result": raw}, "predict")
    entry = engine.segment([str(path)], encoding="probabilities")["masks"][0]
    tags = entry["dicom"]
    assert tags["StudyInstanceUID"] == ds.StudyInstanceUID and tags["SOPInstanceUID"] == ds.SOPInstanceUID
    assert tags["PhotometricInterpretation"] == "MONOCHROME2" and tags["ViewPosition"] == "PA"
    assert tags["PixelSpacing"] == pytest.approx([0.139, 0.139])
    assert (tags["Rows"], tags["Columns"], tags["BitsStored"]) == (H, W, 16)
    assert "PatientID" not in tags
    assert entry["shape"] == [H, W]  # the mask comes back at the DICOM's own resolution
    prediction = engine.predict([str(path)], include_patient_id=True)["predictions"][0]
    assert prediction["dicom"]["PatientID"] == "TEST-0001"
    # Inline bytes give the same result as the path.
    inline = {"dicom": base64.b64encode(path.read_bytes()).decode()}
    again = engine.segment([inline], encoding="probabilities")["masks"][0]
    np.testing.assert_array_equal(again["mask"], entry["mask"])
    assert again["dicom"]["SOPInstanceUID"] == ds.SOPInstanceUID


@pytest.mark.parametrize("name", BAD)
def test_bad_dicom_is_a_per_file_error(engine, made, name):
    out, _ = made
    engine.model_create(architecture="unet", input_shape=[1, H, W], depth=1, filters=2, seed=1)
    with pytest.raises(ImageDecodeFailed) as e:
        engine.segment([str(out / "bad" / name)])
    if name == "huge_declared.dcm":
        assert "60000x60000" in str(e.value)
    if name == "jpeg2000.dcm":
        assert "JPEG 2000" in str(e.value)
    assert engine.status()["busy"] is False
    assert engine.segment([str(out / "mono2_u8_explicit.dcm")])["masks"][0]["shape"] == [H, W]  # still serving


def test_a_folder_with_bad_files_opens_the_rest(engine, made, tmp_path):
    out, sources = made
    root = class_folders(tmp_path, [out / n for n in sources] + [out / "bad" / n for n in BAD])
    opened = engine.dataset_open("dcm", task="classification", root=str(root), input_shape=[1, H, W])
    assert opened["size"] == len(sources) + 1
    assert sorted(Path(s["path"]).name for s in opened["skipped"]) == sorted(BAD)


def test_one_shot_segment_writes_the_mask_at_the_dicom_resolution(engine, made, tmp_path):
    import json
    import subprocess

    from conftest import engine_binary
    from unet_engine.images import decode_png
    out, _ = made
    engine.model_create(architecture="unet", input_shape=[1, 16, 16], depth=1, filters=2, seed=1)
    engine.model_save(str(tmp_path / "m.safetensors"))
    run = subprocess.run([str(engine_binary()), "segment", "--model", str(tmp_path / "m.safetensors"), "--output-dir",
                          str(tmp_path / "masks"), str(out / "uid_without_extension"), str(out / "bad" / "jpeg2000.dcm")],
                         capture_output=True, timeout=120)
    assert run.returncode == 1  # one image failed
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[0]["dicom"]["Rows"] == H and lines[1]["error"]["code"] == -32003
    assert decode_png((tmp_path / "masks" / "uid_without_extension_mask.png").read_bytes()).shape == (H, W)
