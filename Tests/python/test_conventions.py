"""The conventions a Keras / scikit-learn user brings, through the Python client and the real binary (issue 13,
items 11, 17, 19): Keras-style callback lists, ``History.history`` as Keras' dict of lists, ``evaluate`` per image
as scikit-learn takes it, listing a split's files, monitors that the run reports, one default learning rate.
Every result of a method this file calls is validated against ``Protocol/openrpc.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Examples" / "python"))

from unet_engine import Engine, History, InvalidParams  # noqa: E402
from conftest import engine_binary  # noqa: E402
from test_protocol import SchemaChecker  # noqa: E402

TINY_UNET = dict(architecture="unet", input_shape=[1, 16, 16], depth=2, filters=2, seed=7)


@pytest.fixture
def engine():
    with Engine(str(engine_binary()), threads=1, timeout=120) as e:
        yield e


@pytest.fixture(scope="module")
def checker(openrpc):
    return SchemaChecker(openrpc)


def checked(checker: SchemaChecker, engine: Engine, method: str, params: dict) -> dict:
    """Calls `method` and validates its result against the schema."""
    result = engine.call(method, params)
    checker.check({"jsonrpc": "2.0", "id": 1, "result": result}, method)
    return result


def test_history_is_keras_dict_of_lists():
    h = History.from_result({"history": [{"epoch": 0, "loss": 0.5, "val_loss": 0.6, "learning_rate": 1e-3},
                                         {"epoch": 1, "loss": 0.4, "val_loss": 0.55, "learning_rate": 1e-3}],
                             "epoch": 2, "batch_in_epoch": 0})
    assert h.history == {"loss": [0.5, 0.4], "val_loss": [0.6, 0.55], "learning_rate": [1e-3, 1e-3]}
    assert h.epochs == [0, 1] and h.epoch == 2
    assert h.as_columns()["epoch"] == [0, 1]


def test_fit_takes_a_keras_callback_list_and_returns_a_keras_history(engine, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine.dataset_open("ph", phantoms={"count": 8, "size": [16, 16]}, validation_split=0.25)
    engine.model_create(**TINY_UNET)
    history = engine.fit("ph", validation="ph.val", epochs=2, progress=False, callbacks=[
        {"name": "EarlyStopping", "monitor": "val_dice", "patience": 5},
        {"name": "ModelCheckpoint", "path": "ckpt/e{epoch}.safetensors"},  # relative: made absolute by the client
    ])
    assert len(history.history["loss"]) == 2 and len(history.history["val_dice"]) == 2
    assert "epoch" not in history.history
    assert history.best["monitor"] == "val_dice"
    assert (tmp_path / "ckpt" / "e2.safetensors").is_file()


def test_a_monitor_the_fit_never_reports_lists_the_choices(engine):
    engine.dataset_open("ph", phantoms={"count": 8, "size": [16, 16]})
    engine.model_create(**TINY_UNET)
    with pytest.raises(InvalidParams) as e:
        engine.train_fit("ph", callbacks={"early_stopping": {"monitor": "val_loss"}})
    assert e.value.field == "callbacks.early_stopping.monitor"
    assert '"loss"' in e.value.data["reason"] and '"dice"' in e.value.data["reason"]


def test_evaluate_per_image_feeds_scikit_learn(engine, checker):
    engine.dataset_open("c", task="classification", phantoms={"count": 12, "size": [16, 16]})
    engine.model_create("unet", [1, 16, 16], depth=2, filters=2, classification_head=2, seed=3)
    result = checked(checker, engine, "evaluate", {"dataset": "c", "per_image": True})
    rows = result["per_image"]
    y_true = np.array([r["label"] for r in rows])
    y_score = np.array([r["probabilities"][1] for r in rows])
    assert len(rows) == 12 and {r["id"] for r in rows} == {f"phantom-{i}" for i in range(12)}
    # ROC AUC from the rows (Mann-Whitney, ties counted half, as scikit-learn) is the engine's.
    pos, neg = y_score[y_true == 1], y_score[y_true == 0]
    auc = ((pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    assert result["auc"] == pytest.approx(auc, abs=1e-6)


def test_dataset_files_lists_a_split_page_by_page(engine, checker):
    engine.dataset_open("c", task="classification", phantoms={"count": 10, "size": [16, 16]}, validation_split=0.3)
    page = checked(checker, engine, "dataset.files", {"name": "c", "limit": 3})
    assert page["total"] == 7 and len(page["files"]) == 3 and page["next_offset"] == 3
    files = engine.dataset_files("c", page_size=3)
    assert [f["index"] for f in files] == list(range(7))
    assert {f["label"] for f in files} <= {0, 1} and all(f["class"] in ("normal", "consolidation") for f in files)
    assert not {f["id"] for f in files} & {f["id"] for f in engine.dataset_files("c.val")}


def test_dataset_sample_shuffled_is_seeded_and_valid(engine, checker):
    engine.dataset_open("ph", phantoms={"count": 12, "size": [16, 16]},
                        augment={"rotation_range": 10, "vertical_flip": True, "fill_mode": "reflect"})
    params = {"name": "ph", "count": 3, "shuffle": True, "seed": 4, "augment": True}
    a = checked(checker, engine, "dataset.sample", params)
    assert a == engine.call("dataset.sample", params)
    assert [s["id"] for s in a["samples"]] != ["phantom-0", "phantom-1", "phantom-2"]


def test_default_learning_rate_is_adams(engine, checker):
    config = checked(checker, engine, "train.configure", {})
    assert config["learning_rate"] == pytest.approx(1e-3) and config["loss"] == "auto"


def test_palette_and_index_png_masks_from_folders_are_class_indices(engine, tmp_path, checker):
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    classes = np.zeros((16, 16), np.uint8)
    classes[:, :8] = 1
    classes[12:, 12:] = 2
    for i in range(2):
        Image.fromarray((classes * 100 + 20).astype(np.uint8)).save(tmp_path / "images" / f"{i}.png")
    palette = Image.fromarray(classes, mode="P")
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * (253 * 3))  # black, red, green
    palette.save(tmp_path / "masks" / "0.png")  # a palette PNG: its indices are the classes
    Image.fromarray(classes).save(tmp_path / "masks" / "1.png")  # an 8-bit grey PNG of class indices
    engine.dataset_open("idx", images=str(tmp_path / "images"), masks=str(tmp_path / "masks"), input_shape=[1, 16, 16])
    result = checked(checker, engine, "dataset.sample", {"name": "idx", "count": 2})
    for s in result["samples"]:
        assert np.array_equal(_mask(s), classes), s["id"]


def _mask(sample: dict) -> np.ndarray:
    import base64

    a = sample["mask"]["array"]
    return np.frombuffer(base64.b64decode(a["data"]), np.uint8).reshape(a["shape"])
