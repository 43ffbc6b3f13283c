"""Archive inference on Dask: one warm engine per worker, a DataFrame of every path back.

    from distributed import Client, LocalCluster
    from unet_engine.dask import predict_files

    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        df = predict_files(client, paths, "model.safetensors", method="segment", output_dir="out")

:class:`EnginePlugin` is a ``distributed.WorkerPlugin``: every worker (including one Dask starts to replace a
worker that died) starts one engine, loads the model once and keeps it warm until teardown. :func:`predict_files`
cuts the paths into partitions, runs each partition as one task on whichever worker's engine Dask chooses and
concatenates the rows in input order. A path that fails to decode is a row with ``error`` set, never a lost
partition. A worker that dies mid-run has its partitions rescheduled by Dask; since a partition's rows and files
depend only on its index and paths, a retried partition writes the same names again: every input path is in the
result exactly once and no partition overwrites another's files. Needs ``pip install ./Examples/python[dask]``
(distributed, pandas, pyarrow).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import shutil
import threading
import uuid
from typing import Any, Dict, List, Optional, Sequence, Tuple, cast

from distributed import WorkerPlugin, get_worker

from .engine import Engine
from .errors import EngineDied, EngineError, EngineFileNotFound, ImageDecodeFailed, InvalidParams, ShapeMismatch

# pandas ships no type information (pandas-stubs is separate): imported by name, its frames are typed Any.
pd: Any = importlib.import_module("pandas")

#: The methods predict_files runs, and the result list each one answers with.
RESULT_KEYS = {"predict": "predictions", "segment": "masks", "explain": "explanations"}

#: Partitions are whole multiples of the engine's default batch (4), so that the images of each engine batch are
#: those a single engine given the whole list would batch together (a batch may take another convolution
#: algorithm than a lone image; aligned batches give the same numbers bit for bit).
DEFAULT_PARTITION_SIZE = 64


def plugin_name(model: str, threads: int) -> str:
    """The plugin's name on the workers: one warm engine per model file and thread count."""
    digest = hashlib.sha1(f"{os.path.abspath(model)}|{threads}".encode()).hexdigest()[:12]
    return f"unet-engine-{digest}"


class EnginePlugin(WorkerPlugin):
    """Starts one engine per Dask worker with ``model`` loaded and ``threads`` compute threads; closes it at
    teardown. If the engine dies (killed, out of memory), the next partition starts a fresh one.

    Args:
        model: a checkpoint path every worker can read (safetensors, or a Keras file ``model.load`` takes).
        threads: compute threads per engine; one per Dask worker thread is the usual choice.
        binary: the engine executable on the workers (default: as :class:`~unet_engine.Engine` finds it).
        engine_args: further keyword arguments for :class:`~unet_engine.Engine`.
    """

    def __init__(self, model: str, threads: int = 1, binary: Optional[str] = None,
                 engine_args: Optional[Dict[str, Any]] = None):
        self.model = os.path.abspath(model)
        self.threads = int(threads)
        self.binary = binary
        self.engine_args = dict(engine_args or {})
        self.name = plugin_name(self.model, self.threads)
        self._engine: Optional[Engine] = None
        self._lock = threading.Lock()

    def setup(self, worker: Any = None) -> None:
        self.engine()

    def teardown(self, worker: Any = None) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None

    def engine(self) -> Engine:
        """The worker's warm engine, started (or restarted after a death) with the model loaded."""
        with self._lock:
            if self._engine is None or not self._engine.alive:
                engine = Engine(self.binary, threads=self.threads, **self.engine_args)
                try:
                    engine.model_load(self.model)
                except BaseException:
                    engine.close()
                    raise
                self._engine = engine
            return self._engine

    def __getstate__(self) -> Dict[str, Any]:
        # Only the settings travel to the workers; each starts its own engine.
        state = dict(self.__dict__)
        state["_engine"] = None
        del state["_lock"]
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


def _call_with_retry(plugin: EnginePlugin, method: str, params: Dict[str, Any]) -> Dict[str, Any]:
    """One request on the worker's engine; an engine that died under it is restarted and asked once more."""
    result: Dict[str, Any]
    try:
        result = plugin.engine().call(method, params)
    except EngineDied:
        result = plugin.engine().call(method, params)
    return result


