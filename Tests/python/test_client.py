"""The Python client (`Examples/python`, module `unet_engine`) driving the real `unet-engine` binary.

Every protocol method is called through its client method; errors arrive as the `EngineError` subclass for
their code; a request is cancelled from another thread; an engine killed mid-call raises `EngineDied` (with its
stderr) instead of hanging; images and masks survive the trip between numpy and the engine.

Methods the engine does not serve yet (by `engine.hello`'s `methods`) make their tests skip, naming them, so the
tests run by themselves once the methods land. Models are tiny (unet, depth 2, 2 filters, 32x32: in the debug
engine a 4-filter one trains about 20 times slower).
The binary is `$UNET_ENGINE_BIN`, else the checkout's `.build/debug/unet-engine`.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import stat
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))

import unet_engine  # noqa: E402
from unet_engine import (AsyncEngine, Cancelled, Engine, EngineClosed, EngineDied, EngineError,  # noqa: E402
                         EngineFileNotFound, EngineTimeout, History, ImageDecodeFailed, InvalidParams, MethodNotFound,
                         Mask, NoModel, Prediction, Predictions, Samples, ShapeMismatch,
                         UnsupportedByModel)
from unet_engine.images import decode_array, decode_png, encode_array, encode_image, encode_png  # noqa: E402
from conftest import engine_binary as binary_path  # noqa: E402

#: Seconds any single call may take before the test fails instead of hanging (a debug build is slow).
CALL_TIMEOUT = 120
TINY_UNET = dict(architecture="unet", input_shape=[1, 32, 32], depth=2, filters=2, seed=7)




@pytest.fixture(scope="module")
def binary() -> str:
    return str(binary_path())


@pytest.fixture
def engine(binary):
    """A fresh engine per test, with the debug methods, one compute thread and a per-call safety timeout."""
    with Engine(binary, threads=1, debug_methods=True, timeout=CALL_TIMEOUT) as e:
        yield e


def require(engine: Engine, *methods: str) -> None:
    missing = [m for m in methods if m not in engine.methods]
    if missing:
        pytest.skip(f"the engine does not serve {', '.join(missing)} yet (not in engine.hello's methods)")


def gradient_image(h: int = 32, w: int = 32, seed: int = 0) -> np.ndarray:
    """A uint8 HxW test image: a bright disc on a noisy ramp (the disc is the 'foreground')."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    cy, cx, r = h * (0.3 + 0.4 * rng.random()), w * (0.3 + 0.4 * rng.random()), min(h, w) * 0.25
    image = 40 + 60 * x / w + rng.normal(0, 8, (h, w))
    image[(y - cy) ** 2 + (x - cx) ** 2 < r * r] += 120
    return np.clip(image, 0, 255).astype(np.uint8)


def disc_mask(image: np.ndarray) -> np.ndarray:
    return image > 150


def wait_until(predicate, what: str, limit: float = CALL_TIMEOUT) -> None:
    """Polls `predicate` (not a timing assertion: the limit only turns a hang into a failure)."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def running_request(engine: Engine, method: str):
    """The id of the request of `method` the engine is running, once it runs."""
    found = {}

    def check():
        current = engine.status()["current"]
        if current and current["method"] == method:
            found["id"] = current["id"]
            return True
        return False

    wait_until(check, f"{method} to run")
    return found["id"]


# engine.* and the client's coverage of the method table


def test_every_served_method_has_a_client_method(engine):
    hello = engine.hello()
    assert hello["name"] == "unet-engine"
    assert {"protocol_version", "version", "architectures", "threads", "limits", "blas"} <= set(hello)
    assert hello["threads"] == 1
    # Every method served (debug.* too: this engine has them) has its client method; test_client_signatures
    # checks every method of openrpc.json, served or not, and each one's params.
    client_name = {"engine.hello": "hello", "engine.status": "status", "engine.shutdown": "shutdown"}
    assert "debug.sleep" in hello["methods"]
    for method in hello["methods"]:
        name = client_name.get(method, method.replace(".", "_"))
        assert callable(getattr(Engine, name, None)), f"no Engine.{name} for {method}"
        assert getattr(Engine, name).__doc__, f"Engine.{name} has no docstring"


def test_pid_is_the_running_engine_and_close_ends_it(binary):
    engine = Engine(binary, threads=1)
    os.kill(engine.pid, 0)  # raises if there is no such process
    assert engine.alive
    assert engine.close() == 0
    assert not engine.alive
    assert engine.close() == 0  # idempotent
    with pytest.raises(EngineClosed):
        engine.hello()


def blas_free_environment(**extra: str) -> dict:
    """This process's environment without the host's OPENBLAS_* and UNET_BLAS_* variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS_", "UNET_BLAS_"))}
    return {**env, **extra}


