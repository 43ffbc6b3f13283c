"""Checkpoints move between the `unet-engine` binary and PyTorch in both directions, through the JSON-RPC
protocol a host uses.

- The engine's checkpoint reads with `safetensors.numpy` alone: names, dtypes, shapes and metadata are what
  a PyTorch user expects (checked against the twin's listing in the Swift fixtures, no torch needed).
- With torch installed: the twin (`torch_models.py`) loads the engine's checkpoint with `strict=True` and its
  forward pass equals the engine's `segment` probabilities; and a state_dict saved by torch loads into the
  engine with `model.load` and gives torch's output.

The binary is `$UNET_ENGINE_BIN`, by default `<repo>/.build/debug/unet-engine` (build it with `swift build`).
"""

from __future__ import annotations

import base64
import json
import os
import selectors
import subprocess
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file
from conftest import engine_binary  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "UNetCoreTests" / "Fixtures"
CONFIG = {"architecture": "unet", "input_shape": [1, 16, 16], "depth": 2, "filters": 4, "batch_norm": True, "seed": 3}
# Seconds to wait for one response; a debug build creates and runs this small model in well under a second.
TIMEOUT = 120




class Engine:
    """The engine as a subprocess: one JSON-RPC request per line in, one response per line out (progress
    notifications are skipped); stderr is collected for error messages."""

    def __init__(self, binary: Path):
        self.proc = subprocess.Popen([str(binary)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.proc.stdout, selectors.EVENT_READ)
        self.next_id = 1

    def call(self, method: str, params: dict | None = None) -> dict:
        request_id = self.next_id
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()
        while True:
            if not self.selector.select(TIMEOUT):
                raise TimeoutError(f"no response to {method} within {TIMEOUT} s")
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the engine exited during {method}: {self.proc.stderr.read()[-2000:]}")
            try:
                response = json.loads(line)
            except json.JSONDecodeError:
                raise AssertionError(f"{method}: the engine wrote a line that is not JSON: {line[:200]!r} "
                                     "(stdout must carry protocol messages only; is the binary up to date?)") from None
            if response.get("id") != request_id:
                continue  # a progress notification
            if "error" in response:
                raise RuntimeError(f"{method} failed: {response['error']}")
            return response["result"]

    def close(self):
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def engine():
    e = Engine(engine_binary())
    yield e
    e.close()


@pytest.fixture(scope="module")
def checkpoint(engine, tmp_path_factory):
    """The engine's checkpoint of a freshly created `unet` (CONFIG): its path, tensors and metadata."""
    engine.call("model.create", CONFIG)
    path = tmp_path_factory.mktemp("engine") / "unet.safetensors"
    result = engine.call("model.save", {"path": str(path)})
    assert result["path"] == str(path)
    assert result["bytes"] == path.stat().st_size
    with safe_open(str(path), framework="numpy") as f:
        metadata = f.metadata() or {}
    return path, load_file(str(path)), metadata


def twin_listing(config: dict) -> list[dict]:
    """The twin's state_dict entries for `config`, from the listing make_golden.py wrote."""
    listing = json.loads((FIXTURES / "twin_state_dict_names.json").read_text())
    for entry in listing:
        if all(entry["config"].get(k) == v for k, v in config.items()):
            return entry["tensors"]
    raise AssertionError(f"no listing for {config} in twin_state_dict_names.json")


def image_array(x: np.ndarray) -> dict:
    """An image message of a float32 array (H, W) or (C, H, W), taken as is by the engine."""
    x = np.ascontiguousarray(x, dtype="<f4")
    return {"array": {"dtype": "float32", "shape": list(x.shape), "data": base64.b64encode(x.tobytes()).decode()}}


def segment_probabilities(engine: Engine, x: np.ndarray) -> np.ndarray:
    """The engine's mask probabilities for one one-channel image (H, W), run at the image's own size as the
    twin runs it (``resize`` false), sent back as a float32 raw array."""
    result = engine.call("segment", {"images": [image_array(x)], "encoding": "probabilities", "resize": False})
    mask = result["masks"][0]
    assert mask["shape"] == list(x.shape)
    probabilities = mask["probabilities"]
    assert probabilities["dtype"] == "float32" and probabilities["shape"] == list(x.shape)
    values = np.frombuffer(base64.b64decode(probabilities["data"]), dtype="<f4")
    return values.reshape(x.shape).astype(np.float64)


# MARK: - Without torch


def test_engine_checkpoint_has_the_twins_names_dtypes_and_shapes(checkpoint):
    _, tensors, _ = checkpoint
    expected = {t["name"]: (t["dtype"], tuple(t["shape"])) for t in twin_listing(CONFIG)}
    dtypes = {np.dtype("float32"): "F32", np.dtype("int64"): "I64"}
    actual = {name: (dtypes.get(a.dtype, str(a.dtype)), a.shape) for name, a in tensors.items()}
    assert actual == expected
    assert not any(name.startswith("optimizer.") for name in tensors), "no optimizer state before training"


def test_engine_checkpoint_metadata(checkpoint):
    _, _, metadata = checkpoint
    assert metadata["format"] == "pt"
    config = json.loads(metadata["unet_engine.config"])
    for key, value in CONFIG.items():
        assert config[key] == value, key
    assert config["classes"] == 1 and config["upsampling"] == "transpose" and config["classification_head"] == 0


def test_engine_checkpoint_holds_a_fresh_model(checkpoint):
    """He-normal convolutions, zero biases, BatchNorm at its PyTorch initial state."""
    _, tensors, _ = checkpoint
    w = tensors["enc2.conv1.weight"]  # fan-in 4 * 3 * 3
    assert abs(w.std() - np.sqrt(2 / 36)) < 0.05
    assert np.all(tensors["head.bias"] == 0)
    for name, a in tensors.items():
        if ".bn" in name:
            kind = name.rsplit(".", 1)[1]
            expected = {"weight": 1, "bias": 0, "running_mean": 0, "running_var": 1, "num_batches_tracked": 0}[kind]
            assert np.all(a == expected), name


# MARK: - With torch


def test_torch_twin_loads_the_engine_checkpoint_strictly_and_agrees_with_segment(engine, checkpoint):
    torch = pytest.importorskip("torch")
    import torch_models

    _, tensors, metadata = checkpoint
    twin = torch_models.from_config(json.loads(metadata["unet_engine.config"]))
    twin.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)
    twin.eval()
    # 13x18 is not a multiple of 4: both pad to 16x20 and crop back.
    x = np.random.default_rng(5).normal(size=(13, 18)).astype(np.float32)
    with torch.no_grad():
        logits, class_logits = twin(torch.from_numpy(x)[None, None])
    assert class_logits is None
    expected = torch.sigmoid(logits)[0, 0].double().numpy()
    np.testing.assert_allclose(segment_probabilities(engine, x), expected, atol=1e-5, rtol=1e-4)


