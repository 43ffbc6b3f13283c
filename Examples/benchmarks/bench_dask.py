"""Archive inference on Dask: images/s with 1 and 2 workers (one engine thread each) and the scaling efficiency.

    python3 Examples/benchmarks/bench_dask.py --binary .build/release/unet-engine --images 400

Writes phantom PNGs and a saved unet with a class head to a temporary folder, runs `predict_files` once to warm
each cluster's engines, then times a second run. Efficiency is (2-worker rate) / (2 x 1-worker rate).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from distributed import Client, LocalCluster  # noqa: E402
from unet_engine import Engine  # noqa: E402
from unet_engine.dask import predict_files  # noqa: E402
from unet_engine.images import encode_png  # noqa: E402


def phantoms(folder: Path, count: int, size: int):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        image = np.clip(160 + rng.normal(0, 20, (size, size)), 0, 255).astype(np.uint8)
        image[size // 4:3 * size // 4, size // 6:size // 2 - 4] -= 80
        p = folder / f"x{i:05d}.png"
        p.write_bytes(encode_png(image))
        paths.append(str(p))
    return paths


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.environ.get("UNET_ENGINE_BIN", ".build/release/unet-engine"))
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--size", type=int, default=128, help="image and model side")
    ap.add_argument("--filters", type=int, default=8)
    ap.add_argument("--partition-size", type=int, default=32)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    os.environ["UNET_ENGINE_BIN"] = binary
    os.environ["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1] / "python"),
                                                os.environ.get("PYTHONPATH", "")])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = phantoms(folder, args.images, args.size)
        model = folder / "model.safetensors"
        with Engine(binary, threads=1) as e:
            e.model_create("unet", [1, args.size, args.size], depth=3, filters=args.filters, classification_head=2)
            e.model_save(model)
        rates = {}
        for workers in (1, 2):
            with LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None,
                              silence_logs=40) as cluster, Client(cluster) as client:
                predict_files(client, paths[:workers * args.partition_size], str(model),
                              partition_size=args.partition_size)  # starts and warms every worker's engine
                t = time.perf_counter()
                df = predict_files(client, paths, str(model), partition_size=args.partition_size)
                seconds = time.perf_counter() - t
                assert len(df) == len(paths) and df["error"].isna().all()
                rates[workers] = len(paths) / seconds
                print(f"{workers} worker(s): {len(paths)} images in {seconds:.2f} s, {rates[workers]:.1f} images/s",
                      flush=True)
        report = {"images": args.images, "size": args.size, "filters": args.filters,
                  "partition_size": args.partition_size, "images_per_second": rates,
                  "efficiency_2_workers": rates[2] / (2 * rates[1])}
        print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