def test_blas_core_reaches_the_engine(binary):
    with Engine(binary, threads=1, env=blas_free_environment(), blas_core="prescott") as engine:
        blas = engine.hello()["blas"]
        assert (blas["core"], blas["chosen_by"], blas["corrected"]) == ("Prescott", "override", False)
    # By default the engine decides, and the user's own OPENBLAS_CORETYPE wins ...
    with Engine(binary, threads=1, env=blas_free_environment(OPENBLAS_CORETYPE="Prescott")) as engine:
        blas = engine.hello()["blas"]
        assert (blas["core"], blas["chosen_by"]) == ("Prescott", "OPENBLAS_CORETYPE")
    # ... unless asked for "auto": the engine's best core for this CPU.
    with Engine(binary, threads=1, env=blas_free_environment(OPENBLAS_CORETYPE="Prescott"), blas_core="auto") as e:
        blas = e.hello()["blas"]
        if blas["best_core"] is None:
            pytest.skip(f"no better core than Prescott for this CPU ({blas['cpu']})")
        assert (blas["core"], blas["chosen_by"], blas["restarted_from"]) == (blas["best_core"], "engine", "Prescott")


# OpenBLAS's x86-64 cores older than AVX2 + FMA (BLASCore.levels 0-3): a fallback where the CPU has a best core.
PRE_AVX2_CORES = {"Unknown", "Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Atom", "Athlon", "Opteron",
                  "Opteron_SSE3", "Barcelona", "Nano", "Bobcat", "Core2", "Penryn", "Dunnington", "Nehalem",
                  "Sandybridge", "Bulldozer", "Piledriver", "Steamroller", "Excavator"}


def test_the_launchers_default_engine_runs_the_best_core(binary):
    # Without any BLAS variable the launcher leaves the choice to the engine's start-up check: where OpenBLAS fell
    # back to an older core (0.3.21's Prescott on Intel's family 6, model 207), the engine has restarted itself.
    with Engine(binary, threads=1, env=blas_free_environment()) as engine:
        blas = engine.hello()["blas"]
    if blas["best_core"] is None:
        pytest.skip(f"no better core than OpenBLAS's own for this CPU ({blas['cpu']})")
    if blas["chosen_by"] == "engine":
        assert blas["core"] == blas["best_core"] and blas["corrected"] and blas["restarted_from"], blas
    else:
        # OpenBLAS's own choice kept: the best core itself, or one of the same or a newer level, never a fallback
        # to the SSE or AVX kernels on a CPU that has a best core (AVX2 and FMA at least).
        assert (blas["chosen_by"], blas["corrected"], blas["restarted_from"]) == ("openblas", False, None), blas
        assert blas["core"] not in PRE_AVX2_CORES, blas


def test_an_unknown_blas_core_stops_the_engine_with_a_message(binary):
    with pytest.raises(ValueError):
        Engine(binary, blas_core="")
    engine = Engine(binary, threads=1, env=blas_free_environment(), blas_core="Bogus")
    with pytest.raises(EngineDied) as e:
        engine.hello()
    assert e.value.returncode == 2 and "unknown BLAS core Bogus" in e.value.stderr_tail
    engine.close()


def test_status_idle_and_busy(engine):
    idle = engine.status()
    assert idle["busy"] is False and idle["current"] is None and idle["queue"] == 0
    pending = engine.start("debug.sleep", {"seconds": 30})
    assert running_request(engine, "debug.sleep") == pending.id
    assert engine.status()["busy"] is True
    pending.cancel()
    with pytest.raises(Cancelled):
        pending.wait(CALL_TIMEOUT)


def test_close_lets_the_running_request_finish(binary):
    engine = Engine(binary, threads=1, debug_methods=True)
    pending = engine.start("debug.sleep", {"seconds": 0.3})
    assert engine.close() == 0
    assert pending.wait(5) == {"slept_s": 0.3}


