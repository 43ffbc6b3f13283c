"""Regression tests for issue 13's crashes and holes, end to end against the built binary: each case once
killed the engine or answered wrongly. Every test also checks the engine is still serving afterwards."""
import json
import os
import struct
import subprocess

import pytest

SMALL_UNET = {"architecture": "unet", "input_shape": [1, 16, 16], "depth": 1, "filters": 2}


def alive(e, id="alive"):
    r = e.call(id, "engine.status")
    assert "result" in r, r


def invalid_params(r, field):
    assert r.get("error", {}).get("code") == -32602, r
    assert r["error"]["data"]["field"] == field, r
    return r["error"]["data"]["reason"]


@pytest.fixture
def engine(engine_factory, tmp_path):
    """An engine whose working folder is tmp_path, so relative paths such as "A" land there."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        e = engine_factory("--threads", "1")
    finally:
        os.chdir(cwd)
    return e


# Item 1: one-character paths crashed in NSString.deletingLastPathComponent.

def test_one_character_save_path_is_written_in_the_working_folder(engine, tmp_path):
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    r = engine.call(2, "model.save", {"path": "A"})
    assert r["result"]["path"] == "A", r
    assert (tmp_path / "A").stat().st_size == r["result"]["bytes"]
    assert "result" in engine.call(3, "model.load", {"path": "A"})
    alive(engine)


def test_fit_checkpoint_path_of_one_character_after_substitution(engine, tmp_path):
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    assert "result" in engine.call(2, "dataset.open", {"name": "ph", "phantoms": {"count": 4, "size": [16, 16]}})
    r = engine.call(3, "train.fit", {"dataset": "ph", "epochs": 1, "callbacks": {"checkpoint": {"path": "{epoch}"}}})
    assert "result" in r, r
    assert (tmp_path / "1").is_file()
    alive(engine)


def test_csv_logger_path_of_one_character(engine, tmp_path):
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    assert "result" in engine.call(2, "dataset.open", {"name": "ph", "phantoms": {"count": 4, "size": [16, 16]}})
    r = engine.call(3, "train.fit", {"dataset": "ph", "epochs": 1, "callbacks": {"csv_logger": {"path": "A"}}})
    assert "result" in r, r
    assert (tmp_path / "A").read_text().startswith("epoch"), (tmp_path / "A").read_text()
    alive(engine)


def test_manifest_named_by_one_character(engine, tmp_path):
    (tmp_path / "M").write_text("path\nnot-there.png\n")
    r = engine.call(1, "dataset.open", {"name": "m", "manifest": "M", "input_shape": [1, 16, 16]})
    assert r["error"]["code"] == -32602, r  # no usable images, but no crash
    alive(engine)


# Item 5 (and the "\u0000" path of item 1): a NUL inside a path is refused, never truncated.

@pytest.mark.parametrize("path", ["\u0000", "x\u0000.safetensors", ""])
def test_save_path_with_nul_or_empty_is_refused(engine, tmp_path, path):
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    reason = invalid_params(engine.call(2, "model.save", {"path": path}), "path")
    assert ("NUL" in reason) == ("\u0000" in path), reason
    assert list(tmp_path.iterdir()) == []
    alive(engine)


@pytest.mark.parametrize("method,params,field", [
    ("model.load", {"path": "x\u0000.safetensors"}, "path"),
    ("dataset.open", {"name": "d", "root": "r\u0000"}, "root"),
    ("dataset.open", {"name": "d", "images": "i\u0000", "masks": "m"}, "images"),
    ("dataset.open", {"name": "d", "images": "i", "masks": "m\u0000"}, "masks"),
    ("dataset.open", {"name": "d", "manifest": "m\u0000.csv"}, "manifest"),
    ("segment", {"images": [{"path": "a.png"}], "output_dir": "o\u0000"}, "output_dir"),
    ("segment", {"images": [{"path": "a\u0000.png"}]}, "images[0].path"),
    ("train.fit", {"dataset": "ph", "callbacks": {"checkpoint": {"path": "c\u0000"}}}, "callbacks.checkpoint.path"),
])
def test_every_path_param_refuses_nul(engine, method, params, field):
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    assert "result" in engine.call(2, "dataset.open", {"name": "ph", "phantoms": {"count": 4, "size": [16, 16]}})
    invalid_params(engine.call(3, method, params), field)
    alive(engine)


# Item 2: fit after steps at a smaller batch size sliced past the epoch's order and reported an empty epoch.

def test_fit_after_steps_at_a_smaller_batch_size(engine):
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    r = engine.call(2, "dataset.open", {"name": "ph", "phantoms": {"count": 8, "size": [16, 16]},
                                        "validation_split": 0.5})
    assert r["result"]["size"] == 4, r
    assert "result" in engine.call(3, "train.configure", {"batch_size": 1})
    for i in (4, 5):
        assert "result" in engine.call(i, "train.step", {"dataset": "ph"})
    r = engine.call(6, "train.fit", {"dataset": "ph", "batch_size": 4, "validation": "ph.val"})
    assert "result" in r, r
    history = r["result"]["history"]
    assert len(history) == 1 and "loss" in history[0], history  # the epoch ran a step
    # Two images of four seen at batch size 1 are half a batch of 4: rounded down, epoch 0 runs its only batch.
    assert history[0]["epoch"] == 0 and r["result"]["epoch"] == 1 and r["result"]["batch_in_epoch"] == 0, r
    alive(engine)


def test_position_past_the_end_at_a_new_batch_size_starts_the_next_epoch(engine):
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    assert "result" in engine.call(2, "dataset.open", {"name": "ph", "phantoms": {"count": 4, "size": [16, 16]}})
    assert "result" in engine.call(3, "train.configure", {"batch_size": 3})
    assert "result" in engine.call(4, "train.step", {"dataset": "ph"})  # 3 of 4 images seen
    assert "result" in engine.call(5, "train.configure", {"batch_size": 2})
    r = engine.call(6, "train.step", {"dataset": "ph"})  # 3 seen = batch 1 of 2 (rounded down)
    assert (r["result"]["epoch"], r["result"]["batch_in_epoch"]) == (0, 2), r
    r = engine.call(7, "train.fit", {"dataset": "ph", "batch_size": 1})  # 4 of 4 seen: the next epoch
    assert [h["epoch"] for h in r["result"]["history"]] == [1] and "loss" in r["result"]["history"][0], r
    alive(engine)


# Item 3: a safetensors shape whose element count overflows Int.

def write_safetensors(path, header: dict, body: bytes = b""):
    h = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + body)


def test_safetensors_shape_overflow_is_an_invalid_checkpoint(engine, tmp_path):
    write_safetensors(tmp_path / "big.safetensors",
                      {"w": {"dtype": "F32", "shape": [2147483648, 2147483648, 2147483648], "data_offsets": [0, 16]}},
                      b"\0" * 16)
    r = engine.call(1, "model.load", {"path": str(tmp_path / "big.safetensors")})
    assert r["error"]["code"] == -32007, r
    alive(engine)


@pytest.mark.parametrize("offsets", [[0, 1e30], [0, 18446744073709551615], [-1, 4]])
def test_safetensors_absurd_offsets_are_an_invalid_checkpoint(engine, tmp_path, offsets):
    write_safetensors(tmp_path / "o.safetensors", {"w": {"dtype": "F32", "shape": [1], "data_offsets": offsets}},
                      b"\0" * 4)
    r = engine.call(1, "model.load", {"path": str(tmp_path / "o.safetensors")})
    assert r["error"]["code"] == -32007, r
    alive(engine)


def test_inline_array_shape_overflow_is_invalid_params(engine):
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    big = 1 << 62
    r = engine.call(2, "segment", {"images": [{"array": {"dtype": "uint8", "shape": [big, big], "data": "AAAA"}}]})
    assert r["error"]["code"] == -32602, r
    alive(engine)


# Item 4: a model too big for the machine is refused before anything is allocated.

def test_huge_classifier_is_refused_naming_the_field(engine):
    r = engine.call(1, "model.create", {"architecture": "unet-classifier", "input_shape": [1, 8192, 8192],
                                        "classes": 1000})
    reason = invalid_params(r, "input_shape")
    assert "max-model-bytes" in reason, reason
    alive(engine)


def test_max_model_bytes_option(engine_factory):
    e = engine_factory("--threads", "1", "--max-model-bytes", "1000000")
    assert e.call(0, "engine.hello")["result"]["limits"]["max_model_bytes"] == 1000000
    reason = invalid_params(e.call(1, "model.create", {"architecture": "unet", "input_shape": [1, 64, 64],
                                                       "filters": 64}), "filters")
    assert "1000000" in reason or "max-model-bytes" in reason, reason
    assert "result" in e.call(2, "model.create", SMALL_UNET)
    alive(e)


def test_checkpoint_describing_a_huge_model_is_refused(engine, tmp_path):
    config = {"architecture": "unet-classifier", "input_shape": [1, 8192, 8192], "classes": 1000, "seed": 0,
              "depth": 4, "filters": 64, "batch_norm": False, "upsampling": "transpose", "classification_head": 0,
              "dropout": 0}
    write_safetensors(tmp_path / "huge.safetensors",
                      {"__metadata__": {"format": "pt", "unet_engine.config": json.dumps(config)},
                       "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4)
    r = engine.call(1, "model.load", {"path": str(tmp_path / "huge.safetensors")})
    assert r["error"]["code"] == -32007 and "max-model-bytes" in r["error"]["message"], r
    alive(engine)


def test_checkpoint_with_too_few_tensors_is_refused_before_building(engine, tmp_path):
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    assert "result" in engine.call(2, "model.save", {"path": str(tmp_path / "ok.safetensors")})
    from safetensors.numpy import load_file, save_file
    from safetensors import safe_open
    with safe_open(str(tmp_path / "ok.safetensors"), "np") as f:
        meta = f.metadata()
    tensors = load_file(str(tmp_path / "ok.safetensors"))
    tensors.pop(sorted(tensors)[0])
    save_file(tensors, str(tmp_path / "short.safetensors"), metadata=meta)
    r = engine.call(3, "model.load", {"path": str(tmp_path / "short.safetensors")})
    assert r["error"]["code"] == -32007 and "parameters" in r["error"]["message"], r
    alive(engine)


# Item 12: a killed save's temporary file is removed by the next save to the same target.

def test_stale_temporary_of_a_dead_process_is_removed(engine, tmp_path):
    dead = 2**31 - 2  # beyond any pid_max
    stale = tmp_path / f"m.safetensors.tmp-{dead}-12345"
    stale.write_bytes(b"partial")
    live = tmp_path / f"m.safetensors.tmp-{os.getpid()}-6789"
    live.write_bytes(b"someone else is writing")
    other = tmp_path / f"n.safetensors.tmp-{dead}-1"
    other.write_bytes(b"another target")
    assert "result" in engine.call(1, "model.create", SMALL_UNET)
    assert "result" in engine.call(2, "model.save", {"path": str(tmp_path / "m.safetensors")})
    assert not stale.exists()
    assert live.exists() and other.exists()
    alive(engine)


def test_killed_save_leaves_nothing_after_the_next_save(engine_factory, tmp_path):
    e = engine_factory("--threads", "1")
    assert "result" in e.call(1, "model.create", {"architecture": "unet", "input_shape": [1, 64, 64],
                                                  "filters": 64})
    target = tmp_path / "big.safetensors"
    e.request(2, "model.save", {"path": str(target)})
    # Kill the engine while its temporary file is being written (or just after: then there is nothing to clean).
    for _ in range(2000):
        if any(p.name.startswith("big.safetensors.tmp-") for p in tmp_path.iterdir()):
            break
        import time
        time.sleep(0.001)
    e.proc.kill()
    e.proc.wait()
    left = [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    if not left:  # the save finished first; simulate what a kill leaves
        (tmp_path / f"big.safetensors.tmp-{e.proc.pid}-1").write_bytes(b"partial")
    e2 = engine_factory("--threads", "1")
    assert "result" in e2.call(1, "model.create", SMALL_UNET)
    assert "result" in e2.call(2, "model.save", {"path": str(target)})
    assert [p.name for p in tmp_path.iterdir()] == ["big.safetensors"]


# Item 14: errors do not carry file contents.

def test_load_of_a_text_file_does_not_echo_its_bytes(engine, tmp_path):
    (tmp_path / "secret.txt").write_bytes(b"password=hunter2\n" * 4)
    r = engine.call(1, "model.load", {"path": str(tmp_path / "secret.txt")})
    assert r["error"]["code"] == -32007, r
    text = json.dumps(r)
    header = struct.unpack("<Q", b"password")[0]
    assert str(header) not in text and "hunter2" not in text and "password" not in text, r
    assert "not a safetensors file" in r["error"]["message"], r
    alive(engine)


def test_manifest_skipped_rows_give_row_numbers_not_contents(engine, tmp_path):
    (tmp_path / "m.csv").write_text("path\nsecret-row-one\nsecret-row-two\n")
    r = engine.call(1, "dataset.open", {"name": "m", "manifest": str(tmp_path / "m.csv"), "input_shape": [1, 16, 16]})
    skipped = r["error"]["data"]["skipped"]
    assert [s["row"] for s in skipped] == [2, 3], skipped
    assert "secret" not in json.dumps(r), r
    alive(engine)


# Item 15: integers beyond int64 are invalid params naming the field, not a parse error.

@pytest.mark.parametrize("literal", ["99999999999999999999999", "-99999999999999999999999", "18446744073709551616"])
def test_integer_beyond_int64_names_the_field(engine, literal):
    line = ('{"jsonrpc":"2.0","id":1,"method":"model.create","params":{"architecture":"unet",'
            '"input_shape":[1,16,16],"seed":%s}}\n' % literal)
    engine.send_raw(line.encode())
    reason = invalid_params(engine.response(1), "seed")
    assert "integer" in reason, reason
    engine.send_raw(b'{"jsonrpc":"2.0","id":2,"method":"model.create","params":{"architecture":"unet",'
                    b'"input_shape":[1,16,%s]}}\n' % literal.encode())
    invalid_params(engine.response(2), "input_shape[2]")
    alive(engine)


def test_request_id_beyond_int64_is_an_invalid_request(engine):
    engine.send_raw(b'{"jsonrpc":"2.0","id":99999999999999999999999,"method":"engine.status"}\n')
    r = engine.next_message()
    assert r["error"]["code"] == -32600, r
    alive(engine)
