"""The xray examples' shared recipe (Examples/xray/recipe.py) is what train_pneumonia.py, train_lungseg.py and
shift_eval.py send, and what they send validates against Protocol/openrpc.json, so neither can drift.

Each script is run (runpy) against a recording stand-in for the engine: no engine, no data, no training; the
stand-in stops the script at `fit`.
"""
import runpy
import sys
import types
from pathlib import Path

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
XRAY = REPO / "Examples" / "xray"
sys.path.insert(0, str(XRAY))

import recipe  # noqa: E402


class Stop(Exception):
    pass


class Recorder:
    """Answers what the scripts read before training starts, and records every call's params."""

    def __init__(self):
        self.calls = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _record(self, method, args, kwargs):
        self.calls.append((method, args, kwargs))

    def dataset_open(self, *args, **kwargs):
        self._record("dataset.open", args, kwargs)
        return {"size": 1, "counts": {}, "validation": {"size": 1, "counts": {}}, "skipped": []}

    def dataset_files(self, *args, **kwargs):
        return []

    def model_create(self, *args, **kwargs):
        return {"total_params": 1}

    def train_configure(self, *args, **kwargs):
        self._record("train.configure", args, kwargs)
        return {}

    def fit(self, *args, **kwargs):
        raise Stop


def run_script(name, argv, tmp_path, monkeypatch):
    engine = Recorder()
    common = types.ModuleType("common")
    common.DATA = str(tmp_path / "data")
    common.Clock = type("Clock", (), {"seconds": lambda self: 0.0})
    common.engine = lambda threads=None: engine
    common.require = lambda path: path
    common.write_report = lambda path, report: None
    monkeypatch.setitem(sys.modules, "common", common)
    monkeypatch.setattr(sys, "argv", [name, *argv, "--out", str(tmp_path / "out")])
    with pytest.raises(Stop):
        runpy.run_path(str(XRAY / name), run_name="__main__")
    return engine.calls


def method(openrpc, name):
    return next(m for m in openrpc["methods"] if m["name"] == name)


def validate_params(openrpc, name, kwargs):
    """Each keyword the script passes is a param of the method and validates against its schema."""
    params = {p["name"]: p["schema"] for p in method(openrpc, name)["params"]}
    components = openrpc["components"]
    for key, value in kwargs.items():
        assert key in params, f"{name} has no param {key}"
        jsonschema.Draft7Validator({**params[key], "components": components}).validate(value)


OLD_NEW = {"shift": "new", "classic": "old"}  # shift_eval.py's names for the two recipes
SCRIPTS = [
    ("train_pneumonia.py", "pneumonia", lambda r: ["--recipe", r]),
    ("train_lungseg.py", "lung", lambda r: ["--recipe", r]),
    ("shift_eval.py", "pneumonia", lambda r: ["--task", "pneumonia", "--recipe", OLD_NEW[r]]),
    ("shift_eval.py", "lung", lambda r: ["--task", "lung", "--recipe", OLD_NEW[r]]),
]


@pytest.mark.parametrize("name,task,argv", SCRIPTS, ids=[f"{s}-{t}" for s, t, _ in SCRIPTS])
@pytest.mark.parametrize("which", recipe.RECIPES)
def test_scripts_send_the_shared_recipe(name, task, argv, which, openrpc, tmp_path, monkeypatch):
    calls = run_script(name, argv(which), tmp_path, monkeypatch)
    opens = [kw for m, _, kw in calls if m == "dataset.open"]
    assert opens, f"{name} opened no dataset"
    training = opens[0]
    wanted = recipe.dataset_params(task, which)
    assert training.get("augment") == wanted["augment"]
    assert training.get("harmonize") == wanted.get("harmonize")
    for kw in opens:
        # Every dataset opened before training (the training set, shift_eval's subset) is harmonized alike.
        assert kw.get("harmonize") == wanted.get("harmonize")
        validate_params(openrpc, "dataset.open", kw)
    configure = [kw for m, _, kw in calls if m == "train.configure"]
    assert len(configure) == 1
    for key, value in recipe.train_params(task, which).items():
        assert configure[0].get(key) == value
    validate_params(openrpc, "train.configure", configure[0])


def test_the_default_is_the_shift_recipe(openrpc, tmp_path, monkeypatch):
    calls = run_script("train_pneumonia.py", [], tmp_path, monkeypatch)
    assert calls[0][2]["harmonize"] == recipe.HARMONIZE["pneumonia"]
    calls = run_script("train_lungseg.py", [], tmp_path, monkeypatch)
    assert calls[0][2]["harmonize"] == recipe.HARMONIZE["lung"]


def test_postprocess_validates_against_evaluate_and_segment(openrpc):
    post = recipe.postprocess("lung", "shift")
    assert post and recipe.postprocess("lung", "classic") is None and recipe.postprocess("pneumonia", "shift") is None
    validate_params(openrpc, "evaluate", {"postprocess": post})
    validate_params(openrpc, "segment", {"postprocess": post, **recipe.inference_params("lung", "shift")})
    validate_params(openrpc, "predict", recipe.inference_params("pneumonia", "shift"))


def test_the_check_is_strict(openrpc):
    """A misspelt option is caught, so the checks above can fail."""
    with pytest.raises(jsonschema.ValidationError):
        validate_params(openrpc, "dataset.open", {"harmonize": {"crop_borders": True, "equalise": True}})
    with pytest.raises(AssertionError):
        validate_params(openrpc, "dataset.open", {"augmentation": {}})
    with pytest.raises(ValueError):
        recipe.augment("lung", "new")
