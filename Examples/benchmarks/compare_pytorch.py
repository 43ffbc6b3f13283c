#!/usr/bin/env python3
"""The engine against PyTorch on the same CPU, in one run, as ratios.

    swift build -c release --product unet-bench
    python3 Examples/benchmarks/compare_pytorch.py [--threads N] [--bench PATH] [--repeats R] [--json PATH] [--extra] [--effunet]

Runs the engine's `unet-bench --skip-ops --json` (each whole-model case in its own child process), then times the
PyTorch twins of the same models (Tests/python/torch_models.py) the same way: same batch, same thread count
(`torch.set_num_threads`), one warm-up call then the best of R, each case in a fresh child process so its peak
RSS (VmHWM) is its own. A training step is forward, loss, backward and one Adam update, as the engine's
`Trainer.trainStep`: BCE with logits on one-hot labels for the classifier, BCE + soft Dice on the mask for the
U-Net. Prints images/s and peak memory side by side and the engine / PyTorch ratios, with both sgemm ceilings.
`--extra` adds the configurations of the real-data runs in Examples/xray (12 and 16 filters, BatchNorm; the
pneumonia model trains its class head on labels alone, so both sides skip the decoder in training). `--effunet`
adds eff-unet b1 UNet++ (3x224x224 and 1x256x256, batch 8) against segmentation_models_pytorch's UnetPlusPlus.

Measuring one after the other (never both at once) keeps the two from fighting over the cores; on a shared
machine run it twice and trust the ratios more than the absolute numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
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


def run_engine(bench: Path, threads: int, quick: bool, extra: bool, effunet: bool) -> dict:
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "engine.json"
        cmd = [str(bench), "--skip-ops", "--threads", str(threads), "--json", str(out)] + (["--quick"] if quick else [])
        cmd += ["--extra-cases"] if extra else []
        cmd += ["--effunet-cases"] if effunet else []
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
        return json.loads(out.read_text())


def run_torch(threads: int, repeats: int, extra: bool, effunet: bool) -> tuple[dict, float]:
    rows = {}
    for name, *_ in CASES + (EXTRA_CASES if extra else []) + (EFFUNET_CASES if effunet else []):
        for mode in ("infer", "train"):
            cmd = [sys.executable, __file__, "--torch-case", name, mode, "--threads", str(threads),
                   "--repeats", str(repeats)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rows[(name, mode)] = json.loads(out.strip().splitlines()[-1])
    return rows, torch_sgemm(threads)


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
    ap.add_argument("--torch-case", nargs=2, metavar=("NAME", "MODE"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.torch_case:
        print(json.dumps(torch_case(*args.torch_case, args.threads, args.repeats)))
        return

    bench = args.bench or ROOT / ".build" / "release" / "unet-bench"
    engine = run_engine(bench, args.threads, args.quick, args.extra, args.effunet)
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed: engine figures only (above).")
        return
    print(f"\nPyTorch {__import__('torch').__version__}: {args.threads} threads, best of {args.repeats}", flush=True)
    torch_rows, torch_ceiling = run_torch(args.threads, args.repeats, args.extra, args.effunet)

    m = engine["machine"]
    print(f"\nmachine: {m['cpu']} ({m['arch']}), {m['cores']} cores, {args.threads} threads")
    print(f"sgemm 2048^3: engine (OpenBLAS) {m['sgemm_gflops']:.1f} GFLOP/s, PyTorch {torch_ceiling:.1f} GFLOP/s")
    head = (f"{'model':<22}{'mode':<7}{'batch':>6}{'engine img/s':>14}{'torch img/s':>13}{'ratio':>8}"
            f"{'engine GFLOP/s':>16}{'of sgemm':>10}{'engine RSS':>12}{'torch RSS':>11}{'RSS ratio':>11}")
    print(head)
    print("-" * len(head))
    ratios = []
    for r in engine["results"]:
        t = torch_rows[(r["name"], r["mode"])]
        ratio = r["images_per_second"] / t["images_per_second"]
        rss_ratio = r["peak_rss_bytes"] / t["peak_rss_bytes"]
        ratios.append({"name": r["name"], "mode": r["mode"], "speed_ratio": ratio, "rss_ratio": rss_ratio})
        print(f"{r['name']:<22}{r['mode']:<7}{r['batch']:>6}{r['images_per_second']:>14.2f}"
              f"{t['images_per_second']:>13.2f}{ratio:>8.2f}{r['gflops']:>16.1f}"
              f"{r['gflops'] / m['sgemm_gflops']:>10.2f}"
              f"{r['peak_rss_bytes'] / 2**20:>9.0f} MiB{t['peak_rss_bytes'] / 2**20:>7.0f} MiB{rss_ratio:>11.2f}")
    print("\nratio = engine images/s / PyTorch images/s (target >= 1.5); RSS ratio = engine / PyTorch (target <= 1)")
    if args.json:
        rows = [dict(v, key=list(k)) for k, v in torch_rows.items()]
        doc = {"engine": engine, "torch": {"sgemm_gflops": torch_ceiling, "results": rows}, "ratios": ratios}
        args.json.write_text(json.dumps(doc, indent=2))
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
