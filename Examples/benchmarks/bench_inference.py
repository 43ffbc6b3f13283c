#!/usr/bin/env python3
"""`predict` / `segment` throughput through the protocol: one image per forward against the default batches.

    swift build -c release --product unet-engine
    python3 Examples/benchmarks/bench_inference.py [--engine .build/release/unet-engine] [--model unet|classifier]

Sends the same 16 random images in one request, with `batch_size` 1 and with the default, alternating, twice, and
prints images/s end to end (JSON encoding and decoding included). `unet` is Ronneberger's U-Net (depth 4, 64 filters,
31M weights) at 256x256 through `segment`; `classifier` the reference classifier at 3x224x224 through `predict`.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", type=Path, default=ROOT / ".build" / "release" / "unet-engine")
    ap.add_argument("--model", choices=["unet", "classifier"], default="unet")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    engine = subprocess.Popen([str(args.engine), "--threads", str(args.threads)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, bufsize=1)
    next_id = 0

    def call(method: str, params: dict) -> dict:
        nonlocal next_id
        next_id += 1
        engine.stdin.write(json.dumps({"jsonrpc": "2.0", "id": next_id, "method": method, "params": params}) + "\n")
        while True:
            message = json.loads(engine.stdout.readline())
            if message.get("id") == next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message["result"]

    if args.model == "unet":
        call("model.create", {"architecture": "unet", "input_shape": [1, 256, 256], "depth": 4, "filters": 64,
                              "batch_norm": False, "upsampling": "transpose", "seed": 1})
        shape, method, extra = [256, 256], "segment", {"encoding": "array"}
    else:
        call("model.create", {"architecture": "unet-classifier", "input_shape": [3, 224, 224], "seed": 1})
        shape, method, extra = [3, 224, 224], "predict", {}
    rng = np.random.default_rng(0)
    images = [{"array": {"dtype": "uint8", "shape": shape,
                         "data": base64.b64encode(rng.integers(0, 256, size=shape, dtype=np.uint8).tobytes()).decode()}}
              for _ in range(16)]
    call(method, {"images": images[:2], **extra})  # warm-up
    for _ in range(2):
        for batch_size in (1, None):
            params = {"images": images, **extra, **({"batch_size": batch_size} if batch_size else {})}
            start = time.perf_counter()
            call(method, params)
            seconds = time.perf_counter() - start
            label = batch_size or "default"
            print(f"{method}, 16 images of {shape}, batch_size {label}: {16 / seconds:.2f} images/s", flush=True)
    engine.stdin.close()
    engine.wait()


if __name__ == "__main__":
    main()
