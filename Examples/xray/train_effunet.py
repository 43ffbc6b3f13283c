"""The seed's Eff-UNet recipe (issue 15) on the Kermany train folders (../shared/data/pneumonia/train): eff-unet b1
with the UNet++ decoder and a 2-channel mask map whose global average pool feeds a Dense + softmax (the "mask"
head), Adam 1e-4, the 2-class cross-entropy, ReduceLROnPlateau on val_loss, ModelCheckpoint (best), EarlyStopping,
rotation / flip / zoom / shear augmentation, a validation split grouped by patient. Writes report.json (ROC AUC,
accuracy, confusion matrix, wall time) and the seed's picture for 16 validation images (8 per class): the image
with every pixel whose PNEUMONIA probability in the mask map (`explain` with `class_map`: the head's Dense on each
pixel's mask logits, then the softmax) is >= 0.97 painted (0, 255, 0), each as a PNG in
--out and all 16 as a 512x512 contact_sheet.png there.

The full recipe (hours on a 2-core machine):

    python3 Examples/xray/train_effunet.py --encoder efficientnet-b1 --size 224 --epochs 30 --out runs/effunet

A reduced run: `--encoder efficientnet-b0 --size 128 --per-class 400 --epochs 2` (the subset is a folder of
symlinks in a temporary directory; the data is never copied). `--evaluate runs/effunet/best.safetensors` skips the
training: it loads that checkpoint (ModelCheckpoint's best, say, of a run that was stopped) and writes the same
report and pictures on the same validation split.
"""
import argparse
import os
import random
import tempfile

import numpy as np
from PIL import Image

from common import DATA, Clock, engine, fit_keras_style, require, write_report

ap = argparse.ArgumentParser()
ap.add_argument("--encoder", default="efficientnet-b1")
ap.add_argument("--decoder", default="unetplusplus")
ap.add_argument("--size", type=int, default=224)
ap.add_argument("--channels", type=int, default=3, help="3 as the seed (RGB-converted), or 1")
ap.add_argument("--epochs", type=int, default=30)
ap.add_argument("--batch", type=int, default=8)
ap.add_argument("--lr", type=float, default=1e-4)
ap.add_argument("--per-class", type=int, default=0, help="train on this many images per class (0: all)")
ap.add_argument("--threshold", type=float, default=0.97, help="PNEUMONIA probability painted green")
ap.add_argument("--bn-momentum", type=float, default=0.1,
                help="the encoder's BatchNorm momentum: 0.1 by default (smp's 0.01 left the running statistics "
                     "near their initial values after a short run and the model called every image PNEUMONIA, "
                     "issue 15)")
ap.add_argument("--threads", type=int, default=None)
ap.add_argument("--out", default="runs/effunet")
ap.add_argument("--evaluate", metavar="CHECKPOINT", default=None,
                help="no training: evaluate this checkpoint on the validation split and draw the pictures")
args = ap.parse_args()

root = require(os.path.join(DATA, "pneumonia", "train"))
if args.per_class:
    # A seeded subset per class, as symlinks (whole patients are kept together by the split below all the same).
    subset = tempfile.mkdtemp(prefix="effunet-subset-")
    rng = random.Random(1)
    for cls in sorted(os.listdir(root)):
        names = sorted(os.listdir(os.path.join(root, cls)))
        os.makedirs(os.path.join(subset, cls))
        for name in rng.sample(names, min(args.per_class, len(names))):
            os.symlink(os.path.join(root, cls, name), os.path.join(subset, cls, name))
    root = subset
