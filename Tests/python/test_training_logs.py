"""Training logs a Keras user reads: `callbacks.csv_logger` (Keras' CSVLogger file) and `callbacks.tensorboard`
(event files the engine writes itself), both produced by a real `train.fit` of the built binary.

The CSV is read with the csv module and pandas and must equal the fit's History. The event files are read by
TensorBoard's own EventAccumulator where `tensorboard` is installed (the Makefile installs it; the test skips
otherwise) and always by the small TFRecord reader below, which checks both masked CRC-32Cs of every record.
"""

from __future__ import annotations

import csv
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))

from unet_engine import Engine, InvalidParams  # noqa: E402
from conftest import engine_binary  # noqa: E402


def started_engine() -> Engine:
    """A tiny unet and 12 + 4 phantoms to fit on."""
    e = Engine(str(engine_binary()), threads=1, timeout=120)
    e.dataset_open("seg", task="segmentation", phantoms={"count": 16, "size": [32, 32], "seed": 5},
                   input_shape=[1, 32, 32], validation_split=0.25, seed=1)
    e.model_create("unet", [1, 32, 32], depth=2, filters=2, seed=7)
    e.train_configure(optimizer="adam", learning_rate=0.01, batch_size=4)
    return e


@pytest.fixture
def engine():
    with started_engine() as e:
        yield e


def fit_with_logs(engine, tmp_path, epochs=3, **csv_options):
    callbacks = {"csv_logger": {"path": str(tmp_path / "log.csv"), **csv_options},
                 "tensorboard": {"log_dir": str(tmp_path / "tb")},
                 "reduce_lr_on_plateau": {"monitor": "loss", "patience": 0, "factor": 0.5, "min_delta": 10}}
    return engine.train_fit("seg", validation="seg.val", epochs=epochs, callbacks=callbacks)["history"]


@pytest.fixture(scope="module")
def logged_fit(tmp_path_factory):
    """One three-epoch fit with both loggers and its folder: the CSV and TensorBoard tests only read its files,
    so they share it instead of each training the same model again."""
    folder = tmp_path_factory.mktemp("logged")
    with started_engine() as e:
        return fit_with_logs(e, folder), folder


