"""The Python client's method signatures against Protocol/openrpc.json, without an engine.

Every method in openrpc.json has an `Engine` method whose keyword parameters are exactly the method's params
(plus the client's own keywords, such as `timeout` and `batch`), required where the schema requires them,
defaulting to the schema's default or to None (None is not sent, so the engine's default applies), and annotated
with a Python type that fits the schema's. So a parameter added to the protocol without the client fails here.
`AsyncEngine` has an `async def` for every public `Engine` method with the same signature, and aio.py is what
Examples/python/generate_aio.py writes.
"""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any, Dict, List

import pytest

REPO = Path(__file__).resolve().parents[2]
CLIENT = REPO / "Examples" / "python"
sys.path.insert(0, str(CLIENT))

from unet_engine import AsyncEngine, Engine  # noqa: E402
from unet_engine.engine import DEFAULT  # noqa: E402

OPENRPC = json.loads((REPO / "Protocol" / "openrpc.json").read_text())

#: Protocol methods whose client method is not the name with "." as "_".
CLIENT_NAME = {"engine.hello": "hello", "engine.status": "status", "engine.shutdown": "shutdown"}

#: Keywords of the client's own, never sent as params: the call's timeout, how a numpy images array is read,
#: the progress callback, the page size of a paged listing.
CLIENT_KEYWORDS = {"self", "timeout", "batch", "on_progress", "page_size"}

#: Client methods that are another method's call with some params fixed (or for people: `fit`), checked
#: against that method: client method -> (protocol method, params the client method fixes or adds).
WRAPPERS = {
    "fit": ("train.fit", set(), {"progress", "callback", "cancel_timeout"}),
    "segment_masks": ("segment", {"encoding", "output_dir"}, set()),
    "explain_maps": ("explain", {"encoding", "output_dir", "threshold", "overlay"}, set()),
}

#: What a schema type's Python annotation names (any one of them).
PYTHON_TYPES = {
    "integer": ("int",),
    "number": ("float",),
    "boolean": ("bool",),
    "string": ("str",),
    "array": ("Sequence", "List", "Iterable"),
    "object": ("Dict", "Mapping"),
}


def methods() -> List[Dict[str, Any]]:
    return OPENRPC["methods"]


def client_name(method: str) -> str:
    return CLIENT_NAME.get(method, method.replace(".", "_"))


def schema_types(schema: Dict[str, Any]) -> List[str]:
    """The JSON types a param's schema allows, following one level of anyOf/oneOf and $ref ([] when it does not
    say, as for an enum, a const or a reference to a component without a type)."""
    if "$ref" in schema:
        schema = OPENRPC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    kind = schema.get("type")
    if isinstance(kind, str):
        return [] if kind == "null" else [kind]
    if isinstance(kind, list):
        return [k for k in kind if k != "null"]
    found: List[str] = []
    for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
        found += [k for k in schema_types(branch) if k not in found]
    return found


def check_signature(function: Any, method: Dict[str, Any], fixed: set, extra: set) -> None:
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    where = f"Engine.{function.__name__} ({method['name']})"
    parameters = {name: p for name, p in signature.parameters.items() if name not in CLIENT_KEYWORDS | extra}
    assert not [p for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD], \
        f"{where} takes **kwargs: give every param its keyword"
    declared = {p["name"]: p for p in method["params"] if p["name"] not in fixed}
    assert set(parameters) == set(declared), (
        f"{where}: missing {sorted(set(declared) - set(parameters))}, "
        f"not in openrpc.json {sorted(set(parameters) - set(declared))}")
    for name, param in declared.items():
        p = parameters[name]
        schema = param.get("schema", {})
        assert name in hints, f"{where}: {name} has no type annotation"
        annotation = str(hints[name])
        for kind in schema_types(schema):
            assert any(n in annotation for n in PYTHON_TYPES.get(kind, ())), \
                f"{where}: {name} is {kind} in openrpc.json but annotated {annotation}"
        if param.get("required", False):
            assert p.default is inspect.Parameter.empty, f"{where}: {name} is required, so it has no default"
            continue
        assert p.default is not inspect.Parameter.empty, f"{where}: {name} is optional, so it needs a default"
        if p.default is not None:
            assert "default" in schema and p.default == schema["default"], (
                f"{where}: {name} defaults to {p.default!r} but openrpc.json says "
                f"{schema.get('default', 'nothing')!r}; use None to leave it to the engine")
    for name in CLIENT_KEYWORDS & set(signature.parameters) - {"self"}:
        assert signature.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, \
            f"{where}: the client's own {name} is keyword-only, so it never takes a param's place"


