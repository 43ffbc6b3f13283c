"""Fixtures for the end-to-end protocol tests: the built engine binary, the schema, and a line-level client.

The binary is taken from $UNET_ENGINE_BIN, else <repo>/.build/debug/unet-engine (build it with `swift build`).
"""
import json
import os
import queue
import subprocess
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROTOCOL = REPO / "Protocol"


def engine_path() -> Path:
    return Path(os.environ.get("UNET_ENGINE_BIN", REPO / ".build" / "debug" / "unet-engine")).resolve()


def engine_binary() -> Path:
    """The binary under test. A missing default build skips; a $UNET_ENGINE_BIN that does not exist fails, so a
    misconfigured CI cannot pass by skipping everything. Test modules import it (`from conftest import ...`)."""
    path = engine_path()
    if not path.is_file():
        if "UNET_ENGINE_BIN" in os.environ:
            pytest.fail(f"UNET_ENGINE_BIN={os.environ['UNET_ENGINE_BIN']} does not exist")
        pytest.skip(f"unet-engine is not built at {path}: run `swift build` or set UNET_ENGINE_BIN")
    return path


@pytest.fixture(scope="session")
def engine_bin() -> Path:
    return engine_binary()


@pytest.fixture(scope="session")
def openrpc() -> dict:
    return json.loads((PROTOCOL / "openrpc.json").read_text())


class Engine:
    """A running unet-engine with pipes: send lines, read messages, close stdin, collect the rest."""

    def __init__(self, binary: Path, *args: str):
        self.proc = subprocess.Popen([str(binary), *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.raw_lines: list[bytes] = []
        self._messages: "queue.Queue[dict | None]" = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._stderr = b""
        self._err_reader = threading.Thread(target=self._read_err, daemon=True)
        self._err_reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.raw_lines.append(line)
            self._messages.put(json.loads(line))
        self._messages.put(None)

    def _read_err(self):
        self._stderr = self.proc.stderr.read()

    def send_raw(self, data: bytes):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict):
        self.send_raw(json.dumps(message).encode() + b"\n")

    def request(self, id, method, params=None):
        m = {"jsonrpc": "2.0", "id": id, "method": method}
        if params is not None:
            m["params"] = params
        self.send(m)

    def next_message(self, timeout: float = 120) -> dict:
        m = self._messages.get(timeout=timeout)
        assert m is not None, "the engine closed stdout"
        return m

    def response(self, id, timeout: float = 120) -> dict:
        """The next response with this id (progress notifications and other messages are kept in `seen`)."""
        while True:
            m = self.next_message(timeout)
            if "method" not in m and m.get("id") == id:
                return m

    def call(self, id, method, params=None) -> dict:
        self.request(id, method, params)
        return self.response(id)

    def close(self, timeout: float = 120) -> tuple[int, list[dict]]:
        """Closes stdin, waits for exit; returns the exit status and every message not yet read."""
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        status = self.proc.wait(timeout=timeout)
        self._reader.join(timeout)
        rest = []
        while True:
            m = self._messages.get_nowait() if not self._messages.empty() else None
            if m is None:
                break
            rest.append(m)
        return status, rest

    @property
    def stderr(self) -> bytes:
        self._err_reader.join(5)
        return self._stderr


@pytest.fixture
def engine_factory(engine_bin):
    engines = []

    def make(*args: str) -> Engine:
        e = Engine(engine_bin, *args)
        engines.append(e)
        return e

    yield make
    for e in engines:
        if e.proc.poll() is None:
            e.proc.kill()
            e.proc.wait()