def test_shutdown_answers_then_the_engine_exits(binary):
    engine = Engine(binary, threads=1)
    assert engine.shutdown() == {}
    assert engine.returncode == 0
    with pytest.raises(EngineClosed):
        engine.status()


# model.*


def test_model_architectures_and_named_outputs(engine):
    archs = {a["name"]: a for a in engine.model_architectures()}
    assert list(archs) == ["unet-classifier", "unet", "eff-unet"]
    depth = next(p for p in archs["unet"]["parameters"] if p["name"] == "depth")
    assert (depth["type"], depth["default"], depth["minimum"], depth["maximum"]) == ("integer", 4, 1, 6)
    summary = engine.model_create(**TINY_UNET, classification_head=3)
    assert [(o["name"], o["kind"], o["channels"]) for o in summary["outputs"]] == [("mask", "mask", 1), ("class", "class", 3)]
    with pytest.raises(InvalidParams) as e:
        engine.model_create("unet-classifier", [1, 8, 8], depth=2)
    assert e.value.field == "depth" and "classes" in e.value.data["reason"]


def test_per_head_losses(engine):
    engine.model_create(**TINY_UNET, classification_head=2)
    config = engine.train_configure(loss={"mask": "bce+dice", "class": {"name": "ce", "weight": 0.5}})
    assert config["loss"] == {"class": {"name": "ce", "weight": 0.5}, "mask": {"name": "bce+dice", "weight": 1}}
    with pytest.raises(InvalidParams) as e:
        engine.train_configure(loss={"mask": {"name": "dice", "weight": -2}})
    assert e.value.field == "loss.mask.weight"
    assert engine.train_configure(loss="dice")["loss"] == "dice"


def test_model_create_summary_save_load(engine, tmp_path):
    created = engine.model_create(**TINY_UNET, classification_head=2)
    summary = engine.model_summary()
    assert created == summary
    assert summary["architecture"] == "unet" and summary["input_shape"] == [1, 32, 32]
    assert summary["total_params"] == sum(layer["params"] for layer in summary["layers"])
    assert summary["config"]["depth"] == 2 and summary["config"]["filters"] == TINY_UNET["filters"]

    images = [gradient_image(seed=s) for s in range(3)]
    before = engine.predict(images)["predictions"]
    saved = engine.model_save(tmp_path / "tiny.safetensors")
    assert saved["bytes"] == (tmp_path / "tiny.safetensors").stat().st_size > 0
    assert saved["path"] == str(tmp_path / "tiny.safetensors")

    engine.model_create(**dict(TINY_UNET, seed=99), classification_head=2)
    assert engine.predict(images)["predictions"] != before
    loaded = engine.model_load(tmp_path / "tiny.safetensors")
    assert loaded["total_params"] == summary["total_params"]
    assert engine.predict(images)["predictions"] == before


def test_unet_classifier_predicts(engine):
    engine.model_create(architecture="unet-classifier", input_shape=[1, 32, 32], classes=2)
    predictions = engine.predict([gradient_image(seed=1), gradient_image(seed=2)])["predictions"]
    assert len(predictions) == 2
    for p in predictions:
        assert len(p["probabilities"]) == 2 and p["class_index"] in (0, 1) and p["label"] == str(p["class_index"])


# errors