def _about_an_image(error: EngineError) -> bool:
    """Whether an error is about one image (that image's row says so) rather than about the request, the model or
    the engine (raised)."""
    if isinstance(error, (ImageDecodeFailed, EngineFileNotFound, ShapeMismatch)):
        return True
    data = error.data if isinstance(error.data, dict) else {}
    return isinstance(error, InvalidParams) and str(data.get("field", "")).startswith("images[")


def _failed_path(error: EngineError, remaining: Sequence[str]) -> Optional[str]:
    """The input path an error names, when it names one of ``remaining``: by ``path`` (decode failures and missing
    files) or by ``field`` ``images[i]...`` (an image the model cannot take)."""
    data = error.data if isinstance(error.data, dict) else {}
    if data.get("path") in remaining:
        return str(data["path"])
    match = re.match(r"images\[(\d+)\]", str(data.get("field", "")))
    if match and int(match.group(1)) < len(remaining):
        return remaining[int(match.group(1))]
    return None


def _run_paths(plugin: EnginePlugin, method: str, paths: List[str],
               params: Dict[str, Any]) -> Tuple[Dict[str, Dict[str, Any]], Dict[str, str]]:
    """Runs ``paths`` in one request; a path the engine cannot decode is taken out (its error kept) and the rest
    run again, so one bad file costs its own row only. Other errors (no such method, no model, a dead engine
    twice) are raised: they are about the request, and Dask reports (or retries) the task.
    Returns {path: entry} and {path: error text}."""
    key = RESULT_KEYS.get(method, "results")
    entries: Dict[str, Dict[str, Any]] = {}
    errors: Dict[str, str] = {}
    remaining = list(paths)
    while remaining:
        try:
            result = _call_with_retry(plugin, method, dict(params, images=[{"path": p} for p in remaining]))
        except EngineError as e:
            if not _about_an_image(e):
                raise
            bad = _failed_path(e, remaining)
            if bad is None:
                if len(remaining) == 1:
                    errors[remaining[0]] = str(e)
                    break
                # The error names no input path: one image at a time finds the ones at fault.
                for p in remaining:
                    sub_entries, sub_errors = _run_paths(plugin, method, [p], params)
                    entries.update(sub_entries)
                    errors.update(sub_errors)
                break
            errors[bad] = str(e)
            remaining.remove(bad)
            continue
        for p, entry in zip(remaining, result[key]):
            entries[p] = entry
        break
    return entries, errors


def _replace_dir(temporary: str, final: str) -> None:
    """Moves a finished folder into place; a folder left by an earlier try of the same partition goes first."""
    if os.path.isdir(final):
        trash = f"{final}.old-{uuid.uuid4().hex}"
        os.replace(final, trash)
        shutil.rmtree(trash, ignore_errors=True)
    os.replace(temporary, final)


def _row(path: str, method: str, entry: Optional[Dict[str, Any]], error: Optional[str],
         mask_dir: Optional[str]) -> Dict[str, Any]:
    row: Dict[str, Any] = {"path": path, "error": error}
    if method == "predict":
        row["label"] = None if entry is None else entry.get("label")
        row["class_index"] = None if entry is None else entry.get("class_index")
        row["probabilities"] = None if entry is None else [float(x) for x in entry.get("probabilities", [])]
    elif method == "segment":
        row["foreground_fraction"] = None if entry is None else entry.get("foreground_fraction")
        row["mask_path"] = None
        if entry is not None and "path" in entry:
            row["mask_path"] = os.path.join(mask_dir, os.path.basename(entry["path"])) if mask_dir else entry["path"]
        elif entry is not None and "png" in entry:
            row["mask_png"] = entry["png"]
    else:
        row["result"] = entry
    return row