@pytest.mark.parametrize("method", methods(), ids=lambda m: m["name"])
def test_every_method_has_a_client_method_with_its_params(method):
    function = getattr(Engine, client_name(method["name"]), None)
    assert callable(function), f"openrpc.json has {method['name']} but Engine has no {client_name(method['name'])}"
    assert function.__doc__, f"Engine.{function.__name__} has no docstring"
    check_signature(function, method, set(), set())


@pytest.mark.parametrize("name", sorted(WRAPPERS))
def test_wrappers_take_the_params_of_the_method_they_call(name):
    method_name, fixed, extra = WRAPPERS[name]
    method = next(m for m in methods() if m["name"] == method_name)
    check_signature(getattr(Engine, name), method, fixed, extra)


def test_the_check_catches_a_param_the_client_lacks():
    """The check itself fails for a method given one param more than its client method takes."""
    method = next(m for m in methods() if m["name"] == "dataset.close")
    grown = dict(method, params=method["params"] + [{"name": "force", "schema": {"type": "boolean"}}])
    with pytest.raises(AssertionError, match="missing \\['force'\\]"):
        check_signature(Engine.dataset_close, grown, set(), set())
    wrong_default = dict(method, params=[{"name": "name", "schema": {"type": "string"}}])
    with pytest.raises(AssertionError, match="is optional"):
        check_signature(Engine.dataset_close, wrong_default, set(), set())


def public_engine_methods() -> List[str]:
    return sorted(name for name, value in vars(Engine).items()
                  if callable(value) and not name.startswith("_") and not isinstance(value, (property, staticmethod)))


@pytest.mark.parametrize("name", public_engine_methods())
def test_async_engine_has_an_async_method_with_the_same_signature(name):
    function = vars(AsyncEngine).get(name)
    assert function is not None, f"AsyncEngine has no {name} (run Examples/python/generate_aio.py)"
    assert inspect.iscoroutinefunction(function), f"AsyncEngine.{name} is not async"
    sync = inspect.signature(getattr(Engine, name))
    assert inspect.signature(function) == sync, f"AsyncEngine.{name}{inspect.signature(function)} != {sync}"


def test_async_engine_has_no_getattr_proxy():
    assert "__getattr__" not in vars(AsyncEngine)


def test_aio_py_is_what_the_generator_writes():
    generated = subprocess.run([sys.executable, str(CLIENT / "generate_aio.py"), "--print"], check=True,
                               capture_output=True, text=True).stdout
    assert (CLIENT / "unet_engine" / "aio.py").read_text() == generated, \
        "aio.py is out of date: run python3 Examples/python/generate_aio.py"


def test_py_typed_ships():
    assert (CLIENT / "unet_engine" / "py.typed").is_file()
    pyproject = (CLIENT / "pyproject.toml").read_text()
    assert "py.typed" in pyproject, "pyproject.toml must list py.typed as package data so it is installed"


def test_default_marker_is_the_only_non_none_client_default():
    """`timeout` defaults to the DEFAULT marker everywhere (the Engine's own timeout), never to a number."""
    for name in public_engine_methods():
        p = inspect.signature(getattr(Engine, name)).parameters.get("timeout")
        if p is not None and name not in ("close",):
            assert p.default is DEFAULT, f"Engine.{name}'s timeout defaults to {p.default!r}"
