#!/usr/bin/env python3
"""The engine against PyTorch on the same CPU, in one run, as ratios.

    swift build -c release --product unet-bench
    python3 Examples/benchmarks/compare_pytorch.py [--threads N] [--bench PATH] [--repeats R] [--rounds K]
                                                   [--json PATH] [--extra] [--effunet] [--cases A,B]

Each case runs twice in a row, once per side, each in a fresh child process: the engine's
`unet-bench --model-run NAME MODE` and the PyTorch twin of the same model (Tests/python/torch_models.py) in
`--torch-case`; then the next case. Interleaving the two sides case by case keeps a change of the shared machine's
load from landing on one side only; with `--rounds K` the whole sequence runs K times (the side that goes first
alternates) and the median ratio is reported. Both sides take the same batch and thread count
(`torch.set_num_threads`), one warm-up call then the best of R. A training step is forward, loss, backward and
one Adam update, as the engine's `Trainer.trainStep`: BCE with logits on one-hot labels for the classifier,
BCE + soft Dice on the mask for the U-Net. `--extra` adds the configurations of the real-data runs in Examples/xray
(12 and 16 filters, BatchNorm; the pneumonia model trains its class head on labels alone, so both sides skip the
decoder in training). `--effunet` adds eff-unet b1 UNet++ (3x224x224 and 1x256x256, batch 8) against
segmentation_models_pytorch's UnetPlusPlus.

Peak memory is each child's `ru_maxrss` as this parent reads it from `wait4`, the same measure for both sides.
Linux carries the parent's own peak into a child at exec, so this parent never imports PyTorch or NumPy (its
peak stays some 20 MiB, below every case's). The children's own figures (the engine's getrusage, PyTorch's
VmHWM) go into the JSON beside it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (name, architecture, [C, H, W], batch): the same cases as unet-bench's `modelCases`.
CASES = [
    ("unet-classifier-224", "unet-classifier", [3, 224, 224], 8),
    ("unet-classifier-128", "unet-classifier", [1, 128, 128], 8),
    ("unet-ronneberger-256", "unet", [1, 256, 256], 4),
]
# unet-bench's `extraModelCases`: (name, architecture, [C, H, W], batch, filters, class head).
EXTRA_CASES = [
    ("lungseg-12-256", "unet", [1, 256, 256], 8, 12, 0),
    ("pneumonia-16-128", "unet", [1, 128, 128], 16, 16, 2),
]
# unet-bench's `effUNetModelCases` (`--effunet`): smp's UnetPlusPlus("efficientnet-b1", classes=1), [C, H, W], batch.
EFFUNET_CASES = [
    ("effunet-b1-upp-224", "eff-unet", [3, 224, 224], 8),
    ("effunet-b1-upp-256", "eff-unet", [1, 256, 256], 8),
]


def best_of(repeats: int, body) -> float:
    """Best wall time of `body()` over `repeats` calls, after one warm-up call (as unet-bench's timeBest)."""
    body()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        body()
        best = min(best, time.perf_counter() - t)
    return best


def torch_case(name: str, mode: str, threads: int, repeats: int) -> dict:
    """Times one case in this process (the child side of --torch-case) and returns its result row."""
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(ROOT / "Tests" / "python"))
    from torch_models import UNet, UNetClassifier

    torch.set_num_threads(threads)
    torch.manual_seed(1)
    extra = next((c for c in EXTRA_CASES if c[0] == name), None)
    head = 0
    effunet = next((c for c in EFFUNET_CASES if c[0] == name), None)
    if extra:
        _, arch, shape, batch, filters, head = extra
        model = UNet(in_channels=shape[0], depth=4, filters=filters, batch_norm=True, classification_head=head)
    elif effunet:
        import segmentation_models_pytorch as smp
        _, arch, shape, batch = effunet
        smp_model = smp.UnetPlusPlus("efficientnet-b1", encoder_weights=None, in_channels=shape[0], classes=1)

        class MaskFirst(torch.nn.Module):
            """smp's model returning (mask,) as the twins return (mask, class), so the loss below reads out[0]."""
            def __init__(self):
                super().__init__()
                self.inner = smp_model

            def forward(self, x):
                return (self.inner(x),)
        model = MaskFirst()
    else:
        _, arch, shape, batch = next(c for c in CASES if c[0] == name)
        model = UNetClassifier(tuple(shape), 2) if arch == "unet-classifier" else UNet(in_channels=shape[0])
    x = torch.rand([batch] + shape)
    if mode == "infer":
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
    else:
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        if arch == "unet-classifier":
            target = F.one_hot(torch.arange(batch) % 2, 2).float()

            def loss_fn(out):
                return F.binary_cross_entropy_with_logits(out, target)
        elif head:
            # Labels alone: softmax cross-entropy on the class head, the decoder never run (as the engine does).
            labels = torch.arange(batch) % 2

            def encode_and_classify(x):
                for level in range(model.depth):
                    x = F.max_pool2d(getattr(model, f"enc{level + 1}")(x), 2)
                return model.classifier(model.bottleneck(x).mean(dim=(2, 3)))

            def step():
                opt.zero_grad(set_to_none=False)
                F.cross_entropy(encode_and_classify(x), labels).backward()
                opt.step()
        else:
            target = (torch.rand([batch, 1] + shape[1:]) > 0.5).float()

            def loss_fn(out):
                logits = out[0]
                p = torch.sigmoid(logits)
                inter = (p * target).sum()
                dice = 1 - (2 * inter + 1) / (p.sum() + target.sum() + 1)
                return F.binary_cross_entropy_with_logits(logits, target) + dice

        if not head:
            def step():
                opt.zero_grad(set_to_none=False)
                loss = loss_fn(model(x))
                loss.backward()
                opt.step()

    seconds = best_of(repeats, step)
    return {"name": name, "mode": mode, "batch": batch, "images_per_second": batch / seconds,
            "peak_rss_bytes": peak_rss_bytes()}


