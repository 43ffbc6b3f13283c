"""The jq pipeline `Examples/shell/predict-folder.sh` on a few generated JPEGs, with a model saved through the
Python client: one `path<TAB>label<TAB>p` line per readable image, agreeing with the client's own `predict`, and
unreadable files reported on stderr with exit status 1.

Needs jq and Pillow (to write the JPEGs); skips without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))

from unet_engine import Engine  # noqa: E402
from conftest import engine_binary as binary_path  # noqa: E402

SCRIPT = REPO / "Examples" / "shell" / "predict-folder.sh"




@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A folder of JPEGs (one with a space in its name, one corrupt, one PNG that must be ignored) and a small
    unet with a classification head, trained a few steps so its outputs differ between images."""
    Image = pytest.importorskip("PIL.Image", reason="Pillow is needed to write the test JPEGs")
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed (make deps installs it)")
    binary = binary_path()
    root = tmp_path_factory.mktemp("shell")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    arrays = []
    for i in range(5):
        y, x = np.mgrid[0:48, 0:40]
        pixels = np.clip(30 + 150 * ((x - 20) ** 2 + (y - 24) ** 2 < (6 + 3 * i) ** 2) + rng.normal(0, 10, (48, 40)),
                         0, 255).astype(np.uint8)
        arrays.append(pixels)
        name = f"case {i}.jpg" if i == 0 else f"case{i}.jpeg" if i == 1 else f"case{i}.JPG" if i == 2 else f"case{i}.jpg"
        Image.fromarray(pixels).save(images / name, quality=90)
    (images / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    Image.fromarray(arrays[0]).save(images / "ignored.png")

    model = root / "model.safetensors"
    with Engine(str(binary), threads=1, timeout=120) as engine:
        engine.model_create(architecture="unet", input_shape=[1, 32, 32], depth=2, filters=4, classification_head=2,
                            seed=1)
        engine.train_configure(optimizer="adam", learning_rate=0.01, batch_size=5)
        for _ in range(5):
            engine.train_step(images=arrays, labels=[0, 1, 0, 1, 1], resize=True)
        engine.model_save(model)
        jpegs = sorted(p for p in images.iterdir() if p.suffix.lower() in (".jpg", ".jpeg") and "broken" not in p.name)
        expected = {str(p): r for p, r in zip(jpegs, engine.predict([str(p) for p in jpegs])["predictions"])}
    return {"binary": binary, "images": images, "model": model, "expected": expected}


def run_script(workspace, *args, **env):
    environment = dict(os.environ, UNET_ENGINE_BIN=str(workspace["binary"]), **env)
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=environment,
                          timeout=300)


def engine_errors(stderr):
    """stderr's lines without the engine's documented start-up lines (BLASCoreCheck): where OpenBLAS fell back to an
    older core than the CPU runs (Prescott on an Intel Xeon family 6 model 207 with OpenBLAS 0.3.21), the engine
    restarts itself with OPENBLAS_CORETYPE set and says so once; where the environment's own OPENBLAS_CORETYPE is
    below the CPU's best core (Haswell on a Zen 5), it keeps it and says so once."""
    startup = ("restarting with OPENBLAS_CORETYPE=", "below this CPU's best core")
    return [line for line in stderr.strip().splitlines() if not any(s in line for s in startup)]


def test_pipeline_prints_path_label_probability_per_jpeg(workspace):
    done = run_script(workspace, workspace["model"], workspace["images"], "--threads", "1")
    assert done.returncode == 1, done.stderr  # the corrupt file makes it 1
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert all(len(r) == 3 for r in rows), done.stdout
    by_path = {r[0]: (r[1], float(r[2])) for r in rows}
    assert set(by_path) == set(workspace["expected"])  # every JPEG (any case of the extension), no PNG
    for path, prediction in workspace["expected"].items():
        label, p = by_path[path]
        assert label == prediction["label"]
        probabilities = prediction["probabilities"]
        expected_p = probabilities[prediction["class_index"]] if len(probabilities) > 1 else (
            probabilities[0] if prediction["class_index"] == 1 else 1 - probabilities[0])
        assert p == pytest.approx(expected_p, abs=1e-4)
        assert p >= 0.5  # the probability of the label chosen by a two-class softmax
    errors = engine_errors(done.stderr)
    assert len(errors) == 1 and "broken.jpg" in errors[0] and "decode" in errors[0]


def test_pipeline_exits_0_when_every_image_reads(workspace, tmp_path):
    clean = tmp_path / "clean"
    clean.mkdir()
    for path in list(workspace["expected"])[:2]:
        shutil.copy(path, clean / Path(path).name)
    done = run_script(workspace, workspace["model"], clean)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2 and engine_errors(done.stderr) == []


def test_pipeline_usage_and_missing_model(workspace, tmp_path):
    assert run_script(workspace).returncode == 2
    missing = run_script(workspace, tmp_path / "none.safetensors", workspace["images"])
    assert missing.returncode == 2 and "no such model" in missing.stderr
