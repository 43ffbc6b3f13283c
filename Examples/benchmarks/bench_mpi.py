"""Data-parallel training over MPI: 2 ranks x 1 thread against 1 process x 2 threads on the same global batch.

    python3 Examples/benchmarks/bench_mpi.py --binary .build/release/unet-engine --steps 12

Both train a unet (BatchNorm, 128x128, phantoms) for `--steps` steps of a global batch of 8 (4 per rank under
MPI) after two warm-up steps, and report images/s, the seconds per step and, for MPI, the share of rank 0's step
time spent in MPI_Allreduce (from `debug.ranks`) and the gradient bytes each step averages.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

from unet_engine import Engine  # noqa: E402


def run(binary, launcher, threads, batch_size, args):
    kw = {"launcher": launcher} if launcher else {}
    with Engine(binary, threads=threads, debug_methods=True, **kw) as e:
        created = e.model_create("unet", [1, args.size, args.size], depth=4, filters=args.filters, batch_norm=True)
        e.dataset_open("p", task="segmentation", phantoms={"count": 8 * (args.steps + 2), "size": [args.size] * 2,
                                                              "seed": 1})
        e.train_configure(batch_size=batch_size, loss="bce+dice", optimizer="adam", augment=False)
        for _ in range(2):
            e.train_step("p")
        before = e.call("debug.ranks")["ranks"][0]["allreduce_s"]
        t = time.perf_counter()
        for _ in range(args.steps):
            e.train_step("p")
        seconds = time.perf_counter() - t
        allreduce = e.call("debug.ranks")["ranks"][0]["allreduce_s"] - before
        return {"seconds_per_step": seconds / args.steps, "images_per_second": 8 * args.steps / seconds,
                "allreduce_share": allreduce / seconds, "gradient_bytes": 4 * created["trainable_params"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.environ.get("UNET_ENGINE_BIN", ".build/release/unet-engine"))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--filters", type=int, default=16)
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    single = run(binary, None, 2, 8, args)
    print("1 process x 2 threads, batch 8:", json.dumps(single), flush=True)
    mpi = run(binary, ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none"], 1, 4, args)
    print("2 ranks x 1 thread, batch 4 per rank:", json.dumps(mpi), flush=True)
    print(json.dumps({"size": args.size, "filters": args.filters, "steps": args.steps, "single_2_threads": single,
                      "mpi_2x1": mpi, "speedup": mpi["images_per_second"] / single["images_per_second"]}, indent=2))


if __name__ == "__main__":
    main()
