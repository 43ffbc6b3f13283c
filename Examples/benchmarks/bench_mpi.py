"""Data-parallel training over MPI: 2 ranks x 1 thread against 1 process x 2 threads on the same global batch.

    python3 Examples/benchmarks/bench_mpi.py --binary .build/release/unet-engine --steps 12 --rounds 2

Both train a unet (BatchNorm, 128x128, phantoms) for `--steps` steps of a global batch of 8 (4 per rank under
MPI) after two warm-up steps, and report images/s, the seconds per step and, for MPI, the share of each rank's
step time spent waiting in MPI (MPI_Allreduce, MPI_Iallreduce, MPI_Test, MPI_Wait; from `debug.ranks`) and the
gradient bytes each step averages. MPI runs twice per round, its gradient sums overlapped with the backward (the
default) and after it (`UNET_MPI_OVERLAP=0`), alternating, so that the two are compared on the same load;
`--bucket-mb` sets `UNET_MPI_BUCKET_MB` (4 MiB by default).
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


def run(binary, launcher, threads, batch_size, args, env=None):
    kw = {"launcher": launcher} if launcher else {}
    if env:
        kw["env"] = {**os.environ, **env}
    with Engine(binary, threads=threads, debug_methods=True, **kw) as e:
        created = e.model_create("unet", [1, args.size, args.size], depth=4, filters=args.filters, batch_norm=True)
        e.dataset_open("p", task="segmentation", phantoms={"count": 8 * (args.steps + 2), "size": [args.size] * 2,
                                                              "seed": 1})
        e.train_configure(batch_size=batch_size, loss="bce+dice", optimizer="adam", augment=False)
        for _ in range(2):
            e.train_step("p")
        before = [r["allreduce_s"] for r in e.call("debug.ranks")["ranks"]]
        t = time.perf_counter()
        for _ in range(args.steps):
            e.train_step("p")
        seconds = time.perf_counter() - t
        after = [r["allreduce_s"] for r in e.call("debug.ranks")["ranks"]]
        shares = [(a - b) / seconds for a, b in zip(after, before)]
        return {"seconds_per_step": seconds / args.steps, "images_per_second": 8 * args.steps / seconds,
                "allreduce_share": shares[0], "allreduce_share_per_rank": shares,
                "gradient_bytes": 4 * created["trainable_params"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.environ.get("UNET_ENGINE_BIN", ".build/release/unet-engine"))
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--filters", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=1, help="alternations of overlapped and not-overlapped MPI runs")
    ap.add_argument("--bucket-mb", type=float, default=None)
    ap.add_argument("--no-single", action="store_true", help="skip the 1 process x 2 threads run")
    args = ap.parse_args()
    binary = os.path.abspath(args.binary)
    summary = {"size": args.size, "filters": args.filters, "steps": args.steps, "bucket_mb": args.bucket_mb}
    if not args.no_single:
        single = run(binary, None, 2, 8, args)
        print("1 process x 2 threads, batch 8:", json.dumps(single), flush=True)
        summary["single_2_threads"] = single
    launcher = ["mpirun", "-np", "2", "--oversubscribe", "--bind-to", "none", "-x", "UNET_MPI_OVERLAP"]
    extra = {}
    if args.bucket_mb is not None:
        launcher += ["-x", "UNET_MPI_BUCKET_MB"]
        extra["UNET_MPI_BUCKET_MB"] = str(args.bucket_mb)
    runs = {"overlapped": [], "after_backward": []}
    for _ in range(args.rounds):
        for name, overlap in (("after_backward", "0"), ("overlapped", "1")):
            mpi = run(binary, launcher, 1, 4, args, env={"UNET_MPI_OVERLAP": overlap, **extra})
            print(f"2 ranks x 1 thread, batch 4 per rank, {name}:", json.dumps(mpi), flush=True)
            runs[name].append(mpi)
    for name, results in runs.items():
        summary[f"mpi_2x1_{name}"] = {
            "seconds_per_step": [r["seconds_per_step"] for r in results],
            "allreduce_share_per_rank": [r["allreduce_share_per_rank"] for r in results]}
    if not args.no_single:
        best = max(r["images_per_second"] for r in runs["overlapped"])
        summary["speedup_overlapped_vs_single"] = best / single["images_per_second"]
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