def test_errors_become_exceptions_with_code_message_data(engine, tmp_path):
    with pytest.raises(NoModel) as e:
        engine.model_summary()
    assert e.value.code == -32001 and "model" in e.value.message and e.value.method == "model.summary"

    with pytest.raises(TypeError):  # the client's signature refuses it before anything is sent
        engine.model_create(**TINY_UNET, no_such_param=1)  # type: ignore[call-arg]
    with pytest.raises(InvalidParams) as e:
        engine.call("model.create", dict(TINY_UNET, no_such_param=1))
    assert e.value.code == -32602 and e.value.field == "no_such_param" and e.value.data["reason"]

    with pytest.raises(InvalidParams) as e:
        engine.model_create(architecture="unet", input_shape=[1, 32])
    assert e.value.field == "input_shape"

    with pytest.raises(MethodNotFound) as e:
        engine.call("no.such.method")
    assert e.value.code == -32601 and e.value.data == {"method": "no.such.method"}

    missing = tmp_path / "missing.safetensors"
    with pytest.raises(EngineFileNotFound) as e:
        engine.model_load(missing)
    assert e.value.data["path"] == str(missing)

    engine.model_create(**TINY_UNET)
    with pytest.raises(UnsupportedByModel) as e:
        engine.predict(gradient_image())
    assert e.value.code == -32009

    with pytest.raises(ShapeMismatch) as e:
        engine.segment(np.zeros((2, 32, 32), np.uint8), batch=False)  # one image of two channels
    assert e.value.code == -32004

    with pytest.raises(ImageDecodeFailed) as e:
        engine.segment(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    assert e.value.code == -32003 and "reason" in e.value.data

    # Every one of them is an EngineError, and the engine is still fine afterwards.
    assert issubclass(ImageDecodeFailed, EngineError) and issubclass(EngineTimeout, TimeoutError)
    assert engine.segment(gradient_image())["masks"][0]["shape"] == [32, 32]


def test_error_mapping_covers_every_documented_code():
    for code in [-32700, -32600, -32601, -32602, -32603, -32800] + list(range(-32001, -32011, -1)):
        error = unet_engine.error_from_response({"code": code, "message": "m", "data": {"x": 1}}, "method.x")
        assert type(error) is not EngineError and error.code == code and error.data == {"x": 1}
    unknown = unet_engine.error_from_response({"code": -32099, "message": "new"})
    assert type(unknown) is EngineError and unknown.code == -32099


def test_unserializable_params_fail_before_sending(engine):
    with pytest.raises(TypeError):
        engine.call("engine.status", {"x": float("nan")})
    assert engine.status()["busy"] is False


# inference and numpy round trips


def test_predict_gives_the_same_answer_for_every_image_form(engine, tmp_path):
    engine.model_create(**TINY_UNET, classification_head=2)
    image = gradient_image(seed=3)
    png = encode_png(image)
    (tmp_path / "x.png").write_bytes(png)
    forms = [image, image[None], image[:, :, None], image.astype(np.float32) / 255, png, str(tmp_path / "x.png"),
             tmp_path / "x.png", encode_image(image)]
    result = engine.predict(forms)
    assert isinstance(result, Predictions) and result["predictions"] is result.predictions
    results = result.predictions
    reference = results[0].probabilities
    for form, r in zip(forms, results):
        assert isinstance(r, Prediction) and r.label in ("0", "1") and r.class_index == int(r.label)
        assert r["label"] == r.label and r["probabilities"] == r.probabilities and r.raw["label"] == r.label
        assert r.probabilities == pytest.approx(reference, abs=1e-5), type(form)


def test_segment_masks_come_back_as_numpy_in_every_encoding(engine, tmp_path):
    engine.model_create(**TINY_UNET)
    images = [gradient_image(32, 32, seed=1), gradient_image(40, 48, seed=2)]
    as_array = engine.segment(images)["masks"]
    as_png = engine.segment(images, encoding="png")["masks"]
    as_probabilities = engine.segment(images, encoding="probabilities")["masks"]
    written = engine.segment(images, output_dir=tmp_path / "masks")["masks"]
    for image, a, p, q, w in zip(images, as_array, as_png, as_probabilities, written):
        mask = a["mask"]
        assert mask.shape == image.shape and mask.dtype == np.uint8 and a["shape"] == list(image.shape)
        assert set(np.unique(mask)) <= {0, 255}
        assert a["foreground_fraction"] == pytest.approx(np.mean(mask != 0))
        np.testing.assert_array_equal(p["mask"], mask)
        assert q["mask"].shape == image.shape and q["mask"].dtype == np.float32
        np.testing.assert_array_equal((q["mask"] > 0.5) * 255, mask)
        np.testing.assert_array_equal(decode_png(Path(w["path"]).read_bytes()), mask)
        # The typed reads: Mask.array is what the dict read "mask" gives; a written mask has a path, no array.
        assert isinstance(a, Mask) and a.array is a["mask"] and a.shape == a["shape"] and a["array"] == a.raw["array"]
        assert w.array is None and w.path == w["path"] and "mask" not in w
    assert [m.shape for m in engine.segment_masks(images)] == [(32, 32), (40, 48)]


def test_batch_size_changes_how_images_run_not_what_comes_back(engine):
    """Same-size images share a forward (batch_size, default 4); one image per forward gives the same masks."""
    engine.model_create(**TINY_UNET)
    images = [gradient_image(32, 32, seed=s) for s in range(5)] + [gradient_image(40, 48, seed=9)]
    batched = engine.segment(images, encoding="probabilities")["masks"]
    single = engine.segment(images, encoding="probabilities", batch_size=1)["masks"]
    assert [m["mask"].shape for m in batched] == [(32, 32)] * 5 + [(40, 48)]
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a["mask"], b["mask"], atol=1e-5)
    with pytest.raises(EngineError) as e:
        engine.segment(images, batch_size=0)
    assert e.value.code == -32602


