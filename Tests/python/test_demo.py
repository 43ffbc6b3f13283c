"""Runs `Examples/demo/demo.py` (what `make demo` runs) end to end through the Python client, in its smallest
setting: 16 phantoms of 32x32, a 2-filter unet of depth 2 and a one-second training budget. It must exit 0 and write its report, checkpoint
and mask sheet, the report holding the validation scores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "Examples" / "demo" / "demo.py"
sys.path.insert(0, str(REPO / "Examples" / "python"))

from unet_engine.images import decode_png  # noqa: E402
from conftest import engine_binary  # noqa: E402


def test_demo_trains_evaluates_and_writes_its_sheet(tmp_path):
    pytest.importorskip("matplotlib", reason="the demo draws its sheet with matplotlib")
    out = tmp_path / "demo"
    env = dict(os.environ, UNET_ENGINE_BIN=str(engine_binary()), MPLBACKEND="Agg")
    run = subprocess.run([sys.executable, str(DEMO), "--seconds", "1", "--size", "32", "--count", "16", "--depth", "2",
                          "--filters", "2", "--threads", "1", "--out", str(out)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    assert report["source"].startswith("phantoms (16, 32x32)")
    assert 0 <= report["evaluation"]["dice"] <= 1 and report["training"]["steps"] >= 1, report
    assert len(report["segmented"]) >= 1 and all(0 <= s["dice"] <= 1 for s in report["segmented"])
    assert (out / "model.safetensors").stat().st_size > 0
    sheet = decode_png((out / "masks.png").read_bytes())
    assert sheet.ndim == 3 and sheet.shape[2] in (3, 4), sheet.shape
