"""The transport: one engine subprocess, a writer lock, and a reader thread that routes what comes back.

Requests from any number of threads are written whole, one line each, under a lock, so lines never
interleave. A single reader thread reads the engine's stdout and hands every response to the call waiting for
its id, and every ``progress`` notification to the call it reports on; the waiting caller runs its own
progress callback, in its own thread. When the engine's output ends, every pending call fails at once with
:class:`EngineDied` carrying the exit status and the tail of stderr: no call ever waits on a dead engine.
"""

from __future__ import annotations

import collections
import itertools
import json
import queue
import subprocess
import sys
import threading
import time
from typing import IO, Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from .errors import EngineClosed, EngineDied, EngineError, EngineTimeout, error_from_response

ProgressCallback = Callable[[Dict[str, Any]], None]

#: How long a waiting call sleeps between checks: short enough for Ctrl-C to feel immediate.
_POLL_SECONDS = 0.2


class PendingCall:
    """A request that was sent and whose response has not been collected yet.

    ``wait()`` collects it (running the progress callback for each notification on the way); ``cancel()``
    asks the engine to stop it, from any thread.
    """

    def __init__(self, connection: "Connection", request_id: int, method: str,
                 on_progress: Optional[ProgressCallback]):
        self.id = request_id
        self.method = method
        self.on_progress = on_progress
        self._connection = connection
        self._events: "queue.SimpleQueue[Tuple[str, Any]]" = queue.SimpleQueue()
        self._outcome: Optional[Tuple[str, Any]] = None
        #: The last progress notification's params, or None.
        self.last_progress: Optional[Dict[str, Any]] = None

    def _post(self, kind: str, payload: Any) -> None:
        self._events.put((kind, payload))

    def done(self) -> bool:
        """True once the response (or the engine's death) has arrived; progress may still be unread."""
        return self._outcome is not None or self._connection._pending.get(self.id) is not self

    def cancel(self) -> bool:
        """Sends ``cancel`` for this request (without waiting for its answer). The call then ends with
        :class:`Cancelled` (a cancelled ``train.fit`` carries its partial history in the exception's ``data``).
        Returns False when the engine is gone or the call has already finished."""
        if self._outcome is not None:
            return False
        return self._connection.send_cancel(self.id)

    def wait(self, timeout: Optional[float] = None) -> Any:
        """The call's ``result``; raises the :class:`EngineError` subclass for an error response,
        :class:`EngineDied` if the engine dies first, or :class:`EngineTimeout` after ``timeout`` seconds (the
        call is then cancelled and abandoned)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._outcome is None:
            remaining = _POLL_SECONDS if deadline is None else min(_POLL_SECONDS, deadline - time.monotonic())
            try:
                kind, payload = self._events.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    self._connection._abandon(self)
                    raise EngineTimeout(f"no answer after {timeout:g} s; the request was cancelled",
                                        method=self.method) from None
                continue
            if kind == "progress":
                self.last_progress = payload
                if self.on_progress is not None:
                    self.on_progress(payload)
            else:
                self._outcome = (kind, payload)
        kind, payload = self._outcome
        if kind == "result":
            return payload
        if kind == "error":
            raise error_from_response(payload, self.method)
        raise payload  # an EngineDied or EngineClosed built by the connection


class Connection:
    """One running engine process and its pipes. Thread-safe."""

    def __init__(self, argv: Sequence[str], env: Optional[Dict[str, str]] = None, cwd: Optional[str] = None,
                 echo_stderr: bool = False, stderr_lines: int = 200,
                 on_notification: Optional[Callable[[Dict[str, Any]], None]] = None):
        self.argv = list(argv)
        self.echo_stderr = echo_stderr
        self.on_notification = on_notification
        # A session of its own: a Ctrl-C in a terminal or a notebook interrupt reaches Python only, and the
        # client turns it into a `cancel`, instead of the engine also receiving SIGINT and shutting down.
        self.process = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._stdin: IO[bytes] = self.process.stdin
        self._stdout: IO[bytes] = self.process.stdout
        self._stderr: IO[bytes] = self.process.stderr
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._pending: Dict[Any, PendingCall] = {}
        self._stderr_tail: Deque[str] = collections.deque(maxlen=stderr_lines)
        self._failure: Optional[EngineError] = None
        self._closing = False
        self.unmatched: List[Dict[str, Any]] = []
        self._stderr_thread = threading.Thread(target=self._read_stderr, name="unet-engine stderr", daemon=True)
        self._reader = threading.Thread(target=self._read_stdout, name="unet-engine reader", daemon=True)
        self._stderr_thread.start()
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self._failure is None and self.process.poll() is None

    def stderr_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines the engine wrote to stderr."""
        return "\n".join(list(self._stderr_tail)[-lines:])

    # Sending

    def start(self, method: str, params: Optional[Dict[str, Any]] = None,
              on_progress: Optional[ProgressCallback] = None) -> PendingCall:
        """Sends one request and returns at once with its :class:`PendingCall`."""
        message: Dict[str, Any] = {"jsonrpc": "2.0", "id": 0, "method": method}
        if params is not None:
            message["params"] = params
        with self._lock:
            if self._failure is not None:
                raise self._failure_for(method)
            request_id = next(self._ids)
            message["id"] = request_id
            call = PendingCall(self, request_id, method, on_progress)
            self._pending[request_id] = call
        try:
            line = json.dumps(message, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"
        except (TypeError, ValueError) as e:
            self._pending.pop(request_id, None)
            raise TypeError(f"{method}: params are not JSON (no NaN or infinity either): {e}") from None
        try:
            with self._write_lock:
                self._stdin.write(line)
                self._stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            # The engine is gone (or closing): the reader fails the call when the output ends.
            self._fail_soon()
        return call

    def call(self, method: str, params: Optional[Dict[str, Any]] = None, timeout: Optional[float] = None,
             on_progress: Optional[ProgressCallback] = None) -> Any:
        """Sends a request and waits for its result. Ctrl-C (KeyboardInterrupt) while waiting sends ``cancel``
        for it and re-raises."""
        pending = self.start(method, params, on_progress)
        try:
            return pending.wait(timeout)
        except KeyboardInterrupt:
            self._abandon(pending)
            raise

    def send_cancel(self, request_id: Any) -> bool:
        """Sends ``cancel {"id": request_id}`` without waiting for its answer."""
        try:
            self.start("cancel", {"id": request_id})
            return True
        except EngineError:
            return False

    def _abandon(self, call: PendingCall) -> None:
        """Stops routing to ``call`` (after a timeout or an interrupt) and asks the engine to stop it."""
        with self._lock:
            still_pending = self._pending.pop(call.id, None) is call
        if still_pending:
            self.send_cancel(call.id)

    # Reading

    def _read_stderr(self) -> None:
        for raw in iter(self._stderr.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\n")
            self._stderr_tail.append(text)
            if self.echo_stderr:
                print(text, file=sys.stderr, flush=True)

    def _read_stdout(self) -> None:
        try:
            for raw in iter(self._stdout.readline, b""):
                try:
                    message = json.loads(raw)
                except ValueError:
                    self._stderr_tail.append(f"[client] not a JSON line on stdout: {raw[:200]!r}")
                    continue
                if isinstance(message, dict):
                    self._route(message)
        except (OSError, ValueError):
            pass
        self._end_of_output()

    def _route(self, message: Dict[str, Any]) -> None:
        if "id" not in message and "method" in message:
            params: Dict[str, Any] = message["params"] if isinstance(message.get("params"), dict) else {}
            if message["method"] == "progress":
                call = self._pending.get(params.get("id"))
                if call is not None:
                    call._post("progress", params)
                    return
            if self.on_notification is not None:
                self.on_notification(message)
            return
        with self._lock:
            call = self._pending.pop(message.get("id"), None)
        if call is None:
            # An answer to an abandoned call, or an error about a line the engine could not attribute.
            self.unmatched.append(message)
            del self.unmatched[:-20]
            return
        if "error" in message:
            call._post("error", message["error"])
        else:
            call._post("result", message.get("result"))

    def _end_of_output(self) -> None:
        """The engine closed stdout: wait for it to exit, then fail whatever is still pending."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr_thread.join(timeout=2)
        with self._lock:
            if self._closing:
                self._failure = EngineClosed("the engine was closed")
            else:
                how = f"exited with status {code}" if code is not None and code >= 0 else (
                    f"was killed by signal {-code}" if code is not None else "closed its output")
                self._failure = EngineDied(f"the engine (pid {self.process.pid}) {how}", returncode=code,
                                           stderr_tail=self.stderr_tail())
            pending, self._pending = list(self._pending.values()), {}
        for call in pending:
            call._post("failed", self._failure_for(call.method))

    def _failure_for(self, method: str) -> EngineError:
        f = self._failure
        if isinstance(f, EngineDied):
            return EngineDied(f.message, f.returncode, f.stderr_tail, method=method)
        return EngineClosed(f.message if f else "the engine was closed", method=method)

    def _fail_soon(self) -> None:
        """A write failed: the reader notices the end of output shortly; make sure it does even if the process
        keeps its stdout open."""
        if self.process.poll() is None:
            try:
                self.process.kill()
            except OSError:
                pass

    # Closing

    def close(self, timeout: float = 10.0) -> Optional[int]:
        """Ends the input (the engine finishes its queued requests and exits 0); after ``timeout`` seconds
        terminates it, and kills it 5 seconds later. Returns the exit status."""
        with self._lock:
            self._closing = True
        try:
            with self._write_lock:
                self._stdin.close()
        except (OSError, ValueError):
            pass
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=10)
        self._stderr_thread.join(timeout=2)
        for stream in (self._stdout, self._stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        return self.process.returncode

    def mark_closed(self) -> None:
        """After ``engine.shutdown``: the exit that follows is expected, not a death."""
        with self._lock:
            self._closing = True


def kill_quietly(process: "subprocess.Popen[bytes]") -> None:
    """Finalizer for an Engine that was never closed: end its input, then kill it if it lingers."""
    if process.poll() is not None:
        return
    try:
        if process.stdin is not None:
            process.stdin.close()
        process.wait(timeout=2)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        try:
            process.kill()
        except OSError:
            pass