def test_training_masks_in_every_form_mean_the_same(engine, tmp_path):
    """bool, 0/1 and 0/255 uint8, float and PNG masks give the same loss from the same weights."""
    engine.model_create(**TINY_UNET)
    engine.train_configure(optimizer="sgd", learning_rate=0.01, loss="bce", batch_size=2)
    checkpoint = tmp_path / "start.safetensors"
    engine.model_save(checkpoint)
    images = [gradient_image(seed=4), gradient_image(seed=5)]
    masks = [disc_mask(x) for x in images]
    losses = []
    for form in (masks, [m.astype(np.uint8) for m in masks], [m.astype(np.uint8) * 255 for m in masks],
                 [m.astype(np.float32) for m in masks], [encode_png(m.astype(np.uint8) * 255) for m in masks]):
        engine.model_load(checkpoint)
        losses.append(engine.train_step(images=images, masks=form)["loss"])
    assert losses == pytest.approx([losses[0]] * len(losses), rel=1e-6)


@pytest.fixture(params=["pillow", "pure"])
def png_codec(request, monkeypatch):
    """Each PNG path in turn: Pillow (skipped when it is not installed) and the client's own codec."""
    if request.param == "pillow":
        pytest.importorskip("PIL.Image", reason="Pillow is not installed")
        assert unet_engine.images.PILImage is not None
    else:
        monkeypatch.setattr(unet_engine.images, "PILImage", None)
    return request.param


def test_array_and_png_codecs_round_trip(png_codec):
    rng = np.random.default_rng(0)
    for array in (rng.integers(0, 256, (5, 7), dtype=np.uint8), rng.integers(0, 256, (3, 4, 6), dtype=np.uint8),
                  rng.random((2, 3, 4), dtype=np.float32), rng.random((9, 2), dtype=np.float32)):
        back = decode_array(encode_array(array))
        assert back.dtype == array.dtype
        np.testing.assert_array_equal(back, array)
    for image in (rng.integers(0, 256, (13, 17), dtype=np.uint8), rng.integers(0, 256, (6, 5, 3), dtype=np.uint8),
                  rng.integers(0, 256, (6, 5, 4), dtype=np.uint8), rng.integers(0, 256, (6, 5, 2), dtype=np.uint8)):
        np.testing.assert_array_equal(decode_png(encode_png(image)), image)
        # Either codec reads what the other writes.
        np.testing.assert_array_equal(unet_engine.images._decode_png_pure(encode_png(image)), image)
    assert encode_array(np.full((4, 4), 300, np.int32))["array"]["dtype"] == "uint16"  # deep samples
    with pytest.raises(ValueError):
        encode_array(np.full((4, 4), 70000, np.int32))


def test_png_decoder_matches_pillow_on_every_filter():
    """Pillow writes PNGs with adaptive filtering (Sub, Up, Average, Paeth all occur on noisy rows)."""
    Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed")
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:37, 0:29]
    for pixels in (((x * 7 + y * 3) % 256).astype(np.uint8), rng.integers(0, 256, (37, 29), dtype=np.uint8),
                   np.stack([(x * 5) % 256, (y * 9) % 256, (x * y) % 256], axis=-1).astype(np.uint8)):
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG", optimize=True)
        np.testing.assert_array_equal(unet_engine.images._decode_png_pure(buffer.getvalue()), pixels)
        np.testing.assert_array_equal(decode_png(buffer.getvalue()), pixels)


def test_png_decoding_takes_pillow_when_installed_and_the_pure_codec_without(png_codec):
    """A palette PNG, which only Pillow decodes (to the colours it stands for), tells the paths apart; a 16-bit
    grey PNG (the engine's deep masks and radiographs) decodes to the same uint16 values on both."""
    Image = pytest.importorskip("PIL.Image", reason="Pillow is not installed (it writes the test's PNGs)")
    rgb = np.random.default_rng(2).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG")
    if png_codec == "pillow":
        np.testing.assert_array_equal(decode_png(buffer.getvalue()), np.asarray(palette.convert("RGB")))
    else:
        with pytest.raises(ValueError, match="install Pillow"):
            decode_png(buffer.getvalue())
    deep = (np.arange(6 * 7, dtype=np.uint16).reshape(6, 7) * 1500)
    buffer = io.BytesIO()
    Image.fromarray(deep).save(buffer, format="PNG")
    decoded = decode_png(buffer.getvalue())
    assert decoded.dtype == np.uint16
    np.testing.assert_array_equal(decoded, deep)