def peak_rss_bytes() -> int:
    """This process's peak RSS: VmHWM, which starts afresh at exec. (ru_maxrss can carry the spawning parent's
    peak into the child on Linux, as unet-bench found.)"""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def torch_sgemm(threads: int, n: int = 2048) -> float:
    import torch
    torch.set_num_threads(threads)
    a, b = torch.rand(n, n), torch.rand(n, n)
    t = best_of(3, lambda: torch.mm(a, b))
    return 2 * n ** 3 / t / 1e9


def run_child(cmd: list[str]) -> tuple[dict, int, str]:
    """Runs `cmd` to the end and returns the JSON of its last stdout line, its peak RSS in bytes (`ru_maxrss` of
    `wait4`) and its stderr; raises on a non-zero exit."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.stdout.read(), p.stderr.read()
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here: Popen must not wait for it again
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {p.returncode}: {err.strip()[-2000:]}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss * 1024, err


def engine_machine(bench: Path, threads: int) -> dict:
    """The BLAS line and sgemm ceiling from `unet-bench --sgemm-only` (after its start-up BLAS core check)."""
    out = subprocess.run([str(bench), "--sgemm-only", "--threads", str(threads)], check=True, capture_output=True,
                         text=True).stdout
    blas = next((line[len("BLAS: "):] for line in out.splitlines() if line.startswith("BLAS: ")), "unknown")
    sgemm = next(float(line.split(": ")[1].split()[0]) for line in out.splitlines() if line.startswith("sgemm "))
    core = blas.split("core ")[1].split()[0] if "core " in blas else "unknown"
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "unknown")
    return {"cpu": cpu, "arch": os.uname().machine, "cores": os.cpu_count(), "threads": threads,
            "sgemm_gflops": sgemm, "blas": blas, "blas_core": core}


def engine_case(bench: Path, name: str, mode: str, threads: int, quick: bool) -> dict:
    cmd = [str(bench), "--model-run", name, mode, "--threads", str(threads)] + (["--quick"] if quick else [])
    row, peak, _ = run_child(cmd)
    row["child_reported_peak_rss_bytes"] = row["peak_rss_bytes"]
    row["peak_rss_bytes"] = peak
    return row


def torch_child(args: list[str], threads: int, repeats: int) -> dict:
    cmd = [sys.executable, __file__] + args + ["--threads", str(threads), "--repeats", str(repeats)]
    row, peak, _ = run_child(cmd)
    row["child_reported_peak_rss_bytes"] = row.pop("peak_rss_bytes", None)
    row["peak_rss_bytes"] = peak
    return row


def median(values: list[float]) -> float:
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--bench", type=Path, default=None, help="unet-bench binary (default: .build/release)")
    ap.add_argument("--quick", action="store_true", help="pass --quick to unet-bench (one timed repeat)")
    ap.add_argument("--json", type=Path, help="also write both sides and the ratios here")
    ap.add_argument("--extra", action="store_true", help="also the real-data configurations (Examples/xray)")
    ap.add_argument("--effunet", action="store_true",
                    help="also eff-unet b1 UNet++ against segmentation_models_pytorch (pip install it first)")
    ap.add_argument("--rounds", type=int, default=1, help="run the whole interleaved sequence this many times")
    ap.add_argument("--cases", help="only these cases, comma-separated names (to repeat one whose ratio looks off)")
    ap.add_argument("--torch-case", nargs=2, metavar=("NAME", "MODE"), help=argparse.SUPPRESS)
    ap.add_argument("--torch-sgemm", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.torch_case:
        print(json.dumps(torch_case(*args.torch_case, args.threads, args.repeats)))
        return
    if args.torch_sgemm:
        import torch
        print(json.dumps({"version": torch.__version__, "sgemm_gflops": torch_sgemm(args.threads)}))
        return

    bench = args.bench or ROOT / ".build" / "release" / "unet-bench"
    has_torch = importlib.util.find_spec("torch") is not None  # found, not imported: the parent stays small
    cases = [c[0] for c in CASES + (EXTRA_CASES if args.extra else []) + (EFFUNET_CASES if args.effunet else [])]
    if args.cases:
        wanted = args.cases.split(",")
        cases = [c[0] for c in CASES + EXTRA_CASES + EFFUNET_CASES if c[0] in wanted]
        if len(cases) != len(wanted):
            ap.error(f"--cases: unknown among {wanted}")
    machine = engine_machine(bench, args.threads)
    torch_info = torch_child(["--torch-sgemm"], args.threads, 3) if has_torch else None
    print(f"machine: {machine['cpu']} ({machine['arch']}), {machine['cores']} cores, {args.threads} threads")
    print(f"BLAS: {machine['blas']}")
    if torch_info:
        print(f"PyTorch {torch_info['version']}: {args.threads} threads, best of {args.repeats}; sgemm 2048^3: engine "
              f"(OpenBLAS) {machine['sgemm_gflops']:.1f} GFLOP/s, PyTorch {torch_info['sgemm_gflops']:.1f} GFLOP/s")
    else:
        print("PyTorch is not installed: engine figures only.")
    head = (f"{'round':<6}{'model':<22}{'mode':<7}{'batch':>6}{'engine img/s':>14}{'torch img/s':>13}{'ratio':>8}"
            f"{'engine GFLOP/s':>16}{'of sgemm':>10}{'engine RSS':>12}{'torch RSS':>11}{'RSS ratio':>11}{'load':>7}")
    print(head)
    print("-" * len(head), flush=True)
    rows = []
    for round_index in range(args.rounds):
        for name in cases:
            for mode in ("infer", "train"):
                load = os.getloadavg()[0]
                # The side that goes first alternates with the round, so neither always meets the other's wake.
                sides = ["engine", "torch"] if round_index % 2 == 0 or not has_torch else ["torch", "engine"]
                got = {}
                for side in sides if has_torch else ["engine"]:
                    got[side] = (engine_case(bench, name, mode, args.threads, args.quick) if side == "engine"
                                 else torch_child(["--torch-case", name, mode], args.threads, args.repeats))
                e, t = got["engine"], got.get("torch")
                row = {"round": round_index + 1, "name": name, "mode": mode, "load_average": load,
                       "engine": e, "torch": t}
                line = (f"{round_index + 1:<6}{name:<22}{mode:<7}{e['batch']:>6}{e['images_per_second']:>14.2f}")
                if t:
                    row["speed_ratio"] = e["images_per_second"] / t["images_per_second"]
                    row["rss_ratio"] = e["peak_rss_bytes"] / t["peak_rss_bytes"]
                    line += f"{t['images_per_second']:>13.2f}{row['speed_ratio']:>8.2f}"
                else:
                    line += f"{'-':>13}{'-':>8}"
                line += (f"{e['gflops']:>16.1f}{e['gflops'] / machine['sgemm_gflops']:>10.2f}"
                         f"{e['peak_rss_bytes'] / 2**20:>9.0f} MiB")
                line += (f"{t['peak_rss_bytes'] / 2**20:>7.0f} MiB{row['rss_ratio']:>11.2f}" if t else f"{'-':>11}{'-':>11}")
                print(line + f"{load:>7.1f}", flush=True)
                rows.append(row)
    summary = []
    if has_torch:
        print(f"\nmedian over {args.rounds} round(s)")
        print(f"{'model':<22}{'mode':<7}{'ratios':>24}{'median':>8}{'RSS ratios':>24}")
        for name in cases:
            for mode in ("infer", "train"):
                mine = [r for r in rows if r["name"] == name and r["mode"] == mode]
                speed, rss = [r["speed_ratio"] for r in mine], [r["rss_ratio"] for r in mine]
                summary.append({"name": name, "mode": mode, "speed_ratios": speed, "median_speed_ratio": median(speed),
                                "rss_ratios": rss})
                print(f"{name:<22}{mode:<7}{', '.join(f'{x:.2f}' for x in speed):>24}{median(speed):>8.2f}"
                      f"{', '.join(f'{x:.2f}' for x in rss):>24}")
        print("\nratio = engine images/s / PyTorch images/s (target >= 2.0); RSS ratio = engine / PyTorch peak RSS"
              " (target <= 0.7)")
    if args.json:
        doc = {"machine": machine, "torch": torch_info, "threads": args.threads, "repeats": args.repeats,
               "rounds": args.rounds, "rows": rows, "summary": summary}
        args.json.write_text(json.dumps(doc, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
