"""How the lung and pneumonia recipes hold up under a change of hospital (issue 22): trains a model with the old
recipe or the new one, then scores it on the clean validation split and on shifted copies of it.

Shifted copies of the validation images are written once (numpy + Pillow, from the 8-bit files):
  gamma0.5, gamma2.0     255 * (v / 255)^g
  contrast0.6            (v - mean) * 0.6 + mean
  letterbox4:3           the image centred on a black canvas 4/3 as wide (masks padded alike)
  markers                inverted markers: white boxes with dark "R" and "AP PORTABLE" text in two corners
  blur                   Gaussian blur, sigma 1.5% of the side (7.7 px at 512, 3.4 at 224)
  noise                  Gaussian noise, std 12 (0...255), seeded
Recipes (defined in recipe.py, shared with train_pneumonia.py and train_lungseg.py):
  old  recipe.py's "classic": the README's first augmentation, no harmonization, threshold 0.5 (argmax)
  new  recipe.py's "shift": harmonize, shift augmentation, postprocess for lungs, weight decay for pneumonia;
       here the pneumonia threshold is chosen by Youden's J and the temperature by NLL on half the patients (A)
       of the shifted validation copies; every classifier figure is on the other half (B).

    python3 Examples/xray/shift_eval.py --task lung --recipe old [--size 128 --epochs 6 --filters 8]
    python3 Examples/xray/shift_eval.py --task lung --recipe new
    python3 Examples/xray/shift_eval.py --task pneumonia --recipe old|new [--train-fraction 0.5]
    python3 Examples/xray/shift_eval.py --table     # the markdown tables of every report in --out
Each run writes <out>/<task>-<recipe>.json. Keep a run under ~10 minutes on a shared machine (sizes, epochs).
"""
import argparse
import glob
import json
import math
import os
import re
import zlib

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

import recipe as recipes
from common import DATA, Clock, engine, require, write_report

RECIPE = {"old": "classic", "new": "shift"}
SHIFTS = ["gamma0.5", "gamma2.0", "contrast0.6", "letterbox4:3", "markers", "blur", "noise"]