# train.*


def test_train_configure_and_inline_steps_reduce_the_loss(engine):
    engine.model_create(**TINY_UNET)
    config = engine.train_configure(optimizer="adam", learning_rate=0.01, loss="bce+dice", batch_size=4, seed=3)
    assert config["optimizer"] == "adam" and config["learning_rate"] == 0.01 and config["loss"] == "bce+dice"
    assert config["batch_size"] == 4
    images = [gradient_image(seed=s) for s in range(4)]
    masks = [disc_mask(x) for x in images]
    # Six steps: the loss falls at every one of them here (1.62 to 1.34), so the check has room to spare.
    steps = [engine.train_step(images=images, masks=masks) for _ in range(6)]
    assert [s["step"] for s in steps] == list(range(1, 7))
    assert steps[-1]["loss"] < steps[0]["loss"]
    assert "dice" in steps[-1]["metrics"] and steps[0]["learning_rate"] == 0.01


def test_inline_classification_step_with_labels(engine):
    engine.model_create(**TINY_UNET, classification_head=2)
    result = engine.train_step(images=np.stack([gradient_image(seed=s) for s in range(2)])[:, None],
                               labels=np.array([0, 1]), masks=[disc_mask(gradient_image(seed=s)) for s in range(2)])
    assert result["step"] == 1 and np.isfinite(result["loss"])


# datasets, fit and evaluate (skip until the engine serves them)


def open_phantoms(engine: Engine, name: str, task: str, count: int = 24, validation_split=0.25):
    return engine.dataset_open(name, task=task, phantoms={"count": count, "size": [32, 32], "seed": 5},
                               input_shape=[1, 32, 32], validation_split=validation_split, seed=1)


def test_dataset_open_list_sample_close(engine):
    require(engine, "dataset.open", "dataset.list", "dataset.sample", "dataset.close")
    opened = open_phantoms(engine, "ph", "segmentation")
    assert opened["name"] == "ph" and opened["size"] > 0 and opened["skipped"] == []
    assert opened["validation"]
    names = {d["name"]: d for d in engine.dataset_list()}
    assert "ph" in names and names["ph"]["task"] == "segmentation" and names["ph"]["size"] == opened["size"]
    assert "ph.val" in names

    sample = engine.dataset_sample("ph", count=3)
    assert isinstance(sample, Samples) and sample.name == "ph" and len(sample.samples) == 3
    for item in sample.samples:
        assert isinstance(item.image, np.ndarray) and item.image.shape[-2:] == (32, 32)
        assert isinstance(item.mask, np.ndarray) and item.mask.shape == (32, 32)
        # The dict reads of the untyped client: the engine's fields, and the arrays it used to add.
        assert item["id"] == item.id and item["image_array"] is item.image and item["mask_array"] is item.mask
        assert item["image"] == item.raw["image"] and "mask_array" in item.keys()
    assert sample["samples"] is sample.samples and sample["name"] == "ph"

    assert engine.dataset_close("ph") == {}
    assert "ph" not in {d["name"] for d in engine.dataset_list()}
    with pytest.raises(InvalidParams):
        engine.train_fit("ph")


def test_train_fit_streams_progress_and_returns_history(engine, tmp_path):
    require(engine, "dataset.open", "train.fit", "evaluate")
    open_phantoms(engine, "seg", "segmentation", count=12)
    engine.model_create(**TINY_UNET)
    engine.train_configure(optimizer="adam", learning_rate=0.01, loss="bce+dice", batch_size=4)
    events = []
    result = engine.train_fit("seg", validation="seg.val", epochs=2, on_progress=events.append,
                              callbacks={"checkpoint": {"path": str(tmp_path / "best.safetensors"),
                                                        "monitor": "val_loss", "save_best_only": True}})
    assert {"history", "stopped_early", "best", "cancelled", "epoch", "batch_in_epoch"} <= set(result)
    assert len(result["history"]) == 2 and result["cancelled"] is False
    assert all("loss" in h and "val_loss" in h and "learning_rate" in h for h in result["history"])
    steps = [e for e in events if e["kind"] == "step"]
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert steps and len(epochs) == 2
    assert {"epoch", "step", "steps_per_epoch", "loss", "images_per_second", "eta_s"} <= set(steps[0])
    assert {"loss", "learning_rate"} <= set(epochs[0])
    assert (tmp_path / "best.safetensors").is_file()

    evaluation = engine.evaluate("seg.val")
    assert 0 <= evaluation["dice"] <= 1 and 0 <= evaluation["iou"] <= 1 and 0 <= evaluation["pixel_accuracy"] <= 1