clock = Clock()
os.makedirs(args.out, exist_ok=True)
shape = [args.channels, args.size, args.size]
with engine(args.threads) as e:
    ds = e.dataset_open("xray", task="classification", root=root, input_shape=shape, validation_split=0.15,
                        group_pattern=r"(person\d+|IM-\d+)", seed=1,
                        augment={"rotation": 20, "shear": 0.2, "zoom": 0.2, "horizontal_flip": True})
    print(f"train {ds['size']} {ds['counts']}, validation {ds['validation']['size']} {ds['validation']['counts']}")
    if args.evaluate:
        summary = e.model_load(args.evaluate)
        print(f"loaded {args.evaluate}: {summary['total_params']:,} parameters; no training")
        history = []
    else:
        summary = e.model_create("eff-unet", shape, encoder=args.encoder, decoder=args.decoder, classes=2,
                                 classification_head={"classes": 2, "from": "mask", "dropout": 0.0},
                                 bn_momentum=args.bn_momentum, seed=1)
        print(f"eff-unet {args.encoder} {args.decoder}, mask head of 2: {summary['total_params']:,} parameters")
        e.train_configure(optimizer="adam", learning_rate=args.lr, loss="ce", batch_size=args.batch, seed=1)
        history = fit_keras_style(e, "xray", args.epochs, args.out, lr_plateau=("val_loss", 0.2, 2, 1e-6),
                                  early_stopping=("val_loss", 5), best="val_loss")
    r = e.evaluate("xray.val")
    keys = ("accuracy", "precision", "recall", "specificity", "f1", "auc", "confusion_matrix", "report", "loss")

    # The seed's picture: 8 validation images per class, PNEUMONIA-probable pixels of the mask map in green.
    files = e.dataset_files("xray.val")
    pictures = []
    for cls in ("NORMAL", "PNEUMONIA"):
        for f in [f for f in files if f.get("class") == cls][:8]:
            # The class-probability map: the head's Dense on every pixel of the 2-channel mask logit map, then the
            # softmax (pooling and the Dense commute, so its mean is the model's logits); the mask's own channel 1
            # is not PNEUMONIA, since the Dense may mix or swap the channels (it did in the README's run).
            pneumonia = e.explain_maps([f["path"]], method="class_map", target=1)[0]
            picture = np.asarray(Image.open(f["path"]).convert("RGB").resize(pneumonia.shape[::-1]))
            picture = picture.copy()
            picture[pneumonia >= args.threshold] = (0, 255, 0)
            name = os.path.join(args.out, f"{cls.lower()}_{os.path.basename(f['path'])}.png")
            Image.fromarray(picture).save(name)
            pictures.append({"file": f["path"], "class": cls, "picture": name,
                             "green_fraction": float((pneumonia >= args.threshold).mean())})
    # A contact sheet of the 16 pictures (4 x 4 thumbnails, NORMAL on the top two rows), small enough to commit.
    side = 128
    sheet = Image.new("RGB", (4 * side, 4 * side))
    for i, p in enumerate(pictures):
        sheet.paste(Image.open(p["picture"]).resize((side, side)), ((i % 4) * side, (i // 4) * side))
    sheet_path = os.path.join(args.out, "contact_sheet.png")
    sheet.save(sheet_path, optimize=True)
    report = {
        "task": "pneumonia classification, the seed's Eff-UNet recipe", "data": root, "input": shape,
        # From the model itself, so that an --evaluate run reports the checkpoint's, not the flags' defaults.
        "model": {"architecture": summary["architecture"], "parameters": summary["total_params"],
                  **{k: summary["config"].get(k) for k in ("encoder", "decoder", "bn_momentum")}},
        "train_counts": ds["counts"], "validation_counts": ds["validation"]["counts"],
        "epochs_run": len(history), "seconds_per_epoch": [round(h["seconds"], 1) for h in history],
        "total_seconds": clock.seconds(), "validation": {k: r.get(k) for k in keys}, "pictures": pictures,
        "contact_sheet": sheet_path, "subset_per_class": args.per_class or None, "evaluated_checkpoint": args.evaluate,
        "history": list(history),
    }
    print(f"validation AUC {r['auc']:.4f}  accuracy {r['accuracy']:.4f}  confusion {r['confusion_matrix']}  "
          f"({report['total_seconds']} s in all)")
    write_report(os.path.join(args.out, "report.json"), report)
