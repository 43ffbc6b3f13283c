"""End-to-end tests of the unet-engine line protocol: replay Protocol/transcripts against the built binary and
validate every message against Protocol/openrpc.json; bad input of every kind; cancellation; end of input.

Transcript convention (also in Protocol/PROTOCOL.md): NAME.requests.ndjson is piped to stdin as is (with a
`--threads 1` engine); NAME.responses.ndjson lists the expected responses. Responses are paired by id (those
with id null in order); progress notifications are ignored. In expected values, "<any>", "<string>",
"<number>", "<integer>", "<boolean>", "<array>", "<object>" match any value of that kind; an object with the
key "..." may have more keys; numbers match to a relative 1e-6.
"""
import base64
import json
import os
import signal
import subprocess
import time

import jsonschema
import pytest

from conftest import PROTOCOL

TRANSCRIPTS = sorted(p.name.removesuffix(".requests.ndjson") for p in (PROTOCOL / "transcripts").glob("*.requests.ndjson"))

PLACEHOLDERS = {
    "<any>": lambda v: True,
    "<string>": lambda v: isinstance(v, str),
    "<number>": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "<integer>": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "<boolean>": lambda v: isinstance(v, bool),
    "<array>": lambda v: isinstance(v, list),
    "<object>": lambda v: isinstance(v, dict),
}


def match(expected, actual, path="$"):
    """Raises AssertionError naming the first place where `actual` does not fit `expected`."""
    if isinstance(expected, str) and expected in PLACEHOLDERS:
        assert PLACEHOLDERS[expected](actual), f"{path}: {actual!r} is not {expected}"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: expected an object, got {actual!r}"
        keys = set(expected) - {"..."}
        if "..." not in expected:
            assert set(actual) == keys, f"{path}: keys {sorted(actual)} != {sorted(keys)}"
        for k in keys:
            assert k in actual, f"{path}: missing {k}"
            match(expected[k], actual[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), f"{path}: {actual!r} != {expected!r}"
        for i, (e, a) in enumerate(zip(expected, actual)):
            match(e, a, f"{path}[{i}]")
    elif isinstance(expected, bool) or expected is None or isinstance(expected, str):
        assert actual == expected and type(actual) is type(expected), f"{path}: {actual!r} != {expected!r}"
    elif isinstance(expected, (int, float)):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), f"{path}: {actual!r} is not a number"
        assert abs(actual - expected) <= 1e-6 * max(1.0, abs(expected)), f"{path}: {actual!r} != {expected!r}"
    else:
        raise AssertionError(f"{path}: unsupported expectation {expected!r}")


class SchemaChecker:
    """Validates messages against Protocol/openrpc.json, given which method each id belongs to."""

    def __init__(self, doc: dict):
        self.doc = doc
        self.components = doc["components"]
        self.methods = {m["name"]: m for m in doc["methods"]}
        self.codes = {e["code"] for e in self.components["errors"].values()}

    def _validate(self, schema: dict, value):
        jsonschema.Draft7Validator({**schema, "components": self.components}).validate(value)

    def check(self, message: dict, method: "str | None"):
        if message.get("method") == "progress":
            self._validate({"$ref": "#/components/schemas/ProgressNotification"}, message)
            return
        self._validate({"$ref": "#/components/schemas/Response"}, message)
        if "error" in message:
            assert message["error"]["code"] in self.codes, f"undocumented error code in {message}"
            if message["error"]["code"] == -32602:
                data = message["error"].get("data", {})
                assert "field" in data and "reason" in data, f"-32602 must name the field: {message}"
        elif method is not None:
            assert method in self.methods, f"{method} has no schema in openrpc.json"
            self._validate(self.methods[method]["result"]["schema"], message["result"])
            for p in self.methods[method]["params"]:
                jsonschema.Draft7Validator.check_schema({**p["schema"], "components": self.components})


@pytest.fixture(scope="module")
def schema(openrpc):
    return SchemaChecker(openrpc)


