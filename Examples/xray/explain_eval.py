"""Where does the pneumonia classifier look? Each explanation method of the engine's `explain`, measured on the
patient-grouped validation split of the Kermany train folders (../shared/data/pneumonia/train) against the lung
field the engine's own lung segmenter predicts for each image.

    python3 Examples/xray/train_lungseg.py --out runs/lungseg       # or reduced: --epochs 4 --filters 8 --size 128
    python3 Examples/xray/train_pneumonia.py --out runs/pneumonia   # or reduced: --epochs 2 --filters 8
    python3 Examples/xray/explain_eval.py [--images 40] [--size 128] [--out runs/explain]

Per method: the energy-based pointing game (Wang et al. 2020, Score-CAM: the share of the map's sum inside the
predicted lungs), the pointing game (the share of images whose map maximum lies inside them), and the time per
image; the lungs' own share of the image is what a uniform map would score. Each image is read, made grey and
resized to --size x --size here (the classifier's input), so maps and lung masks share one grid. The target is
the class the model predicts. Writes report.json and explain.png (image, Grad-CAM, lungs outlined) to --out.
"""
import argparse
import os
import time

import numpy as np
from PIL import Image

from common import DATA, Clock, engine, require, write_report

ap = argparse.ArgumentParser()
ap.add_argument("--pneumonia-model", default="runs/pneumonia/best.safetensors")
ap.add_argument("--lung-model", default="runs/lungseg/best.safetensors")
ap.add_argument("--images", type=int, default=40, help="validation images, half of each class")
ap.add_argument("--size", type=int, default=128)
ap.add_argument("--steps", type=int, default=64, help="integrated gradients' steps")
ap.add_argument("--samples", type=int, default=25, help="SmoothGrad's samples")
ap.add_argument("--threads", type=int, default=None)
ap.add_argument("--out", default="runs/explain")
args = ap.parse_args()

METHODS = ["gradcam", "gradcam++", "saliency", "smoothgrad", "integrated_gradients", "class_map"]
root = require(os.path.join(DATA, "pneumonia", "train"))
clock = Clock()
os.makedirs(args.out, exist_ok=True)


def load(path):
    with Image.open(path) as im:
        return np.asarray(im.convert("L").resize((args.size, args.size), Image.BILINEAR), dtype=np.uint8)


with engine(args.threads) as lungs, engine(args.threads) as classifier:
    # The split of train_pneumonia.py: 15% of the patients, grouped by personN / IM-NNNN.
    classifier.dataset_open("xray", task="classification", root=root, input_shape=[1, args.size, args.size],
                            validation_split=0.15, group_pattern=r"(person\d+|IM-\d+)", seed=1)
    files = classifier.dataset_files("xray.val")
    by_class = {}
    for f in files:
        by_class.setdefault(f["class"], []).append(f)
    chosen = [f for c in sorted(by_class) for f in by_class[c][: args.images // 2]]
    print(f"{len(files)} validation images; explaining {len(chosen)} "
          f"({', '.join(f'{len(by_class[c][: args.images // 2])} {c}' for c in sorted(by_class))})")
    classifier.model_load(os.path.abspath(args.pneumonia_model))
    lungs.model_load(os.path.abspath(args.lung_model))
    images = [load(f["path"]) for f in chosen]
    masks = [m > 0 for m in lungs.segment_masks(images)]
    predictions = classifier.predict(images).predictions
    lung_share = float(np.mean([m.mean() for m in masks]))
    rows, maps_by_method = [], {}
    for method in METHODS:
        extra = {"steps": args.steps} if method == "integrated_gradients" else {}
        if method == "smoothgrad":
            extra = {"samples": args.samples}
        start = time.perf_counter()
        try:
            maps = classifier.explain_maps(images, method, batch_size=8, **extra)
        except Exception as e:  # class_map needs a pooled logit map or a mask of one channel per class
            print(f"{method}: {e}")
            rows.append({"method": method, "error": str(e)})
            continue
        seconds = (time.perf_counter() - start) / len(images)
        maps_by_method[method] = maps
        energy = [float((m * k).sum() / m.sum()) if m.sum() > 0 else float("nan") for m, k in zip(maps, masks)]
        hits = [bool(k.flat[int(np.argmax(m))]) for m, k in zip(maps, masks)]
        rows.append({"method": method, "energy_in_lungs": float(np.nanmean(energy)), "pointing_game": float(np.mean(hits)),
                     "seconds_per_image": seconds, "extra": extra})
        print(f"{method:22s} energy in lungs {np.nanmean(energy):.3f}  pointing game {np.mean(hits):.3f}  "
              f"{seconds * 1000:.0f} ms per image")
    print(f"(a uniform map: {lung_share:.3f}, the lungs' mean share of the image)")

    table = ["| method | energy inside the predicted lungs | pointing game | time per image |", "|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            table.append(f"| {r['method']} | n/a: {r['error'].split(':')[-1].strip()[:90]} | | |")
        else:
            table.append(f"| {r['method']} | {r['energy_in_lungs']:.3f} | {r['pointing_game']:.3f} | "
                         f"{r['seconds_per_image'] * 1000:.0f} ms |")
    table.append(f"| (uniform map) | {lung_share:.3f} | | |")
    print("\n".join(table))
    write_report(os.path.join(args.out, "report.json"), {
        "data": root, "images": [f["path"] for f in chosen], "size": args.size,
        "pneumonia_model": args.pneumonia_model, "lung_model": args.lung_model,
        "predicted": [p.label for p in predictions], "true": [f["class"] for f in chosen],
        "lung_share": lung_share, "methods": rows, "table": table, "total_seconds": clock.seconds()})

    import matplotlib
    matplotlib.use("Agg")
    from unet_engine.plots import show_explanations
    pick = [0, len(images) // 2, len(images) - 1]
    fig = show_explanations([images[i] for i in pick], [maps_by_method["gradcam"][i] for i in pick],
                            masks=[masks[i] for i in pick],
                            titles=[f"{chosen[i]['class']}, predicted {predictions[i].label}" for i in pick])
    fig.savefig(os.path.join(args.out, "explain.png"), dpi=80)
    print(f"picture: {os.path.join(args.out, 'explain.png')}")