def test_fit_calls_back_and_evaluate_classification(engine):
    require(engine, "dataset.open", "train.fit", "evaluate")
    open_phantoms(engine, "cls", "classification", count=16)
    engine.model_create(**TINY_UNET, classification_head=2)
    engine.train_configure(optimizer="adam", learning_rate=0.005, batch_size=8)
    seen = []
    history = engine.fit("cls", validation="cls.val", epochs=2, progress=False, callback=seen.append)
    assert isinstance(history, History) and len(history) == 2 and not history.cancelled
    assert history.column("loss") == [h["loss"] for h in history] and "val_loss" in history.metrics
    assert any(e["kind"] == "epoch" for e in seen)
    evaluation = engine.evaluate("cls.val", threshold=0.5)
    assert {"accuracy", "precision", "recall", "specificity", "f1", "auc", "pr_auc", "confusion_matrix",
            "roc", "report"} <= set(evaluation)
    assert np.asarray(evaluation["confusion_matrix"]).sum() == evaluation.get("count", np.asarray(
        evaluation["confusion_matrix"]).sum())
    assert len(evaluation["roc"]["fpr"]) == len(evaluation["roc"]["tpr"])


def test_fit_cancelled_from_another_thread_returns_partial_history(engine):
    require(engine, "dataset.open", "train.fit")
    open_phantoms(engine, "long", "segmentation", count=32, validation_split=None)
    engine.model_create(**TINY_UNET)
    engine.train_configure(batch_size=2)
    cancellers = []

    def cancel_once(p):
        if p["kind"] == "step" and not cancellers:
            t = threading.Thread(target=engine.cancel, args=(p["id"],))
            cancellers.append(t)
            t.start()

    history = engine.fit("long", epochs=1000, progress=False, callback=cancel_once)
    cancellers[0].join(CALL_TIMEOUT)
    assert history.cancelled and len(history) < 1000
    assert history.epoch is not None
    assert engine.status()["busy"] is False


def test_fit_interrupted_by_ctrl_c_cancels_and_returns(engine):
    """A KeyboardInterrupt while fit waits (raised here from the callback, as Ctrl-C would arrive) sends
    cancel and returns the partial history."""
    require(engine, "dataset.open", "train.fit")
    open_phantoms(engine, "long", "segmentation", count=32, validation_split=None)
    engine.model_create(**TINY_UNET)
    engine.train_configure(batch_size=2)
    interrupted = []

    def interrupt(p):
        if p["kind"] == "step" and not interrupted:
            interrupted.append(p)
            raise KeyboardInterrupt

    history = engine.fit("long", epochs=1000, progress=False, callback=interrupt)
    assert interrupted and history.cancelled and len(history) < 1000
    assert engine.model_summary()["architecture"] == "unet"


# cancellation, concurrency, timeouts


def test_cancel_a_blocking_call_from_another_thread(engine):
    outcome = {}

    def sleeper():
        try:
            outcome["result"] = engine.call("debug.sleep", {"seconds": 60},
                                            on_progress=lambda p: outcome.setdefault("progress", p))
        except EngineError as e:
            outcome["error"] = e

    thread = threading.Thread(target=sleeper)
    thread.start()
    request_id = running_request(engine, "debug.sleep")
    assert engine.cancel(request_id) == {}
    thread.join(CALL_TIMEOUT)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), Cancelled) and outcome["error"].code == -32800
    assert outcome["progress"]["id"] == request_id and "elapsed_s" in outcome["progress"]
    with pytest.raises(InvalidParams):
        engine.cancel(request_id)  # nothing with that id runs any more


