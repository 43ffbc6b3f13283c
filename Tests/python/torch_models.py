"""PyTorch twins of the engine's two models, with attribute names chosen so that `state_dict()` has exactly the
engine's checkpoint names and shapes (`enc1.conv1.weight`, `enc1.bn1.running_mean`, `dec1.up.weight`,
`head.weight`, `classifier.weight`; `block1.conv1.weight`, `dense.weight`). A checkpoint written by the engine
loads into them with `load_state_dict(strict=True)` and theirs loads into the engine, so a model can move
between the two in either direction.

They mirror `Sources/UNetCore/Models/UNetBuilder.swift` and `UNetClassifierBuilder.swift` layer for layer,
including the engine's padding of any input to a multiple of 2^depth (zeros at the bottom and right) and the
crop of the mask back to the input's size. Both return logits, as the engine's network does.

`from_config` takes the engine's model configuration as JSON (the `unet_engine.config` checkpoint metadata or
the `model.create` params), so a test can build the twin of any engine model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Module):
    """Two 3x3 "same" convolutions, each followed by BatchNorm (optional) and ReLU: `conv1`, `bn1`, `conv2`,
    `bn2`. A convolution followed by BatchNorm has no bias, as in the engine."""

    def __init__(self, cin: int, cout: int, batch_norm: bool, dropout: float = 0.0):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(cout) if batch_norm else None
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(cout) if batch_norm else None
        # The engine names this node `bottleneck.dropout`; it has no parameters.
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = F.relu(self.bn1(x) if self.bn1 is not None else x)
        x = self.conv2(x)
        x = F.relu(self.bn2(x) if self.bn2 is not None else x)
        return self.dropout(x) if self.dropout is not None else x


class Decoder(nn.Module):
    """A decoder level whose modules sit directly under `dec{k}` (`up`, `conv1`, `bn1`, `conv2`, `bn2`), as the
    engine names them."""

    def __init__(self, cin: int, cout: int, upsampling: str, batch_norm: bool):
        super().__init__()
        if upsampling == "transpose":
            self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
            up_channels = cout
        else:
            mode = "bilinear" if upsampling == "bilinear" else "nearest"
            extra = {"align_corners": False} if mode == "bilinear" else {}
            self.up = nn.Upsample(scale_factor=2, mode=mode, **extra)
            up_channels = cin
        self.conv1 = nn.Conv2d(up_channels + cout, cout, 3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(cout) if batch_norm else None
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(cout) if batch_norm else None

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.up(x), skip], dim=1)
        x = self.conv1(x)
        x = F.relu(self.bn1(x) if self.bn1 is not None else x)
        x = self.conv2(x)
        return F.relu(self.bn2(x) if self.bn2 is not None else x)


class UNet(nn.Module):
    """The engine's `unet`: Ronneberger-style, `depth` levels, filters doubling from `filters`, optional
    BatchNorm, transposed-convolution or bilinear/nearest upsampling, a 1x1 `head` to `classes` mask channels,
    and an optional image-level `classifier` on the globally pooled bottleneck.

    `forward` returns `(mask_logits, class_logits)`; `class_logits` is None without a classification head.
    """

    def __init__(self, in_channels: int = 1, classes: int = 1, depth: int = 4, filters: int = 64,
                 batch_norm: bool = False, upsampling: str = "transpose", classification_head: int = 0,
                 dropout: float = 0.0):
        super().__init__()
        self.depth = depth
        channels = in_channels
        for level in range(depth):
            self.add_module(f"enc{level + 1}", DoubleConv(channels, filters << level, batch_norm))
            channels = filters << level
        self.bottleneck = DoubleConv(channels, filters << depth, batch_norm, dropout)
        channels = filters << depth
        for level in reversed(range(depth)):
            out = filters << level
            self.add_module(f"dec{level + 1}", Decoder(channels, out, upsampling, batch_norm))
            channels = out
        self.head = nn.Conv2d(channels, classes, 1)
        self.classifier = nn.Linear(filters << depth, classification_head) if classification_head > 0 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h, w = x.shape[2], x.shape[3]
        m = 1 << self.depth
        # Zero-pad at the bottom and right to a multiple of 2^depth, as the engine does.
        x = F.pad(x, (0, (-w) % m, 0, (-h) % m))
        skips = []
        for level in range(self.depth):
            x = getattr(self, f"enc{level + 1}")(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        class_logits = self.classifier(x.mean(dim=(2, 3))) if self.classifier is not None else None
        for level in reversed(range(self.depth)):
            x = getattr(self, f"dec{level + 1}")(x, skips[level])
        return self.head(x)[:, :, :h, :w], class_logits


class UNetClassifier(nn.Module):
    """The engine's `unet-classifier` (the reference Keras model): blocks of two 3x3 convolutions with bias and
    ReLU (`block1`..`block5`), two max-pools, two nearest upsamplings with concatenation [upsampled, skip],
    Flatten in channel-major order and a `dense` layer to `classes` logits (the engine applies the sigmoid)."""

    def __init__(self, input_shape: tuple[int, int, int] = (3, 224, 224), classes: int = 2):
        super().__init__()
        c, h, w = input_shape

        def block(cin: int, cout: int) -> nn.Module:
            b = nn.Module()
            b.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
            b.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
            return b

        self.block1 = block(c, 64)
        self.block2 = block(64, 128)
        self.block3 = block(128, 256)
        self.block4 = block(256 + 128, 128)
        self.block5 = block(128 + 64, 64)
        self.dense = nn.Linear(64 * h * w, classes)

    @staticmethod
    def _run(b: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return F.relu(b.conv2(F.relu(b.conv1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self._run(self.block1, x)
        b2 = self._run(self.block2, F.max_pool2d(b1, 2))
        b3 = self._run(self.block3, F.max_pool2d(b2, 2))
        b4 = self._run(self.block4, torch.cat([F.interpolate(b3, scale_factor=2, mode="nearest"), b2], dim=1))
        b5 = self._run(self.block5, torch.cat([F.interpolate(b4, scale_factor=2, mode="nearest"), b1], dim=1))
        return self.dense(torch.flatten(b5, 1))


def from_config(config: dict) -> nn.Module:
    """The twin of the engine model that `config` (the engine's configuration JSON) describes."""
    shape = config["input_shape"]
    if config["architecture"] == "unet-classifier":
        return UNetClassifier(tuple(shape), config.get("classes", 2))
    return UNet(in_channels=shape[0], classes=config.get("classes", 1), depth=config.get("depth", 4),
                filters=config.get("filters", 64), batch_norm=config.get("batch_norm", False),
                upsampling=config.get("upsampling", "transpose"),
                classification_head=config.get("classification_head", 0), dropout=config.get("dropout", 0.0))


def move_batch_norm(model: nn.Module, input_shape: tuple[int, ...] = (2, 1, 16, 16)) -> None:
    """Moves every BatchNorm off its defaults, as a trained model's are: affine parameters by U(-0.2, 0.2) and
    running statistics by three training forwards of N(0.5, 2²) inputs; leaves the model in eval mode. Seed torch
    first for the same model every time."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".bn" in name:
                p.add_(torch.rand(p.shape) * 0.4 - 0.2)
        model.train()
        for _ in range(3):
            model(torch.randn(*input_shape) * 2 + 0.5)
    model.eval()
