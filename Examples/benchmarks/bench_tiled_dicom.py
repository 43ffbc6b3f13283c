#!/usr/bin/env python3
"""A full-resolution DICOM through tiled `segment`: images/s and the engine's peak RSS.

    swift build -c release --product unet-engine
    python3 Examples/benchmarks/bench_tiled_dicom.py [--engine .build/release/unet-engine] [--size 2500]

Writes one SIZE x SIZE 12-bit MONOCHROME2 DICOM with pydicom, creates a unet (depth 4, --filters, at 256x256),
and runs `segment` on the file with `tile` {size [256, 256], overlap 0.25, mode gaussian, batch --tile-batch},
`--runs` times. Prints the window count, seconds per image, images/s and the engine's peak RSS (VmHWM) after
the runs, next to the RSS after the model was created, so the part the tiles add is visible.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Examples" / "python"))
sys.path.insert(0, str(ROOT / "Tests" / "fixtures"))

from unet_engine import Engine  # noqa: E402
import make_dicom_fixtures as fixtures  # noqa: E402


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", type=Path, default=ROOT / ".build" / "release" / "unet-engine")
    ap.add_argument("--size", type=int, default=2500)
    ap.add_argument("--filters", type=int, default=16)
    ap.add_argument("--tile-batch", type=int, default=4)
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "large.dcm"
        pixels = fixtures.values(4095, 1, shape=(args.size, args.size))
        fixtures.save(fixtures.dataset(pixels, 12, WindowCenter=2048, WindowWidth=4096), path)
        with Engine(str(args.engine), threads=args.threads) as e:
            e.model_create(architecture="unet", input_shape=[1, 256, 256], depth=4, filters=args.filters, seed=1)
            before = peak_rss_mib(e.pid)
            tile = {"size": [256, 256], "overlap": 0.25, "mode": "gaussian", "batch": args.tile_batch}
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                mask = e.segment([str(path)], tile=tile, encoding="png")["masks"][0]
                times.append(time.perf_counter() - start)
            windows = len(range(0, args.size - 256, int(256 * 0.75))) + 1
            best = min(times)
            print(f"{args.size}x{args.size} DICOM, unet depth 4 filters {args.filters}, {windows * windows} windows of "
                  f"256x256 (overlap 0.25, gaussian, batch {args.tile_batch}), {args.threads} threads: "
                  f"{best:.2f} s/image = {1 / best:.3f} images/s; peak RSS {peak_rss_mib(e.pid):.0f} MiB "
                  f"(after model.create {before:.0f} MiB); mask {mask['shape']}")


if __name__ == "__main__":
    main()
