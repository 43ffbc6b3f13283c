"""Lung segmentation on the Shenzhen set (../shared/data/lungseg): a `unet` at 256x256, 20% held out by the
seeded split, trained with BCE + Dice and Adam, early stopping on validation Dice, and recipe.py's recipe: by
default "shift" (the one that holds up under a change of hospital: harmonize, shift augmentation, and the
validation Dice reported after postprocess too), or `--recipe classic` (the README's first augmentation) to
reproduce the README's first figures.

    python3 Examples/xray/train_lungseg.py [--epochs 12] [--filters 16] [--recipe shift|classic] [--out runs/lungseg]
"""
import argparse
import os

import recipe as recipes
from common import DATA, Clock, engine, require, write_report

ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int, default=12)
ap.add_argument("--filters", type=int, default=16)
ap.add_argument("--depth", type=int, default=4)
ap.add_argument("--size", type=int, default=256)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--threads", type=int, default=None)
ap.add_argument("--recipe", choices=recipes.RECIPES, default=recipes.DEFAULT)
ap.add_argument("--out", default="runs/lungseg")
args = ap.parse_args()

root = require(os.path.join(DATA, "lungseg"))
clock = Clock()
os.makedirs(args.out, exist_ok=True)
with engine(args.threads) as e:
    ds = e.dataset_open("lungs", task="segmentation", images=os.path.join(root, "images"),
                        masks=os.path.join(root, "masks"), input_shape=[1, args.size, args.size],
                        validation_split=0.2, seed=1, **recipes.dataset_params("lung", args.recipe))
    print(f"train {ds['size']} images, validation {ds['validation']['size']}, skipped {len(ds['skipped'])}")
    summary = e.model_create("unet", [1, args.size, args.size], depth=args.depth, filters=args.filters,
                             batch_norm=True, seed=1)
    print(f"unet depth {args.depth}, {args.filters} filters: {summary['total_params']:,} parameters")
    e.train_configure(optimizer="adam", learning_rate=args.lr, loss="bce+dice", batch_size=args.batch, seed=1)
    best = os.path.abspath(os.path.join(args.out, "best.safetensors"))
    history = e.fit("lungs", validation="lungs.val", epochs=args.epochs, callbacks={
        "reduce_lr_on_plateau": {"monitor": "val_loss", "factor": 0.5, "patience": 2, "min_lr": 1e-5},
        "early_stopping": {"monitor": "val_dice", "patience": 4, "restore_best_weights": True},
        "checkpoint": {"path": best, "monitor": "val_dice", "save_best_only": True}})
    result = e.evaluate("lungs.val", per_image=False)
    report = {
        "task": "lung segmentation", "data": root, "input": [1, args.size, args.size],
        "model": {"architecture": "unet", "depth": args.depth, "filters": args.filters, "batch_norm": True,
                  "parameters": summary["total_params"]},
        "train_size": ds["size"], "validation_size": ds["validation"]["size"],
        "epochs_run": len(history), "seconds_per_epoch": [round(h["seconds"], 1) for h in history],
        "total_seconds": clock.seconds(),
        "validation": {k: result[k] for k in ("dice", "iou", "pixel_accuracy", "pooled_dice", "loss")},
        "recipe": args.recipe, "history": list(history),
    }
    print(f"validation Dice {result['dice']:.4f}  IoU {result['iou']:.4f}  pixel accuracy "
          f"{result['pixel_accuracy']:.4f}  ({report['total_seconds']} s in all)")
    post = recipes.postprocess("lung", args.recipe)
    if post:
        cleaned = e.evaluate("lungs.val", postprocess=post)
        report["postprocess"] = post
        report["validation_postprocessed"] = {k: cleaned[k] for k in ("dice", "iou", "pixel_accuracy")}
        print(f"post-processed {post}: Dice {cleaned['dice']:.4f}  IoU {cleaned['iou']:.4f}")
    write_report(os.path.join(args.out, "report.json"), report)
