"""`eff-unet` against segmentation_models_pytorch through the binary (issue 15).

- Without torch: `model.create` refuses an unknown encoder or decoder, `decoder_channels` of the wrong length and
  2 input channels with -32602 naming the field, and keeps the current model.
- With torch and segmentation-models-pytorch (skipped otherwise; CI installs neither): an smp b1 state_dict saved
  with `safetensors.torch.save_file` loads with `model.load` (architecture inferred) and `segment` gives smp's
  eval-mode probabilities within 1e-4 at 224, 240 and 256; the engine's checkpoints load into smp with
  `strict=True`; an encoder-only file sets just the encoder; 3-channel weights load into a 1-channel model as
  smp's `in_channels=1` (the stem summed); a state_dict of another encoder is a checkpoint error listing the
  missing, unexpected and mismatched keys, and the model stays.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))

from unet_engine import Engine, EngineError, InvalidParams  # noqa: E402
from unet_engine.images import encode_array  # noqa: E402
from conftest import engine_binary  # noqa: E402

# A debug build runs b1 at 256x256 in tens of seconds on a busy machine.
TIMEOUT = 600
B1 = dict(architecture="eff-unet", input_shape=[3, 224, 224], encoder="efficientnet-b1")


@pytest.fixture
def engine():
    with Engine(str(engine_binary()), threads=2, timeout=TIMEOUT) as e:
        yield e


def probabilities(engine: Engine, x: np.ndarray) -> np.ndarray:
    """The engine's mask probabilities for one image (C, H, W) at its own size."""
    result = engine.segment([encode_array(x.astype(np.float32))], encoding="probabilities", resize=False)
    return np.asarray(result["masks"][0]["mask"], dtype=np.float64)


# MARK: - Without torch


@pytest.mark.parametrize("field, params", [
    ("encoder", dict(encoder="efficientnet-b7")),
    ("decoder", dict(decoder="fpn")),
    ("decoder_channels", dict(decoder_channels=[256, 128, 64, 32])),
    ("in_channels", dict(input_shape=[2, 64, 64])),
    ("in_channels", dict(in_channels=1)),
    ("classification_head.from", dict(classification_head={"classes": 2, "from": "bottleneck"})),
    ("deep_supervision", dict(decoder="unet", deep_supervision=True)),
])
def test_bad_configurations_are_invalid_params_and_the_model_stays(engine, field, params):
    before = engine.model_create("eff-unet", [1, 64, 64], encoder="efficientnet-b0", decoder_channels=[16, 8, 8, 8, 4])
    with pytest.raises(InvalidParams) as e:
        engine.call("model.create", {**dict(architecture="eff-unet", input_shape=[3, 64, 64]), **params})
    assert e.value.data["field"].startswith(field), e.value.data
    assert engine.call("model.summary")["total_params"] == before["total_params"]


# MARK: - With torch and smp


@pytest.fixture(scope="module")
def smp():
    pytest.importorskip("torch")
    return pytest.importorskip("segmentation_models_pytorch")


def settled(model, channels=3, size=64):
    """`model` with BatchNorm statistics moved off their defaults by a few train-mode batches, in eval mode."""
    import torch
    torch.manual_seed(0)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(2, channels, size, size) * 2 + 0.3)
    return model.eval()


def save_state_dict(state_dict, path):
    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(path))


