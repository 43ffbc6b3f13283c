#!/usr/bin/env python3
"""Does test-time augmentation help a trained model? Trains a small segmentation unet on the engine's built-in
chest X-ray phantoms, then scores the held-in validation split with `segment` and no TTA, `["hflip"]` and
`["hflip", "vflip"]`, and prints a table of the mean per-image Dice (numpy, the engine's convention: an image
whose mask and prediction are both empty scores 1) and its change against the plain forward.

    python3 Examples/benchmarks/tta_eval.py --threads 2          # about a minute of training on 2 threads

"Within noise" is judged by the paired per-image differences: the table gives their mean and its standard
error (the same images under each view, so the pairing removes the images' own spread). `evaluate`'s Dice on
the same split (no TTA) is printed as a check that the numpy Dice is the engine's.

Options: --epochs (default 15, about a minute on 2 threads), --count (phantoms, default 320), --size (default 64), --threads, --binary.
Same seed, epochs and threads give the same figures.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))  # the checkout's client first
from unet_engine import Engine  # noqa: E402

VIEWS = {"none": [], "hflip": ["hflip"], "hflip+vflip": ["hflip", "vflip"]}


def dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    p, t = predicted > 0, truth > 0
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else float(2 * (p & t).sum() / total)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--count", type=int, default=320)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--binary", default=None)
    args = p.parse_args()

    with Engine(args.binary, threads=args.threads, timeout=None) as engine:
        hello = engine.hello()
        engine.model_create(architecture="unet", input_shape=[1, args.size, args.size], depth=3, filters=8,
                            batch_norm=True, seed=1)
        engine.train_configure(optimizer="adam", learning_rate=3e-3, loss="bce+dice", batch_size=8, seed=1)
        opened = engine.dataset_open("xrays", task="segmentation", input_shape=[1, args.size, args.size],
                                     phantoms={"count": args.count, "size": [args.size, args.size], "seed": 1},
                                     validation_split=0.2, seed=1)
        started = time.monotonic()
        history = engine.fit("xrays", validation="xrays.val", epochs=args.epochs, progress=False)
        seconds = time.monotonic() - started
        evaluation = engine.evaluate("xrays.val")

        samples = engine.dataset_sample("xrays.val", count=evaluation["count"], augment=False)["samples"]
        images = [s["image_array"] for s in samples]  # float32, the model's input, sent back as is
        truths = [s["mask_array"] for s in samples]
        scores = {}
        for name, tta in VIEWS.items():
            masks = [m["mask"] for m in engine.segment(images, encoding="array", tta=tta)["masks"]]
            scores[name] = np.array([dice(m, t) for m, t in zip(masks, truths)])

    print(f"unet-engine {hello['version']}, {hello['threads']} threads; unet depth 3, 8 filters, batch norm, "
          f"input 1x{args.size}x{args.size}")
    print(f"trained {len(history)} epochs on {opened['size']} phantoms in {seconds:.0f} s; "
          f"validation {len(images)} images; evaluate's Dice {evaluation['dice']:.4f}")
    print()
    print("| tta | mean Dice | change | s.e. of change | images better / worse |")
    print("|---|---|---|---|---|")
    plain = scores["none"]
    for name, s in scores.items():
        d = s - plain
        se = d.std(ddof=1) / np.sqrt(len(d)) if name != "none" else 0.0
        print(f"| {name} | {s.mean():.4f} | {d.mean():+.4f} | {se:.4f} | {(d > 0).sum()} / {(d < 0).sum()} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