def test_cancel_a_queued_request(engine):
    first = engine.start("debug.sleep", {"seconds": 60})
    second = engine.start("debug.sleep", {"seconds": 60})
    running_request(engine, "debug.sleep")
    assert engine.status()["queue"] == 1
    second.cancel()
    with pytest.raises(Cancelled):
        second.wait(CALL_TIMEOUT)
    first.cancel()
    with pytest.raises(Cancelled):
        first.wait(CALL_TIMEOUT)


def test_keyboard_interrupt_while_waiting_cancels_the_request(engine):
    def interrupt(_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        engine.call("debug.sleep", {"seconds": 60}, on_progress=interrupt)
    wait_until(lambda: engine.status()["busy"] is False, "the interrupted request to be cancelled")


def test_timeout_cancels_the_call_and_the_engine_goes_on(engine):
    with pytest.raises(EngineTimeout) as e:
        engine.call("debug.sleep", {"seconds": 60}, timeout=0.5)
    assert e.value.method == "debug.sleep"
    wait_until(lambda: engine.status()["busy"] is False, "the timed-out request to be cancelled")
    assert engine.call("debug.sleep", {"seconds": 0}) == {"slept_s": 0}


def test_many_threads_at_once_get_their_own_answers(engine):
    engine.model_create(**TINY_UNET, classification_head=2)
    images = [gradient_image(seed=s) for s in range(8)]
    expected = [engine.predict(x)["predictions"][0] for x in images]
    results, errors = {}, []

    def worker(i):
        try:
            for _ in range(3):
                results[i] = engine.predict(images[i])["predictions"][0]
                engine.status()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CALL_TIMEOUT)
    assert not errors
    assert [results[i] for i in range(8)] == expected


def test_asyncio_calls_run_concurrently(binary):
    async def main():
        async with AsyncEngine(binary=binary, threads=1, debug_methods=True, timeout=CALL_TIMEOUT) as engine:
            await engine.model_create(**TINY_UNET)
            sleeping = asyncio.ensure_future(engine.call("debug.sleep", {"seconds": 0.5}))
            status, masks = await asyncio.gather(engine.status(), engine.segment_masks([gradient_image()]))
            return status, masks, await sleeping

    status, masks, slept = asyncio.run(main())
    assert "busy" in status and masks[0].shape == (32, 32) and slept == {"slept_s": 0.5}


# a dying engine


def test_engine_killed_mid_call_raises_with_stderr_and_never_hangs(binary):
    engine = Engine(binary, threads=1, debug_methods=True, log_level="debug")
    outcome = {}

    def sleeper():
        try:
            engine.call("debug.sleep", {"seconds": 60})
        except EngineError as e:
            outcome["error"] = e

    thread = threading.Thread(target=sleeper)
    thread.start()
    running_request(engine, "debug.sleep")
    os.kill(engine.pid, signal.SIGKILL)
    thread.join(CALL_TIMEOUT)
    assert not thread.is_alive(), "the call hung on a dead engine"
    error = outcome["error"]
    assert isinstance(error, EngineDied) and error.returncode == -signal.SIGKILL
    assert "killed by signal 9" in str(error) and error.stderr_tail and error.stderr_tail in str(error)
    with pytest.raises(EngineDied):
        engine.hello()  # later calls fail at once
    engine.close()


def test_engine_that_exits_at_start_reports_its_stderr(tmp_path):
    fake = tmp_path / "broken-engine"
    fake.write_text("#!/bin/sh\necho 'unet-engine: cannot load libopenblas.so.0' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    engine = Engine(str(fake))
    with pytest.raises(EngineDied) as e:
        engine.hello(timeout=CALL_TIMEOUT)
    assert e.value.returncode == 3 and "libopenblas" in str(e.value)
    engine.close()


def test_binary_discovery(binary, monkeypatch, tmp_path):
    monkeypatch.setenv("UNET_ENGINE_BIN", binary)
    assert unet_engine.find_binary() == os.path.abspath(binary)
    assert unet_engine.find_binary(binary) == os.path.abspath(binary)
    with pytest.raises(FileNotFoundError):
        unet_engine.find_binary(str(tmp_path / "nope"))
    monkeypatch.delenv("UNET_ENGINE_BIN")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    found = None
    try:
        found = unet_engine.find_binary()
    except FileNotFoundError as e:
        assert "UNET_ENGINE_BIN" in str(e)
    if found is not None:  # found through the checkout that holds the client package
        assert found.endswith("unet-engine") and Path(found).is_file()
