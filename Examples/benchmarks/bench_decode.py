"""Decoding the real load path: full-resolution chest X-ray JPEGs to a 224x224 grey input, in the engine (with and
without TurboJPEG's DCT scaling) and in Pillow (plain, and with its `draft` mode, which is the same DCT scaling),
timed in one run on one thread.

    swift build -c release --product unet-decode-bench
    python3 Examples/benchmarks/bench_decode.py [FOLDER] [--size 224]

FOLDER defaults to ../shared/data/pneumonia-fullres.
"""
import argparse
import json
import os
import subprocess
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ap = argparse.ArgumentParser()
ap.add_argument("folder", nargs="?", default=os.path.join(REPO, "..", "shared", "data", "pneumonia-fullres"))
ap.add_argument("--size", type=int, default=224)
ap.add_argument("--repeat", type=int, default=3)
args = ap.parse_args()

from PIL import Image  # noqa: E402

files = sorted(os.path.join(d, f) for d, _, fs in os.walk(args.folder) for f in fs
               if f.lower().endswith((".jpg", ".jpeg", ".png")))
blobs = [open(f, "rb").read() for f in files]


def pillow(draft):
    import io
    best = float("inf")
    for _ in range(args.repeat):
        t = time.perf_counter()
        for b in blobs:
            im = Image.open(io.BytesIO(b))
            if draft:
                im.draft("L", (args.size, args.size))
            im.convert("L").resize((args.size, args.size), Image.BOX)
        best = min(best, time.perf_counter() - t)
    return len(blobs) / best


engine = json.loads(subprocess.run(
    [os.path.join(REPO, ".build", "release", "unet-decode-bench"), "--json", "--size", str(args.size),
     "--repeat", str(args.repeat), args.folder], check=True, capture_output=True, text=True).stdout)
plain, drafted = pillow(False), pillow(True)
scaled, full = engine["dct_scaling_images_per_second"], engine["full_decode_images_per_second"]
print(f"{len(files)} files from {args.folder} to {args.size}x{args.size} grey, best of {args.repeat}, one thread")
print(f"{'':28}{'images/s':>10}{'vs Pillow':>12}")
print(f"{'engine, DCT scaling':28}{scaled:10.1f}{scaled / plain:11.2f}x")
print(f"{'engine, full decode':28}{full:10.1f}{full / plain:11.2f}x")
print(f"{'Pillow, plain':28}{plain:10.1f}{1:11.2f}x")
print(f"{'Pillow, draft (DCT scaling)':28}{drafted:10.1f}{drafted / plain:11.2f}x")