def shifted(pixels, shift, rng):
    """One shift of a grey uint8 image (H, W) -> (image, how the mask must follow: None or the padding)."""
    x = pixels.astype(np.float64)
    h, w = pixels.shape
    if shift.startswith("gamma"):
        g = float(shift[5:])
        return np.clip(255 * (x / 255) ** g, 0, 255).round().astype(np.uint8), None
    if shift == "contrast0.6":
        return np.clip((x - x.mean()) * 0.6 + x.mean(), 0, 255).round().astype(np.uint8), None
    if shift == "letterbox4:3":
        wide = int(round(h * 4 / 3))
        pad = (max(wide - w, 0) // 2, max(wide - w, 0) - max(wide - w, 0) // 2)
        return np.pad(pixels, ((0, 0), pad)), pad
    if shift == "markers":
        im = Image.fromarray(pixels)
        d = ImageDraw.Draw(im)
        s = max(h // 10, 8)
        d.rectangle([s // 3, s // 3, s // 3 + s, s // 3 + s], fill=255)
        d.text((s // 3 + s // 4, s // 3 + s // 8), "R", fill=0, font_size=int(s * 0.8))
        d.rectangle([w - 4 * s, h - s - s // 3, w - s // 3, h - s // 3], fill=255)
        d.text((w - 4 * s + s // 6, h - s - s // 3 + s // 5), "AP PORTABLE", fill=0, font_size=int(s * 0.45))
        return np.asarray(im), None
    if shift == "blur":
        im = Image.fromarray(pixels).filter(ImageFilter.GaussianBlur(radius=0.015 * h))
        return np.asarray(im), None
    if shift == "noise":
        return np.clip(x + rng.normal(0, 12, size=x.shape), 0, 255).round().astype(np.uint8), None
    raise ValueError(shift)


def write_copies(files, out, task):
    """Shifted copies of the validation files under out/<shift>/ (images/ + masks/, or class folders)."""
    for shift in SHIFTS:
        rng = np.random.default_rng(22)
        folder = os.path.join(out, shift)
        if os.path.exists(os.path.join(folder, ".done")):
            continue
        os.makedirs(folder, exist_ok=True)  # also when there are no files
        for f in files:
            grey = np.asarray(Image.open(f["path"]).convert("L"))
            image, pad = shifted(grey, shift, rng)
            name = os.path.splitext(os.path.basename(f["path"]))[0] + ".png"
            if task == "lung":
                os.makedirs(os.path.join(folder, "images"), exist_ok=True)
                os.makedirs(os.path.join(folder, "masks"), exist_ok=True)
                Image.fromarray(image).save(os.path.join(folder, "images", name))
                mask = np.asarray(Image.open(f["mask"]).convert("L"))
                if pad:
                    mask = np.pad(mask, ((0, 0), pad))
                Image.fromarray(mask).save(os.path.join(folder, "masks", name))
            else:
                os.makedirs(os.path.join(folder, f["class"]), exist_ok=True)
                Image.fromarray(image).save(os.path.join(folder, f["class"], name))
        open(os.path.join(folder, ".done"), "w").close()


# Metrics for the classifier, from per-image probabilities (the engine's evaluate gives the same AUC).

def auc(scores, labels):
    scores, labels = np.asarray(scores), np.asarray(labels)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    s = scores[order]
    i = 0
    while i < len(s):  # average ranks of ties
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    pos = labels == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)) if n1 and n0 else float("nan")


def youden(scores, labels):
    best, threshold = -1.0, 0.5
    for t in np.unique(scores):
        pred = scores >= t
        j = (pred & (labels == 1)).sum() / max((labels == 1).sum(), 1) - (pred & (labels == 0)).sum() / max(
            (labels == 0).sum(), 1)
        if j > best:
            best, threshold = j, float(t)
    return threshold


def logits(p):
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def temperature(scores, labels):
    """The T in 0.25...8 minimising the NLL of sigmoid(logit / T)."""
    z = logits(scores)
    grid = np.exp(np.linspace(np.log(0.25), np.log(8), 200))
    nll = [-np.mean(labels * np.log(1 / (1 + np.exp(-z / t)) + 1e-12)
                    + (1 - labels) * np.log(1 - 1 / (1 + np.exp(-z / t)) + 1e-12)) for t in grid]
    return float(grid[int(np.argmin(nll))])


def ece(scores, labels, bins=15):
    """Expected calibration error (Guo et al. 2017): confidence max(p, 1 - p) in 15 equal bins."""
    conf = np.maximum(scores, 1 - scores)
    correct = (scores >= 0.5) == (labels == 1)
    total = 0.0
    for k in range(bins):
        lo, hi = k / bins * 0.5 + 0.5, (k + 1) / bins * 0.5 + 0.5
        m = (conf > lo) & (conf <= hi) if k else (conf >= lo) & (conf <= hi)
        if m.any():
            total += m.mean() * abs(conf[m].mean() - correct[m].mean())
    return float(total)


def at_threshold(scores, labels, t):
    pred = scores >= t
    tp, fn = int((pred & (labels == 1)).sum()), int((~pred & (labels == 1)).sum())
    tn, fp = int((~pred & (labels == 0)).sum()), int((pred & (labels == 0)).sum())
    return {"sensitivity": tp / max(tp + fn, 1), "specificity": tn / max(tn + fp, 1),
            "accuracy": (tp + tn) / max(len(labels), 1), "confusion_matrix": [[tn, fp], [fn, tp]]}


def patient_half(text, pattern):
    """0 or 1, stable across runs (crc32 of the patient id, not Python's salted hash)."""
    return zlib.crc32(re.search(pattern, text).group(1).encode()) % 2


def run_lung(e, args, out):
    root = require(os.path.join(DATA, "lungseg"))
    new = args.recipe == "new"
    recipe = RECIPE[args.recipe]
    extra = recipes.inference_params("lung", recipe)
    augment = recipes.augment("lung", recipe)
    post = recipes.postprocess("lung", "shift")  # both recipes are scored with and without it
    ds = e.dataset_open("lungs", task="segmentation", images=os.path.join(root, "images"),
                        masks=os.path.join(root, "masks"), input_shape=[1, args.size, args.size],
                        validation_split=0.2, seed=1, augment=augment, **extra)
    files = e.dataset_files("lungs.val")
    copies = os.path.join(args.out, "lung-copies")
    write_copies(files, copies, "lung")
    summary = e.model_create("unet", [1, args.size, args.size], depth=args.depth, filters=args.filters,
                             batch_norm=True, seed=args.seed)
    e.train_configure(optimizer="adam", learning_rate=1e-3, loss="bce+dice", batch_size=8, seed=args.seed)
    history = e.fit("lungs", validation="lungs.val", epochs=args.epochs, callbacks={
        "reduce_lr_on_plateau": {"monitor": "val_loss", "factor": 0.5, "patience": 2, "min_lr": 1e-5},
        "early_stopping": {"monitor": "val_dice", "patience": 3, "restore_best_weights": True}})
    rows = {"clean": "lungs.val"}
    for shift in SHIFTS:
        e.dataset_open("shift-" + shift, task="segmentation", images=os.path.join(copies, shift, "images"),
                       masks=os.path.join(copies, shift, "masks"), input_shape=[1, args.size, args.size], **extra)
        rows[shift] = "shift-" + shift
    table = {}
    for name, dataset in rows.items():
        plain = e.evaluate(dataset)
        cleaned = e.evaluate(dataset, postprocess=post)
        table[name] = {"dice": plain["dice"], "iou": plain["iou"], "dice_postprocessed": cleaned["dice"],
                       "iou_postprocessed": cleaned["iou"]}
        print(f"{name:14s} Dice {plain['dice']:.4f}  post-processed {cleaned['dice']:.4f}")
    key = "dice_postprocessed" if new else "dice"
    worst = min(table[s][key] for s in SHIFTS)
    return {"train_size": ds["size"], "validation_size": ds["validation"]["size"],
            "parameters": summary["total_params"], "epochs_run": len(history),
            "augment": augment, "harmonize": extra.get("harmonize"), "postprocess": recipes.postprocess("lung", recipe),
            "headline": key, "table": table, "worst_drop": table["clean"][key] - worst}


def run_pneumonia(e, args, out):
    root = require(os.path.join(DATA, "pneumonia", "train"))
    new = args.recipe == "new"
    recipe = RECIPE[args.recipe]
    extra = recipes.inference_params("pneumonia", recipe)
    augment = recipes.augment("pneumonia", recipe)
    pattern = r"(person\d+|IM-\d+)"
    ds = e.dataset_open("xray", task="classification", root=root, input_shape=[1, args.size, args.size],
                        validation_split=0.15, group_pattern=pattern, seed=1, augment=augment, **extra)
    if args.train_fraction < 1:
        # A patient-grouped subset of the training split, to keep the run short: the same split, fewer images.
        train = [f for f in e.dataset_files("xray")
                 if zlib.crc32(re.search(pattern, f["path"]).group(1).encode()) % 1000 < 1000 * args.train_fraction]
        manifest = os.path.join(args.out, "pneumonia-train-subset.csv")
        with open(manifest, "w") as m:
            m.write("path,label\n")
            for f in train:
                m.write(f"{f['path']},{f['class']}\n")
        # Another name: opening "xray" again without a split would close "xray.val".
        e.dataset_open("xray-train", task="classification", manifest=manifest, input_shape=[1, args.size, args.size],
                       seed=args.seed, augment=augment, **extra)
    train_name = "xray-train" if args.train_fraction < 1 else "xray"
    files = e.dataset_files("xray.val")
    copies = os.path.join(args.out, "pneumonia-copies")
    write_copies(files, copies, "pneumonia")
    summary = e.model_create("unet", [1, args.size, args.size], depth=args.depth, filters=args.filters,
                             batch_norm=True, classification_head=2, seed=args.seed)
    config = dict(optimizer="adam", learning_rate=1e-3, loss="ce", class_weights="balanced", batch_size=16,
                  seed=args.seed)
    config.update(recipes.train_params("pneumonia", recipe))
    e.train_configure(**config)
    history = e.fit(train_name, validation="xray.val", epochs=args.epochs, callbacks={
        "reduce_lr_on_plateau": {"monitor": "val_loss", "factor": 0.3, "patience": 1, "min_lr": 1e-5},
        "early_stopping": {"monitor": "val_auc", "patience": 3, "restore_best_weights": True}})
    scores, labels, groups = {}, None, None
    for shift in ["clean"] + SHIFTS:
        name = "xray.val"
        if shift != "clean":
            name = "shift-" + shift
            e.dataset_open(name, task="classification", root=os.path.join(copies, shift),
                           input_shape=[1, args.size, args.size], **extra)
        rows = e.evaluate(name, per_image=True)["per_image"]
        # Copies are written as PNG under the original stem: match rows by stem, in the clean split's order.
        by_stem = {os.path.splitext(os.path.basename(r["id"]))[0]: r for r in rows}
        if labels is None:
            stems = [os.path.splitext(os.path.basename(r["id"]))[0] for r in rows]
            labels = np.array([r["label"] for r in rows])
            groups = np.array([patient_half(s, pattern) for s in stems])
        scores[shift] = np.array([by_stem[s]["probabilities"][1] for s in stems])
    # Operating point and temperature from half the patients (A) of the shifted copies; figures on the rest (B).
    a, b = groups == 0, groups == 1
    if new:
        pooled = np.concatenate([scores[s][a] for s in SHIFTS])
        pooled_labels = np.concatenate([labels[a] for _ in SHIFTS])
        threshold, t = youden(pooled, pooled_labels), temperature(pooled, pooled_labels)
    else:
        threshold, t = 0.5, 1.0
    table = {}
    for shift, s in scores.items():
        calibrated = 1 / (1 + np.exp(-logits(s) / t))
        row = {"auc": auc(s[b], labels[b]), **at_threshold(s[b], labels[b], threshold),
               "ece": ece(s[b], labels[b]), "ece_temperature": ece(calibrated[b], labels[b])}
        table[shift] = row
        print(f"{shift:14s} AUC {row['auc']:.4f}  sens {row['sensitivity']:.3f}  spec {row['specificity']:.3f}  "
              f"ECE {row['ece']:.3f} -> {row['ece_temperature']:.3f}  {row['confusion_matrix']}")
    worst = {k: max(abs(table[s][k] - table["clean"][k]) for s in SHIFTS) for k in ("sensitivity", "specificity")}
    return {"train_size": len(e.dataset_files(train_name)),
            "validation_size": int(len(labels)), "reported_on": int(b.sum()), "parameters": summary["total_params"],
            "epochs_run": len(history), "augment": augment, "harmonize": extra.get("harmonize"),
            "train_configure": config, "threshold": threshold, "temperature": t, "table": table,
            "worst_change": worst}


def markdown(out):
    lines = []
    for task in ("lung", "pneumonia"):
        reports = {r: json.load(open(p)) for r in ("old", "new")
                   for p in [os.path.join(out, f"{task}-{r}.json")] if os.path.exists(p)}
        if not reports:
            continue
        shifts = ["clean"] + SHIFTS
        if task == "lung":
            lines.append("| recipe | " + " | ".join(shifts) + " | worst drop |")
            lines.append("|---" * (len(shifts) + 2) + "|")
            for r, rep in reports.items():
                for key in (["dice"] + (["dice_postprocessed"] if rep["postprocess"] else [])):
                    t = rep["table"]
                    drop = t["clean"][key] - min(t[s][key] for s in SHIFTS)
                    lines.append(f"| {r} ({key.replace('_', ' ')}) | " + " | ".join(f"{t[s][key]:.3f}" for s in shifts)
                                 + f" | {drop:.3f} |")
        else:
            lines.append("| recipe | metric | " + " | ".join(shifts) + " |")
            lines.append("|---" * (len(shifts) + 2) + "|")
            for r, rep in reports.items():
                t = rep["table"]
                for key in ("auc", "sensitivity", "specificity", "ece", "ece_temperature"):
                    lines.append(f"| {r} (threshold {rep['threshold']:.3f}) | {key} | "
                                 + " | ".join(f"{t[s][key]:.3f}" for s in shifts) + " |")
        lines.append("")
    print("\n".join(lines))


ap = argparse.ArgumentParser()
ap.add_argument("--task", choices=["lung", "pneumonia"])
ap.add_argument("--recipe", choices=["old", "new"])
ap.add_argument("--size", type=int, default=128)
ap.add_argument("--epochs", type=int, default=6)
ap.add_argument("--filters", type=int, default=8)
ap.add_argument("--depth", type=int, default=4)
ap.add_argument("--train-fraction", type=float, default=1.0)
ap.add_argument("--threads", type=int, default=None)
# The model's, the training order's and augmentation's seed (the validation split stays seeded by 1, so every run
# is scored on the same images): to tell a recipe's effect from run-to-run noise.
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("--out", default="runs/shift")
ap.add_argument("--table", action="store_true")
args = ap.parse_args()

if args.table:
    markdown(args.out)
else:
    if not args.task or not args.recipe:
        ap.error("--task and --recipe are required (or --table)")
    clock = Clock()
    os.makedirs(args.out, exist_ok=True)
    with engine(args.threads) as e:
        report = (run_lung if args.task == "lung" else run_pneumonia)(e, args, args.out)
    report.update(task=args.task, recipe=args.recipe, size=args.size, epochs=args.epochs, filters=args.filters,
                  depth=args.depth, train_fraction=args.train_fraction, seed=args.seed, seconds=clock.seconds())
    write_report(os.path.join(args.out, f"{args.task}-{args.recipe}.json"), report)
