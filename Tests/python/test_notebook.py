"""Runs `Examples/notebooks/pneumonia.ipynb` top to bottom, headless (nbclient and an IPython kernel), in its
small configuration on phantoms: every cell must execute without error and the plots must be drawn.

Skips when nbclient, nbformat, ipykernel or matplotlib are not installed (`make test` installs them), when the
binary is not built, or while the engine does not serve the methods the notebook uses.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "Examples" / "notebooks" / "pneumonia.ipynb"
sys.path.insert(0, str(REPO / "Examples" / "python"))

from unet_engine import Engine  # noqa: E402
from conftest import engine_binary as binary_path  # noqa: E402

NEEDED_METHODS = ["dataset.open", "dataset.list", "dataset.sample", "model.create", "model.save", "train.configure",
                  "train.fit", "evaluate", "segment", "model.load", "explain"]




def test_notebook_runs_headless_on_phantoms(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat", reason="nbformat is not installed (pip install nbformat)")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is not installed (pip install nbclient)")
    pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install ipykernel)")
    pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install matplotlib)")
    binary = binary_path()
    with Engine(str(binary), threads=1) as engine:
        missing = [m for m in NEEDED_METHODS if m not in engine.methods]
    if missing:
        pytest.skip(f"the engine does not serve {', '.join(missing)} yet (not in engine.hello's methods)")

    monkeypatch.setenv("UNET_ENGINE_BIN", str(binary))
    monkeypatch.setenv("UNET_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("UNET_NOTEBOOK_PHANTOMS", "1")
    monkeypatch.setenv("UNET_NOTEBOOK_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()  # raises CellExecutionError naming the failing cell

    code_cells = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code_cells), "a cell did not run"
    errors = [o for c in code_cells for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    figures = [o for c in code_cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(figures) >= 6, f"expected the sample, curves, ROC/confusion, segmentation curves, overlays and " \
                              f"explanations; " \
                              f"got {len(figures)} images"
    text = "".join(o.get("text", "") for c in code_cells for o in c.outputs if o.output_type == "stream")
    assert "phantoms" in text and "auc" in text and "dice" in text
    assert (tmp_path / "pneumonia_classifier.safetensors").is_file()