def test_engine_loads_a_torch_state_dict_and_agrees_with_torch(engine, checkpoint, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import save_file

    import torch_models

    torch.manual_seed(11)
    twin = torch_models.from_config(CONFIG)
    torch_models.move_batch_norm(twin)  # non-trivial BatchNorm, as a trained model's
    path = tmp_path / "torch.safetensors"
    save_file({k: v.contiguous() for k, v in twin.state_dict().items()}, str(path))

    engine.call("model.create", CONFIG)  # the model the bare state_dict loads into
    engine.call("model.load", {"path": str(path)})
    x = np.random.default_rng(6).normal(size=(16, 16)).astype(np.float32)
    with torch.no_grad():
        logits, _ = twin(torch.from_numpy(x)[None, None])
    expected = torch.sigmoid(logits)[0, 0].double().numpy()
    np.testing.assert_allclose(segment_probabilities(engine, x), expected, atol=1e-5, rtol=1e-4)

    # Saved again by the engine, every tensor is torch's, bit for bit.
    again = tmp_path / "again.safetensors"
    engine.call("model.save", {"path": str(again)})
    saved = load_file(str(again))
    state = twin.state_dict()
    assert set(saved) == set(state)
    for name, value in state.items():
        np.testing.assert_array_equal(saved[name], value.numpy(), err_msg=name)
