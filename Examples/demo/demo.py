#!/usr/bin/env python3
"""The unet-engine demo (`make demo`): train a lung-segmentation U-Net for about a minute, evaluate it, segment
a few images, and write a PNG sheet (image / true mask / predicted mask) and a JSON report.

    python3 Examples/demo/demo.py                          # synthetic chest X-ray phantoms (nothing to download)
    python3 Examples/demo/demo.py ../shared/data/lungseg   # a folder with images/ and masks/ (same file names)

Options: --seconds (training time, default 60), --size (model input side, default 64 for phantoms and 128 for a
folder), --count (phantoms, default 256), --depth and --filters (the unet's, default 3 and 8), --out (default
out/demo), --threads, --binary (else $UNET_ENGINE_BIN, PATH or .build/).

Everything goes through the Python client (`Examples/python`): the engine runs as a subprocess speaking
JSON-RPC; the demo opens the dataset in the engine (`dataset.open`), trains with `train.fit` (progress bar),
stops it with `cancel` when the time is up, evaluates the validation split (`evaluate`), and segments images
(`segment`). With an engine that does not serve `dataset.*` yet, it generates phantoms here in numpy and trains
with inline `train.step` batches instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
# The checkout's client first (an installed copy may be older), else `pip install ./Examples/python`'s.
if (REPO / "Examples" / "python" / "unet_engine").is_dir():
    sys.path.insert(0, str(REPO / "Examples" / "python"))
import unet_engine  # noqa: E402

from unet_engine import Engine, EngineError, InvalidParams  # noqa: E402
from unet_engine.images import decode_png  # noqa: E402
from unet_engine.progress import FitProgress  # noqa: E402

SHOWN = 4  # images on the sheet


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", nargs="?", help="a segmentation folder with images/ and masks/ (default: phantoms)")
    p.add_argument("--seconds", type=float, default=float(os.environ.get("DEMO_SECONDS", 60)),
                   help="training time budget in seconds (default 60, or $DEMO_SECONDS)")
    p.add_argument("--size", type=int, default=None, help="model input side in pixels")
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.add_argument("--threads", type=int, default=None, help="engine compute threads (default: all cores)")
    p.add_argument("--binary", default=None, help="the unet-engine executable")
    p.add_argument("--count", type=int, default=256, help="number of phantoms (default 256)")
    p.add_argument("--depth", type=int, default=3, help="the unet's depth (default 3)")
    p.add_argument("--filters", type=int, default=8, help="the unet's first-level filters (default 8)")
    return p.parse_args()


def dice(predicted: np.ndarray, truth: np.ndarray) -> float:
    p, t = predicted > 127, truth > 127
    total = p.sum() + t.sum()
    return 1.0 if total == 0 else float(2 * (p & t).sum() / total)


# The dataset in the engine


def open_dataset(engine: Engine, args: argparse.Namespace, size: int) -> Dict[str, Any]:
    common = dict(task="segmentation", input_shape=[1, size, size], validation_split=0.2, seed=1)
    if args.folder:
        folder = Path(args.folder)
        images, masks = folder / "images", folder / "masks"
        if not images.is_dir() or not masks.is_dir():
            sys.exit(f"demo: {folder} needs images/ and masks/ subfolders (matching file names)")
        # Shenzhen-style names: one patient per CHNCXR_NNNN, so the split never separates a patient's images.
        return engine.dataset_open("xrays", images=str(images), masks=str(masks), group_pattern=r"^[A-Za-z]+_\d+",
                                   **common)
    return engine.dataset_open("xrays", phantoms={"count": args.count, "size": [size, size], "seed": 1}, **common)


def sample_pairs(engine: Engine, name: str, count: int) -> List[Tuple[np.ndarray, Optional[np.ndarray]]]:
    """A few (image, mask) pairs of dataset `name`, as the model sees them (no augmentation)."""
    try:
        sample = engine.dataset_sample(name, count=count, augment=False)
    except (InvalidParams, EngineError) as e:
        print(f"demo: dataset.sample failed ({e}); segmenting without true masks", file=sys.stderr)
        return []
    return [(to_display(item.image), None if item.mask is None else to_mask(item.mask)) for item in sample.samples]


def to_display(image: np.ndarray) -> np.ndarray:
    """A sampled image as an (H, W) uint8 picture (float samples are on the model's 0..1 scale)."""
    a = np.asarray(image)
    if a.ndim == 3:
        a = a[0] if a.shape[0] in (1, 3) else a[:, :, 0]
    if a.dtype != np.uint8:
        lo, hi = float(a.min()), float(a.max())
        a = ((a - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(a)).astype(np.uint8)
    return a


def to_mask(mask: np.ndarray) -> np.ndarray:
    m = np.asarray(mask).squeeze()
    if m.dtype != np.uint8 or m.max() <= 1:
        m = (m > 0.5 * (m.max() if m.max() > 1 else 1)).astype(np.uint8) * 255
    return m


def train_in_engine(engine: Engine, seconds: float) -> unet_engine.History:
    """`train.fit` with a progress bar, cancelled when the time budget is spent (the weights are those of the
    last finished batch; the history holds the finished epochs)."""
    started = time.monotonic()
    stopper: Dict[str, Any] = {}

    def stop_when_time_is_up(p: Dict[str, Any]) -> None:
        elapsed = time.monotonic() - started
        # After an epoch: stop if another would overrun the budget. Within an epoch: stop at the budget.
        another_fits = p["kind"] != "epoch" or elapsed + float(p.get("seconds", 0)) <= seconds
        if not stopper and (elapsed > seconds or not another_fits):
            stopper["at"] = p
            try:
                engine.cancel(p["id"])
            except InvalidParams:
                pass  # it had just finished

    # Epochs "until the time is up": the bar counts them without a total.
    history = engine.fit("xrays", validation="xrays.val", epochs=10_000, progress=FitProgress(None),
                         callback=stop_when_time_is_up,
                         callbacks={"reduce_lr_on_plateau": {"monitor": "val_loss", "factor": 0.5, "patience": 3}})
    return history


# Without dataset.* in the engine: phantoms made here, inline train.step batches


def numpy_phantom(size: int, rng: np.random.Generator) -> Tuple[np.ndarray, np.ndarray]:
    """A rough chest X-ray phantom: a bright body, two dark wobbly lung fields (the mask), a heart, noise."""
    y, x = np.mgrid[0:size, 0:size] / size
    image = np.full((size, size), 25.0)
    body = ((x - 0.5) / 0.45) ** 2 + ((y - 0.55) / 0.5) ** 2 < 1
    image[body] = 170
    mask = np.zeros((size, size), bool)
    for side in (-1, 1):
        cx, cy = 0.5 + side * rng.uniform(0.16, 0.22), rng.uniform(0.45, 0.55)
        rx, ry = rng.uniform(0.1, 0.15), rng.uniform(0.22, 0.3)
        angle = np.arctan2(y - cy, x - cx)
        edge = 1 + 0.08 * np.cos(3 * angle + rng.uniform(0, 6.3))
        mask |= np.sqrt(((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2) < edge
    heart = ((x - 0.55) / 0.12) ** 2 + ((y - 0.62) / 0.1) ** 2 < 1
    mask &= ~heart
    image[mask] = 95
    image[heart] = 200
    image += rng.normal(0, 12, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8), mask.astype(np.uint8) * 255


def train_inline(engine: Engine, size: int, seconds: float, batch: int = 8) -> Tuple[unet_engine.History, list]:
    rng = np.random.default_rng(1)
    validation = [numpy_phantom(size, rng) for _ in range(24)]
    started, epoch, rows, steps = time.monotonic(), 0, [], 16
    print(f"(engine without dataset.*: training on inline phantom batches for {seconds:.0f} s)")
    # The same display as Engine.fit, fed with the fields of train.fit's progress notifications.
    display = FitProgress(None)
    while time.monotonic() - started < seconds:
        losses, t0 = [], time.monotonic()
        for step in range(1, steps + 1):  # an "epoch" of 16 fresh batches
            pairs = [numpy_phantom(size, rng) for _ in range(batch)]
            r = engine.train_step(images=[p[0] for p in pairs], masks=[p[1] for p in pairs])
            losses.append(r["loss"])
            display.update({"kind": "step", "epoch": epoch, "step": step, "steps_per_epoch": steps, "loss": r["loss"],
                            "images_per_second": step * batch / (time.monotonic() - t0)})
        masks = engine.segment_masks([v[0] for v in validation])
        val_dice = float(np.mean([dice(m, v[1]) for m, v in zip(masks, validation)]))
        rows.append({"epoch": epoch, "loss": float(np.mean(losses)), "val_dice": val_dice})
        display.update(dict(rows[-1], kind="epoch", seconds=time.monotonic() - t0))
        epoch += 1
    display.close()
    return unet_engine.History(rows, {"history": rows, "epoch": epoch}), validation


# The sheet


def write_sheet(path: Path, pairs: List[Tuple[np.ndarray, Optional[np.ndarray]]], predicted: List[np.ndarray],
                scores: List[Optional[float]]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    from unet_engine.plots import mask_sheet

    has_truth = all(p[1] is not None for p in pairs)
    titles = [f"image {i + 1}" + (f"  (Dice {s:.3f})" if s is not None else "") for i, s in enumerate(scores)]
    fig = mask_sheet([p[0] for p in pairs], [p[1] for p in pairs] if has_truth else None, predicted, titles)
    fig.savefig(path, dpi=110)


def main() -> int:
    args = parse_args()
    size = args.size or (128 if args.folder else 64)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    report: Dict[str, Any] = {"source": args.folder or f"phantoms ({args.count}, {size}x{size})"}

    with Engine(args.binary, threads=args.threads, timeout=None) as engine:
        hello = engine.hello()
        print(f"unet-engine {hello['version']} (pid {engine.pid}, {hello['threads']} threads): {engine.binary}")
        report["engine"] = {k: hello[k] for k in ("name", "version", "protocol_version", "threads")}
        summary = engine.model_create(architecture="unet", input_shape=[1, size, size], depth=args.depth,
                                      filters=args.filters, batch_norm=True, seed=1)
        print(f"model: unet depth {args.depth}, {args.filters} filters, {summary['total_params']:,} parameters, "
              f"input 1x{size}x{size}")
        report["model"] = dict(summary["config"], total_params=summary["total_params"])
        report["training_config"] = engine.train_configure(optimizer="adam", learning_rate=3e-3, loss="bce+dice",
                                                           batch_size=8, seed=1)

        started = time.monotonic()
        if "dataset.open" in engine.methods and "train.fit" in engine.methods:
            opened = open_dataset(engine, args, size)
            print(f"dataset: {opened['size']} images for training, validation split "
                  f"{opened.get('validation')}; skipped {len(opened.get('skipped') or [])} files")
            report["dataset"] = {k: opened.get(k) for k in ("size", "counts", "validation")}
            report["dataset"]["skipped"] = len(opened.get("skipped") or [])
            print(f"training for about {args.seconds:.0f} s (Ctrl-C stops early and keeps the model) ...")
            history = train_in_engine(engine, args.seconds)
            evaluation = engine.evaluate("xrays.val")
            pairs = sample_pairs(engine, "xrays.val", SHOWN)
        else:
            if args.folder:
                sys.exit("demo: this engine cannot open folders yet (no dataset.open); run without a folder")
            history, validation = train_inline(engine, size, args.seconds)
            masks = engine.segment_masks([v[0] for v in validation])
            scores = [dice(m, v[1]) for m, v in zip(masks, validation)]
            evaluation = {"dice": float(np.mean(scores)), "count": len(validation), "computed_by": "demo (numpy)"}
            pairs = validation[:SHOWN]
        seconds = time.monotonic() - started
        report["training"] = {"seconds": round(seconds, 1), "epochs": len(history),
                              "stopped_by_time_budget": history.cancelled, "history": list(history)}
        report["evaluation"] = {k: v for k, v in evaluation.items() if k != "per_image"}
        steps = history.result.get("step")
        report["training"]["steps"] = steps
        print(f"trained {len(history)} full epochs" + (f" ({steps} steps)" if steps else "") + f" in {seconds:.0f} s; "
              "validation: "
              + "  ".join(f"{k} {evaluation[k]:.3f}" for k in ("dice", "iou", "pixel_accuracy") if k in evaluation))

        if not pairs:  # no samples from the engine: segment files of the folder, without true masks
            files = sorted((Path(args.folder) / "images").iterdir())[:SHOWN] if args.folder else []
            pairs = [(to_display(decode_png(f.read_bytes())), None) for f in files if f.suffix.lower() == ".png"]
        predicted = engine.segment_masks([p[0] for p in pairs]) if pairs else []
        scores = [dice(m, p[1]) if p[1] is not None else None for m, p in zip(predicted, pairs)]
        report["segmented"] = [{"image": i + 1, "dice": s, "foreground_fraction": float(np.mean(m > 0))}
                               for i, (m, s) in enumerate(zip(predicted, scores))]

        checkpoint = out / "model.safetensors"
        engine.model_save(checkpoint)

    sheet = out / "masks.png"
    report_path = out / "report.json"
    files = {"report": str(report_path), "checkpoint": str(checkpoint)}
    try:
        if pairs:
            write_sheet(sheet, pairs, predicted, scores)
            files["sheet"] = str(sheet)
        if len(history):
            import matplotlib.pyplot as plt
            from unet_engine.plots import plot_history
            axes = plot_history(history)
            axes[0].figure.tight_layout()
            axes[0].figure.savefig(out / "curves.png", dpi=100)
            plt.close("all")
            files["curves"] = str(out / "curves.png")
    except ImportError:
        print("demo: matplotlib is not installed: no PNG sheet (pip install matplotlib)", file=sys.stderr)
    report["files"] = files
    report_path.write_text(json.dumps(report, indent=2, default=float) + "\n")

    print("\nwritten:")
    for name, path in files.items():
        print(f"  {name:10s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