def run_partition(index: int, paths: List[str], method: str, plugin_key: str, params: Dict[str, Any],
                  output_dir: Optional[str]) -> Any:
    """The task of one partition, on a worker: its rows (every path once, in order), and with ``output_dir`` its
    files ``part-NNNNN.parquet`` (and ``part-NNNNN/`` of masks), each written under a temporary name and renamed,
    so a retry of this partition replaces only its own output."""
    plugin = cast(EnginePlugin, get_worker().plugins[plugin_key])
    part = f"part-{index:05d}"
    params = dict(params)
    mask_dir = None
    temporary_masks = None
    if method == "segment" and output_dir is not None:
        mask_dir = os.path.join(output_dir, part)
        temporary_masks = f"{mask_dir}.tmp-{uuid.uuid4().hex}"
        params["output_dir"] = temporary_masks
    try:
        entries, errors = _run_paths(plugin, method, list(paths), params)
        rows = [_row(p, method, entries.get(p), errors.get(p), mask_dir) for p in paths]
        frame = pd.DataFrame(rows)
        frame.insert(0, "partition", index)
        if output_dir is not None:
            if temporary_masks is not None:
                os.makedirs(temporary_masks, exist_ok=True)
                _replace_dir(temporary_masks, cast(str, mask_dir))
                temporary_masks = None
            final = os.path.join(output_dir, f"{part}.parquet")
            temporary = f"{final}.tmp-{uuid.uuid4().hex}"
            frame.to_parquet(temporary, index=False)
            os.replace(temporary, final)
        return frame
    finally:
        if temporary_masks is not None:
            shutil.rmtree(temporary_masks, ignore_errors=True)


def partitions(paths: Sequence[str], partition_size: int) -> List[List[str]]:
    """``paths`` cut into consecutive partitions of ``partition_size`` (the last may be shorter)."""
    if partition_size < 1:
        raise ValueError(f"partition_size must be at least 1, got {partition_size}")
    return [list(paths[i:i + partition_size]) for i in range(0, len(paths), partition_size)]


def predict_files(client: Any, paths: Sequence[str], model: str, method: str = "predict",
                  partition_size: int = DEFAULT_PARTITION_SIZE, output_dir: Optional[str] = None, *,
                  threads: int = 1, binary: Optional[str] = None, engine_args: Optional[Dict[str, Any]] = None,
                  **params: Any) -> Any:
    """Runs ``method`` ("predict", "segment" or "explain") over ``paths`` on the Dask cluster of ``client``.

    Args:
        client: a ``distributed.Client`` (a ``LocalCluster``'s, or ``Client("tcp://scheduler:8786")``).
        paths: image files the workers can read (made absolute here).
        model: the checkpoint every worker loads once (registered as an :class:`EnginePlugin`).
        partition_size: paths per task (at most 256, the engine's limit per request).
        output_dir: a folder the workers can write: each partition's rows as ``part-NNNNN.parquet`` and, for
            ``segment``, its masks in ``part-NNNNN/`` (``<stem>_mask.png``, as the engine names them).
        threads: compute threads of each worker's engine.
        params: passed to the method (``threshold``, ``batch_size``, ``tta``, ``window``, ...).

    Returns a DataFrame with one row per path in input order: ``partition``, ``path``, ``error`` (None, or why
    the file failed) and ``label``, ``class_index``, ``probabilities`` (predict), ``foreground_fraction``,
    ``mask_path`` or ``mask_png`` (segment), ``result`` (explain).
    """
    if method not in RESULT_KEYS:
        raise ValueError(f"method must be one of {sorted(RESULT_KEYS)}, got {method!r}")
    if not 1 <= partition_size <= 256:
        raise ValueError(f"partition_size must be in 1...256 (the engine's images per request), got {partition_size}")
    plugin = EnginePlugin(model, threads=threads, binary=binary, engine_args=engine_args)
    client.register_plugin(plugin, name=plugin.name)
    paths = [os.path.abspath(os.fspath(p)) for p in paths]
    if output_dir is not None:
        output_dir = os.path.abspath(output_dir)
        os.makedirs(output_dir, exist_ok=True)
    if method == "segment" and output_dir is None:
        params.setdefault("encoding", "png")
    futures = [client.submit(run_partition, i, part, method, plugin.name, params, output_dir,
                             key=f"unet-engine-{method}-{plugin.name}-{uuid.uuid4().hex[:8]}-{i:05d}", pure=False)
               for i, part in enumerate(partitions(paths, partition_size))]
    frames = client.gather(futures)
    if not frames:
        return pd.DataFrame(columns=["partition", "path", "error"])
    return pd.concat(frames, ignore_index=True)
