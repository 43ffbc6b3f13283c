"""Exceptions for engine errors.

Every JSON-RPC error the engine answers becomes an :class:`EngineError` (or the subclass for its code) that
carries the protocol's ``code``, ``message`` and ``data``, so a host can ``except`` the case it can handle
(``except NoModel:``) and still see the engine's own words. Failures of the process itself (it died, a call
timed out, the engine was closed) are subclasses too, with ``code`` set to ``None``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple, Type


class EngineError(Exception):
    """An error answered by the engine, or a failure of the engine process.

    Attributes:
        code: the JSON-RPC error code (``None`` for failures on the client side).
        message: the engine's message.
        data: the error's ``data`` member (for -32602 it names the offending ``field`` and the ``reason``).
        method: the method of the call that failed, when known.
    """

    code: Optional[int] = None

    def __init__(self, message: str, code: Optional[int] = None, data: Any = None, method: Optional[str] = None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.data = data
        self.method = method

    def __str__(self) -> str:
        where = f"{self.method}: " if self.method else ""
        code = f" [{self.code}]" if self.code is not None else ""
        return f"{where}{self.message}{code}"

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_rebuild, (type(self), self.message, self.code, self.data, self.method))


def _rebuild(cls: Type[EngineError], message: str, code: Optional[int], data: Any,
             method: Optional[str]) -> EngineError:
    error = cls.__new__(cls)
    EngineError.__init__(error, message, code, data, method)
    return error


# JSON-RPC 2.0 and the Language Server Protocol's cancellation code.

class ParseError(EngineError):
    """-32700: the engine could not parse a line as JSON (a client bug: report it)."""
    code = -32700


class InvalidRequest(EngineError):
    """-32600: the message is not a valid request, or it exceeds a limit (line size, nesting depth)."""
    code = -32600


class MethodNotFound(EngineError):
    """-32601: the engine does not serve this method (see ``Engine.hello()["methods"]``)."""
    code = -32601


class InvalidParams(EngineError):
    """-32602: a parameter is missing, unknown, of the wrong type or out of range; ``field`` names it."""
    code = -32602

    @property
    def field(self) -> Optional[str]:
        return self.data.get("field") if isinstance(self.data, dict) else None


class InternalError(EngineError):
    """-32603: the engine failed in a way it did not foresee."""
    code = -32603


class Cancelled(EngineError):
    """-32800: the request was cancelled. A cancelled ``train.fit`` carries the history so far in ``data``."""
    code = -32800


# The engine's own codes (Protocol/PROTOCOL.md).

class NoModel(EngineError):
    """-32001: no model yet: call ``model_create`` or ``model_load`` first."""
    code = -32001


class EngineFileNotFound(EngineError):
    """-32002: a file the request names does not exist (``data["path"]``)."""
    code = -32002


class ImageDecodeFailed(EngineError):
    """-32003: an image could not be decoded (``data["path"]``, ``data["reason"]``)."""
    code = -32003


class ShapeMismatch(EngineError):
    """-32004: an image, mask or checkpoint does not fit the model."""
    code = -32004


class TrainingDiverged(EngineError):
    """-32005: the loss became NaN or infinite; the engine rolled the step back."""
    code = -32005


class Busy(EngineError):
    """-32006: too many requests are already queued; retry later."""
    code = -32006


class CheckpointInvalid(EngineError):
    """-32007: a checkpoint file is corrupt or does not match the model."""
    code = -32007


class EngineIOError(EngineError):
    """-32008: the engine could not read or write a file."""
    code = -32008


class UnsupportedByModel(EngineError):
    """-32009: the current model cannot do this (``predict`` without a classification head, ...)."""
    code = -32009


class NotAvailable(EngineError):
    """-32010: a feature this build of the engine lacks."""
    code = -32010


# Failures of the process, detected by the client.

class EngineDied(EngineError):
    """The engine process exited (or closed its output) while calls were pending or before a call.

    Attributes:
        returncode: the process's exit status (negative: killed by that signal), or ``None`` if unknown.
        stderr_tail: the last lines the engine wrote to stderr.
    """

    def __init__(self, message: str, returncode: Optional[int] = None, stderr_tail: str = "",
                 method: Optional[str] = None):
        super().__init__(message, data={"returncode": returncode, "stderr_tail": stderr_tail}, method=method)
        self.returncode = returncode
        self.stderr_tail = stderr_tail

    def __str__(self) -> str:
        text = super().__str__()
        if self.stderr_tail:
            text += "\n--- engine stderr (last lines) ---\n" + self.stderr_tail
        return text

    def __reduce__(self) -> Tuple[Any, ...]:
        return (type(self), (self.message, self.returncode, self.stderr_tail, self.method))


class EngineClosed(EngineError):
    """The engine was closed by this client; no more calls can be made."""


class EngineTimeout(EngineError, TimeoutError):
    """A call took longer than its timeout; the client sent ``cancel`` for it and stopped waiting."""


_BY_CODE: Dict[int, Type[EngineError]] = {
    cls.code: cls
    for cls in (ParseError, InvalidRequest, MethodNotFound, InvalidParams, InternalError, Cancelled, NoModel,
                EngineFileNotFound, ImageDecodeFailed, ShapeMismatch, TrainingDiverged, Busy, CheckpointInvalid,
                EngineIOError, UnsupportedByModel, NotAvailable)
}


def error_from_response(error: Any, method: Optional[str] = None) -> EngineError:
    """The exception for a response's ``error`` member: the subclass for its code, else :class:`EngineError`."""
    if not isinstance(error, dict):
        return EngineError(f"malformed error: {error!r}", method=method)
    code = error.get("code")
    message = str(error.get("message", "engine error"))
    cls = _BY_CODE.get(code, EngineError) if isinstance(code, int) else EngineError
    return cls(message, code=code if isinstance(code, int) else None, data=error.get("data"), method=method)
