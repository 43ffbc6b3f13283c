"""`unet_engine.dask` on a real `LocalCluster` (two worker processes, one thread each) driving the built engine.

Over 200 phantom PNGs: `predict_files` gives the same probabilities and masks, bit for bit, as one engine with one
thread given the whole list; files that do not decode are rows with their error; Parquet and mask files are
named by partition; a worker process killed mid-run still leaves every path in the result exactly once. The
model is tiny (unet depth 2, 2 filters, 16x16, with a class head), so the module runs in well under a minute.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "Examples" / "python"
sys.path.insert(0, str(CLIENT))

distributed = pytest.importorskip("distributed")
pd = pytest.importorskip("pandas")
pytest.importorskip("pyarrow")

from conftest import engine_binary  # noqa: E402
from unet_engine import Engine, InvalidParams  # noqa: E402
from unet_engine.dask import predict_files  # noqa: E402
from unet_engine.images import encode_png  # noqa: E402

IMAGES = 200


def phantom(seed: int) -> np.ndarray:
    """A 40x48 grey "chest": two dark ellipses (lungs) on a bright body, with noise; sizes differ from the
    model's 16x16 so every image is resized as in real use."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:40, 0:48]
    image = 170 + rng.normal(0, 12, (40, 48))
    for cx in (15 + rng.integers(-2, 3), 33 + rng.integers(-2, 3)):
        inside = ((x - cx) / (7 + rng.integers(0, 3))) ** 2 + ((y - 20) / (13 + rng.integers(0, 4))) ** 2 < 1
        image[inside] -= 90
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """200 phantom PNGs and a saved tiny unet with a class head (so it can both predict and segment)."""
    root = tmp_path_factory.mktemp("archive")
    paths = []
    for i in range(IMAGES):
        p = root / f"img{i:03d}.png"
        p.write_bytes(encode_png(phantom(i)))
        paths.append(str(p))
    model = root / "model.safetensors"
    with Engine(str(engine_binary()), threads=1) as e:
        e.model_create("unet", [1, 16, 16], depth=2, filters=2, classification_head=2, seed=3)
        e.model_save(model)
    return paths, str(model)


@pytest.fixture(scope="module")
def client():
    os.environ["PYTHONPATH"] = os.pathsep.join([str(CLIENT), os.environ.get("PYTHONPATH", "")])
    os.environ["UNET_ENGINE_BIN"] = str(engine_binary())
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=40)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def reference(paths, model, method, **params):
    with Engine(str(engine_binary()), threads=1) as e:
        e.model_load(model)
        return e.call(method, dict(params, images=[{"path": p} for p in paths]))


def test_predict_matches_one_engine_bit_for_bit(archive, client, tmp_path):
    paths, model = archive
    df = predict_files(client, paths, model, method="predict", partition_size=20, output_dir=tmp_path)
    assert list(df["path"]) == paths
    assert df["error"].isna().all()
    assert len(client.scheduler_info()["workers"]) == 2
    ref = reference(paths, model, "predict")["predictions"]
    got = np.array(df["probabilities"].tolist(), dtype=np.float64)
    want = np.array([r["probabilities"] for r in ref], dtype=np.float64)
    assert np.array_equal(got, want)
    assert list(df["label"]) == [r["label"] for r in ref]
    parts = sorted(f.name for f in tmp_path.iterdir())
    assert parts == [f"part-{i:05d}.parquet" for i in range(10)]
    back = pd.concat([pd.read_parquet(tmp_path / f) for f in parts], ignore_index=True)
    assert list(back["path"]) == paths
    assert np.array_equal(np.array(back["probabilities"].tolist(), dtype=np.float64), want)


def test_segment_masks_match_one_engine(archive, client, tmp_path):
    paths, model = archive
    paths = paths[:48]
    df = predict_files(client, paths, model, method="segment", partition_size=16, output_dir=tmp_path)
    ref = reference(paths, model, "segment", encoding="png")["masks"]
    assert df["error"].isna().all()
    assert [os.path.dirname(p) for p in df["mask_path"]] == [str(tmp_path / f"part-{i // 16:05d}") for i in range(48)]
    from unet_engine.images import decode_png
    import base64
    for mask_path, r in zip(df["mask_path"], ref):
        assert np.array_equal(decode_png(Path(mask_path).read_bytes()), decode_png(base64.b64decode(r["png"])))
    assert list(df["foreground_fraction"]) == [r["foreground_fraction"] for r in ref]
    assert not [f for f in tmp_path.iterdir() if ".tmp-" in f.name]


def test_undecodable_files_are_error_rows(archive, client, tmp_path):
    paths, model = archive
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    missing = str(tmp_path / "missing.png")
    mixed = paths[:5] + [str(broken)] + paths[5:9] + [missing] + paths[9:12]
    df = predict_files(client, mixed, model, method="predict", partition_size=8)
    assert list(df["path"]) == mixed
    failed = df[df["error"].notna()]
    assert list(failed["path"]) == [str(broken), missing]
    assert "decode" in failed["error"].iloc[0] or "PNG" in failed["error"].iloc[0]
    good = df[df["error"].isna()]
    assert len(good) == 12 and all(len(p) == 2 for p in good["probabilities"])


def test_request_errors_raise_instead_of_error_rows(archive, client):
    """An error about the request (a threshold out of range), not about one image, fails the run loudly."""
    paths, model = archive
    with pytest.raises(InvalidParams) as raised:
        predict_files(client, paths[:8], model, method="predict", partition_size=8, threshold=2.0)
    assert raised.value.field == "threshold"


def test_worker_killed_mid_run_every_path_once(archive, client, tmp_path):
    paths, model = archive
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    slow = dict(tta=["hflip", "vflip"])  # three forwards per image: the run lasts long enough to be interrupted
    finished_at_kill = []

    def kill_when_started():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any(f.name.endswith(".parquet") for f in tmp_path.iterdir()):
            time.sleep(0.005)
        finished_at_kill.append(sum(f.name.endswith(".parquet") for f in tmp_path.iterdir()))
        os.kill(victim, signal.SIGKILL)

    killer = threading.Thread(target=kill_when_started, daemon=True)
    killer.start()
    df = predict_files(client, paths, model, method="predict", partition_size=8, output_dir=tmp_path, **slow)
    killer.join(5)
    assert finished_at_kill and finished_at_kill[0] < 25, "the worker was killed before the run ended"
    assert sorted(df["path"]) == sorted(paths) and len(df) == len(paths)
    assert df["error"].isna().all()
    parquet = sorted(f.name for f in tmp_path.iterdir() if f.name.endswith(".parquet"))
    assert parquet == [f"part-{i:05d}.parquet" for i in range(25)]
    back = pd.concat([pd.read_parquet(tmp_path / f) for f in parquet], ignore_index=True)
    assert list(back["path"]) == paths