def methods_by_id(lines: list[bytes]) -> dict:
    ids = {}
    for line in lines:
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if isinstance(m, dict) and isinstance(m.get("id"), (int, str)) and isinstance(m.get("method"), str):
            ids.setdefault(m["id"], m["method"])
    return ids


@pytest.mark.parametrize("name", TRANSCRIPTS)
def test_transcript(name, engine_bin, schema):
    requests = (PROTOCOL / "transcripts" / f"{name}.requests.ndjson").read_bytes()
    expected = [json.loads(l) for l in (PROTOCOL / "transcripts" / f"{name}.responses.ndjson").read_text().splitlines()
                if l.strip()]
    run = subprocess.run([str(engine_bin), "--threads", "1"], input=requests, capture_output=True, timeout=300)
    assert run.returncode == 0, run.stderr.decode()
    actual = [json.loads(l) for l in run.stdout.splitlines()]
    ids = methods_by_id(requests.splitlines())
    for m in actual:
        schema.check(m, ids.get(m.get("id")))
    responses = [m for m in actual if m.get("method") != "progress"]
    by_id = {}
    for m in responses:
        if m["id"] is not None:
            assert m["id"] not in by_id, f"two responses to id {m['id']}"
            by_id[m["id"]] = m
    nulls = [m for m in responses if m["id"] is None]
    expected_nulls = [e for e in expected if e["id"] is None]
    assert len(nulls) == len(expected_nulls), f"id-null responses: {nulls}"
    for e, a in zip(expected_nulls, nulls):
        match(e, a, "id null")
    expected_ids = {e["id"]: e for e in expected if e["id"] is not None}
    assert set(by_id) == set(expected_ids), f"answered ids {sorted(map(str, by_id))} != {sorted(map(str, expected_ids))}"
    for id, e in expected_ids.items():
        match(e, by_id[id], f"id {id}")


def _hello_with(engine_bin, env: dict) -> dict:
    """engine.hello from an engine run with this environment (UNET_SIMD from the caller's removed first)."""
    environment = {k: v for k, v in os.environ.items() if k != "UNET_SIMD"} | env
    line = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "engine.hello"}) + "\n"
    out = subprocess.run([str(engine_bin), "--threads", "1"], input=line.encode(), capture_output=True,
                         env=environment, timeout=60, check=True).stdout
    return json.loads(out.splitlines()[0])