def smp_probabilities(model, x):
    """smp's mask probabilities for one image (C, H, W); smp takes sizes divisible by 32 only, so the image is
    zero-padded at the bottom and right to one (as the engine pads) and the mask cropped back."""
    import torch
    _, h, w = x.shape
    padded = np.zeros((x.shape[0], -(-h // 32) * 32, -(-w // 32) * 32), dtype=np.float32)
    padded[:, :h, :w] = x
    with torch.no_grad():
        out = model(torch.from_numpy(padded[None]))
    return torch.sigmoid(out[0] if isinstance(out, tuple) else out)[0, 0, :h, :w].double().numpy()


def test_smp_state_dict_loads_inferred_and_gives_smps_outputs(engine, smp, tmp_path):
    model = settled(smp.UnetPlusPlus("efficientnet-b1", encoder_weights=None, classes=1))
    save_state_dict(model.state_dict(), tmp_path / "smp.safetensors")
    summary = engine.model_load(tmp_path / "smp.safetensors")
    assert summary["config"]["encoder"] == "efficientnet-b1" and summary["config"]["decoder"] == "unetplusplus"
    assert summary["trainable_params"] == 9_075_217
    rng = np.random.default_rng(5)
    for size in (224, 240, 256):
        x = rng.standard_normal((3, size, size))
        np.testing.assert_allclose(probabilities(engine, x), smp_probabilities(model, x), atol=1e-4, rtol=0,
                                   err_msg=f"{size}x{size}")


@pytest.mark.parametrize("decoder, head", [("unetplusplus", 0), ("unet", 2)])
def test_engine_checkpoint_loads_into_smp_strictly(engine, smp, tmp_path, decoder, head):
    from safetensors.torch import load_file
    engine.call("model.create", {**B1, "decoder": decoder, "classification_head": {"classes": head} if head else None,
                                 "seed": 4})
    engine.model_save(tmp_path / "engine.safetensors")
    kind = smp.UnetPlusPlus if decoder == "unetplusplus" else smp.Unet
    model = kind("efficientnet-b1", encoder_weights=None, classes=1,
                 aux_params=dict(classes=head) if head else None)
    model.load_state_dict(load_file(str(tmp_path / "engine.safetensors")), strict=True)
    model.eval()
    x = np.random.default_rng(6).standard_normal((3, 224, 224))
    np.testing.assert_allclose(probabilities(engine, x), smp_probabilities(model, x), atol=1e-4, rtol=0)


def test_encoder_only_file_sets_just_the_encoder(engine, smp, tmp_path):
    from safetensors.numpy import load_file
    model = smp.Unet("efficientnet-b1", encoder_weights=None, classes=1)
    save_state_dict({k: v for k, v in model.state_dict().items() if k.startswith("encoder.")}, tmp_path / "enc.safetensors")
    engine.call("model.create", {**B1, "decoder": "unet", "seed": 9})
    engine.model_save(tmp_path / "before.safetensors")
    engine.model_load(tmp_path / "enc.safetensors")
    engine.model_save(tmp_path / "after.safetensors")
    before, after = load_file(str(tmp_path / "before.safetensors")), load_file(str(tmp_path / "after.safetensors"))
    file = {k: v.numpy() for k, v in model.state_dict().items()}
    for name, value in after.items():
        expected = file[name] if name.startswith("encoder.") else before[name]
        np.testing.assert_array_equal(value, expected.astype(value.dtype), err_msg=name)


def test_three_channel_weights_load_into_a_one_channel_model_as_smp_does(engine, smp, tmp_path):
    three = settled(smp.UnetPlusPlus("efficientnet-b0", encoder_weights=None, classes=1, decoder_channels=(16, 8, 8, 8, 4)))
    save_state_dict(three.state_dict(), tmp_path / "rgb.safetensors")
    one = smp.UnetPlusPlus("efficientnet-b0", encoder_weights=None, in_channels=1, classes=1,
                           decoder_channels=(16, 8, 8, 8, 4))
    sd = dict(three.state_dict())
    sd["encoder._conv_stem.weight"] = sd["encoder._conv_stem.weight"].sum(1, keepdim=True)
    one.load_state_dict(sd, strict=True)
    one.eval()
    engine.model_create("eff-unet", [1, 64, 64], encoder="efficientnet-b0", decoder_channels=[16, 8, 8, 8, 4])
    engine.model_load(tmp_path / "rgb.safetensors")
    x = np.random.default_rng(7).standard_normal((1, 96, 64))
    np.testing.assert_allclose(probabilities(engine, x), smp_probabilities(one, x), atol=1e-4, rtol=0)


def test_another_encoders_state_dict_lists_the_keys_and_keeps_the_model(engine, smp, tmp_path):
    model = smp.UnetPlusPlus("efficientnet-b0", encoder_weights=None, classes=1, decoder_channels=(16, 8, 8, 8, 4))
    save_state_dict(model.state_dict(), tmp_path / "b0.safetensors")
    before = engine.model_create("eff-unet", [3, 64, 64], encoder="efficientnet-b1", decoder_channels=[16, 8, 8, 8, 4])
    with pytest.raises(EngineError) as e:
        engine.model_load(tmp_path / "b0.safetensors")
    message = str(e.value)
    assert "missing tensors" in message and "encoder._blocks.16." in message, message
    assert "mismatched" in message, message
    assert engine.call("model.summary")["total_params"] == before["total_params"]