def test_csv_logger_equals_history(logged_fit):
    history, tmp_path = logged_fit
    with open(tmp_path / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    logged = sorted(k for k in history[0] if k not in ("epoch", "seconds"))
    assert list(rows[0]) == ["epoch", *logged], "epoch, then every metric in sorted order"
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    for row, epoch in zip(rows, history):
        assert {k: float(row[k]) for k in logged} == {k: epoch[k] for k in logged}
    # The plateau halved the rate after epoch 1 (epoch 0 sets its best), and the log shows the rate each epoch ran with.
    assert [float(r["learning_rate"]) for r in rows] == [0.01, 0.01, 0.005]
    assert (tmp_path / "log.csv").read_bytes().count(b"\r\n") == 4, "csv.excel's line ends, as Keras writes"

    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(tmp_path / "log.csv")
    assert list(frame.columns) == ["epoch", *logged]
    for k in logged:
        assert frame[k].tolist() == [h[k] for h in history]


def test_csv_logger_append_and_separator(engine, tmp_path):
    fit_with_logs(engine, tmp_path, epochs=1, separator=";")
    fit_with_logs(engine, tmp_path, epochs=2, separator=";", append=True)
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert len(lines) == 4 and lines[0].startswith("epoch;") and sum(line.startswith("epoch") for line in lines) == 1
    # The second fit goes on from where the first stopped, as Keras' initial_epoch does.
    assert [line.split(";")[0] for line in lines[1:]] == ["0", "1", "2"]


def masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def read_records(path: Path) -> list[bytes]:
    data, at, records = path.read_bytes(), 0, []
    while at < len(data):
        (length,), (length_crc,) = struct.unpack_from("<Q", data, at), struct.unpack_from("<I", data, at + 8)
        assert length_crc == masked_crc32c(data[at:at + 8]), "length CRC"
        record = data[at + 12:at + 12 + length]
        assert struct.unpack_from("<I", data, at + 12 + length)[0] == masked_crc32c(record), "data CRC"
        records.append(record)
        at += 16 + length
    return records


def proto_fields(b: bytes):
    i = 0

    def varint():
        nonlocal i
        x = shift = 0
        while True:
            x |= (b[i] & 0x7F) << shift
            shift += 7
            i += 1
            if not b[i - 1] & 0x80:
                return x

    while i < len(b):
        key = varint()
        field, wire = key >> 3, key & 7
        if wire == 0:
            yield field, varint()
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            yield field, b[i:i + n]
            i += n
        else:
            n = varint()
            yield field, b[i:i + n]
            i += n


def scalars(folder: Path) -> tuple[list[str], dict[str, list[tuple[int, float]]]]:
    (path,) = folder.glob("events.out.tfevents.*")
    versions, values = [], {}
    for record in read_records(path):
        fields = list(proto_fields(record))
        step = next((v for f, v in fields if f == 2), 0)
        versions += [v.decode() for f, v in fields if f == 3]
        for f, summary in fields:
            if f == 5:
                for _, value in proto_fields(summary):
                    v = dict(proto_fields(value))
                    values.setdefault(v[1].decode(), []).append((step, struct.unpack("<f", v[2])[0]))
    return versions, values


def test_tensorboard_event_files_hold_history(logged_fit):
    history, tmp_path = logged_fit
    versions, train = scalars(tmp_path / "tb" / "train")
    _, validation = scalars(tmp_path / "tb" / "validation")
    assert versions == ["brain.Event:2"]
    assert set(train) == {"epoch_loss", "epoch_dice", "epoch_learning_rate"}
    assert {"epoch_loss", "epoch_dice", "epoch_iou"} <= set(validation)
    np.testing.assert_allclose([v for _, v in train["epoch_loss"]], [h["loss"] for h in history], rtol=1e-6)
    np.testing.assert_allclose([v for _, v in validation["epoch_loss"]], [h["val_loss"] for h in history], rtol=1e-6)
    assert [s for s, _ in train["epoch_learning_rate"]] == [0, 1, 2]


def test_tensorboard_reads_the_event_files(logged_fit):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    history, tmp_path = logged_fit
    for run, prefix in (("train", ""), ("validation", "val_")):
        acc = event_accumulator.EventAccumulator(str(tmp_path / "tb" / run))
        acc.Reload()
        assert "epoch_loss" in acc.Tags()["scalars"]
        events = acc.Scalars("epoch_loss")
        assert [e.step for e in events] == [0, 1, 2]
        np.testing.assert_allclose([e.value for e in events], [h[prefix + "loss"] for h in history], rtol=1e-6)
    lr = event_accumulator.EventAccumulator(str(tmp_path / "tb" / "train"))
    lr.Reload()
    np.testing.assert_allclose([e.value for e in lr.Scalars("epoch_learning_rate")], [0.01, 0.01, 0.005], rtol=1e-6)


@pytest.mark.parametrize("callbacks, field", [
    ({"csv_logger": {}}, "callbacks.csv_logger.path"),
    ({"csv_logger": {"path": "{tmp}"}}, "callbacks.csv_logger.path"),
    ({"csv_logger": {"path": "{tmp}/a.csv", "separator": ";;"}}, "callbacks.csv_logger.separator"),
    ({"csv_logger": {"path": "{tmp}/a.csv", "append": "yes"}}, "callbacks.csv_logger.append"),
    ({"csv_logger": {"path": "{tmp}/a.csv", "sep": ";"}}, "callbacks.csv_logger.sep"),
    ({"tensorboard": {"log_dir": "{tmp}/file/tb"}}, "callbacks.tensorboard.log_dir"),
    ({"tensorboard": {"log_dir": "{tmp}/tb", "update_freq": "batch"}}, "callbacks.tensorboard.update_freq"),
])
def test_bad_log_callbacks_name_the_field(engine, tmp_path, callbacks, field):
    (tmp_path / "file").write_text("a file where a folder should be")
    callbacks = {name: {k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v for k, v in cb.items()}
                 for name, cb in callbacks.items()}
    with pytest.raises(InvalidParams) as err:
        engine.train_fit("seg", epochs=1, callbacks=callbacks)
    assert err.value.data["field"] == field
    assert not (tmp_path / "a.csv").exists(), "no log file for a fit that did not start"
    assert engine.train_step("seg")["step"] == 1, "no step was taken, and the engine keeps serving"


def test_keras_list_form_takes_the_loggers_by_class_name(engine, tmp_path):
    history = engine.train_fit("seg", epochs=1, callbacks=[
        {"name": "CSVLogger", "path": str(tmp_path / "list.csv"), "separator": "\t"},
        {"name": "TensorBoard", "log_dir": str(tmp_path / "tb")}])["history"]
    with open(tmp_path / "list.csv", newline="") as f:
        (row,) = list(csv.DictReader(f, delimiter="\t"))
    assert float(row["loss"]) == history[0]["loss"]
    assert "epoch_loss" in scalars(tmp_path / "tb" / "train")[1]
    with pytest.raises(InvalidParams) as err:
        engine.train_fit("seg", epochs=1, callbacks=[{"name": "CSVLogger", "path": str(tmp_path)}])
    assert err.value.data["field"] == "callbacks[0].path"