def _cpu_best_simd() -> str:
    """The level /proc/cpuinfo's flags allow, independently of the engine's cpuid code."""
    try:
        flags = next(l for l in open("/proc/cpuinfo").read().splitlines() if l.startswith("flags")).split()
    except (OSError, StopIteration):
        return "portable"
    avx2 = {"avx2", "fma"} <= set(flags)
    return "avx512" if avx2 and {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= set(flags) else (
        "avx2" if avx2 else "portable")


def test_hello_reports_the_simd_level_and_unet_simd_lowers_it(engine_bin, schema):
    best = _cpu_best_simd()
    hello = _hello_with(engine_bin, {})
    schema.check(hello, "engine.hello")
    simd = hello["result"]["simd"]
    assert simd == {"level": best, "best": best, "available": simd["available"], "forced_by": None}
    assert simd["available"][0] == "portable" and simd["available"][-1] == best
    if best == "portable":
        pytest.skip("this CPU runs only the portable kernels: nothing to lower")
    lowered = _hello_with(engine_bin, {"UNET_SIMD": "portable"})
    schema.check(lowered, "engine.hello")
    assert lowered["result"]["simd"] == dict(simd, level="portable", forced_by="UNET_SIMD")


def test_every_method_in_hello_has_a_schema(engine_factory, schema):
    """From the live list: every method engine.hello serves (debug ones included) has an entry in openrpc.json
    whose result schema its response validated against, and the document lists nothing the engine does not serve."""
    e = engine_factory("--debug-methods")
    hello = e.call(1, "engine.hello")
    schema.check(hello, "engine.hello")
    served = set(hello["result"]["methods"])
    assert {"engine.hello", "dataset.open", "dataset.list", "dataset.close", "debug.sleep"} <= served
    for method in served:
        assert method in schema.methods, f"{method} has no schema in openrpc.json"
        assert "schema" in schema.methods[method]["result"], method
    assert set(schema.methods) == served


def test_openrpc_is_what_the_engine_generates(engine_bin, engine_factory):
    """`unet-engine --openrpc` prints the committed document byte for byte, and rpc.discover answers it."""
    run = subprocess.run([str(engine_bin), "--openrpc"], capture_output=True, timeout=60)
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout == (PROTOCOL / "openrpc.json").read_bytes(), "run `make openrpc`"
    e = engine_factory()
    assert e.call(1, "rpc.discover")["result"] == json.loads(run.stdout)


BAD_LINES = [
    (b"{not json\n", -32700),
    (b"[1,2,3]\n", -32600),
    (b"3.5\n", -32600),
    (b'{"jsonrpc":"2.0","id":"x","method":"no.such"}\n', -32601),
    (b'{"jsonrpc":"2.0","id":"x","method":"model.create","params":{"architecture":5,"input_shape":[1,8,8]}}\n', -32602),
    (b'{"jsonrpc":"2.0","id":"x","method":"model.create","params":{"architecture":"unet","input_shape":[1,8,8],"x":1}}\n',
     -32602),
    (b'{"jsonrpc":"2.0","id":"x","method":"model.summary"}\n', -32001),
    (b'{"jsonrpc":"2.0","id":"x","method":"cancel","params":{"id":999}}\n', -32602),
    (b"[" * 5000 + b"]" * 5000 + b"\n", -32600),
    (b"\xff\xfe not utf-8\n", -32700),
]


@pytest.mark.parametrize("line,code", BAD_LINES, ids=[str(i) for i in range(len(BAD_LINES))])
def test_bad_input_then_hello(line, code, engine_factory, schema):
    e = engine_factory()
    e.send_raw(line)
    m = e.next_message()
    schema.check(m, None)
    assert m["error"]["code"] == code
    hello = e.call("h", "engine.hello")
    schema.check(hello, "engine.hello")
    assert hello["result"]["name"] == "unet-engine"
    status, rest = e.close()
    assert status == 0 and rest == []


def test_oversize_line(engine_factory, schema):
    e = engine_factory("--max-line-bytes", "1000")
    e.send_raw(b'{"jsonrpc":"2.0","id":1,"method":"engine.hello","params":{"pad":"' + b"x" * 5000 + b'"}}\n')
    m = e.next_message()
    schema.check(m, None)
    assert m["id"] is None and m["error"]["code"] == -32600 and m["error"]["data"]["limit"] == 1000
    assert e.call(2, "engine.hello")["result"]["limits"]["max_line_bytes"] == 1000
    assert e.close()[0] == 0


def test_default_line_limit_is_64_mib(engine_factory):
    e = engine_factory()
    e.send_raw(b'{"pad":"' + b"x" * (64 << 20) + b'"}\n')
    m = e.next_message()
    assert m["error"]["code"] == -32600 and m["error"]["data"]["limit"] == 64 << 20
    assert e.call(1, "engine.hello")["result"]["name"] == "unet-engine"
    assert e.close()[0] == 0


def test_cancel_running_and_queued(engine_factory, schema):
    e = engine_factory("--debug-methods")
    e.request("slow", "debug.sleep", {"seconds": 120})
    e.request("queued", "debug.sleep", {"seconds": 120})
    first = e.next_message()  # the sleep reports progress as soon as it starts
    assert first["method"] == "progress" and first["params"]["id"] == "slow"
    schema.check(first, None)
    status = e.call("s", "engine.status")
    schema.check(status, "engine.status")
    assert status["result"]["busy"] is True
    assert status["result"]["current"]["id"] == "slow"
    assert status["result"]["queue"] == 1
    e.request("c1", "cancel", {"id": "queued"})
    assert e.next_message()["id"] == "queued"
    e.request("c2", "cancel", {"id": "slow"})
    seen = {}
    while len(seen) < 3:
        m = e.next_message()
        if m.get("method") != "progress":
            schema.check(m, {"c1": "cancel", "c2": "cancel"}.get(m["id"], "debug.sleep"))
            seen[m["id"]] = m
    assert seen["c1"]["result"] == {} and seen["c2"]["result"] == {}
    assert seen["slow"]["error"]["code"] == -32800
    assert e.call("h", "engine.hello")["result"]["name"] == "unet-engine"
    assert e.close()[0] == 0


def tiny_unet(e, id="m"):
    r = e.call(id, "model.create", {"architecture": "unet", "input_shape": [1, 16, 16], "depth": 2, "filters": 4})
    assert "result" in r, r
    return r


def test_stdin_closed_mid_request_finishes_it(engine_factory, schema):
    e = engine_factory()
    tiny_unet(e)
    image = {"array": {"dtype": "uint8", "shape": [64, 64], "data": base64.b64encode(bytes(range(256)) * 16).decode()}}
    e.request("seg", "segment", {"images": [image] * 4, "encoding": "array"})
    e.send_raw(b'{"jsonrpc":"2.0","id":"partial","meth')  # a partial line, then end of input
    status, rest = e.close()
    assert status == 0
    for m in rest:
        schema.check(m, "segment" if m.get("id") == "seg" else None)
    responses = [m for m in rest if m.get("method") != "progress"]
    # The parse error is answered by the reader at once, the segment when it finishes: either order.
    by_id = {m["id"]: m for m in responses}
    assert len(responses) == 2 and set(by_id) == {"seg", None}
    assert len(by_id["seg"]["result"]["masks"]) == 4
    assert by_id[None]["error"]["code"] == -32700


def test_sigterm_finishes_like_end_of_input(engine_factory):
    e = engine_factory("--debug-methods")
    e.request("s", "debug.sleep", {"seconds": 0.3})
    assert e.next_message()["method"] == "progress"
    e.proc.send_signal(signal.SIGTERM)
    assert e.response("s")["result"] == {"slept_s": 0.3}
    assert e.proc.wait(timeout=60) == 0


def test_shutdown_answers_last_and_exits(engine_factory, schema):
    e = engine_factory()
    tiny_unet(e)
    e.request(2, "model.summary")
    e.request(3, "engine.shutdown")
    e.request(4, "engine.hello")  # after shutdown: not read
    status, rest = e.close()
    assert status == 0
    assert [m["id"] for m in rest] == [2, 3]
    schema.check(rest[0], "model.summary")
    schema.check(rest[1], "engine.shutdown")


def test_whole_session_stdout_is_json_lines(engine_factory, schema, tmp_path):
    e = engine_factory("--log-level", "debug")
    tiny_unet(e)
    path = str(tmp_path / "m.safetensors")
    image = {"array": {"dtype": "float32", "shape": [1, 5, 7], "data": base64.b64encode(bytes(4 * 35)).decode()}}
    calls = [
        ("model.summary", None),
        ("model.save", {"path": path}),
        ("model.load", {"path": path}),
        ("model.load", {"path": str(tmp_path / "missing.safetensors")}),
        ("segment", {"images": [image], "encoding": "probabilities"}),
        ("segment", {"images": [image], "encoding": "png"}),
        ("segment", {"images": [image], "output_dir": str(tmp_path / "masks")}),
        ("predict", {"images": [image]}),
        ("engine.status", None),
    ]
    for i, (method, params) in enumerate(calls):
        schema.check(e.call(i, method, params), method)
    assert (tmp_path / "masks" / "mask_000.png").is_file()
    status, rest = e.close()
    assert status == 0 and rest == []
    for line in e.raw_lines:
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        json.loads(line)
    assert b"unet-engine [debug]" in e.stderr, "logs go to stderr"
