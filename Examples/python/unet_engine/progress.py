"""What ``Engine.fit`` shows while it trains: a tqdm bar per epoch when tqdm is installed, else one updating
text line on stderr, fed by the engine's ``progress`` notifications."""

from __future__ import annotations

import importlib
import sys
import time
from typing import IO, Any, Dict, Optional

# tqdm is optional (and untyped): imported by name, so the type checker needs no stubs for it.
_tqdm: Any
try:
    _tqdm = importlib.import_module("tqdm.auto").tqdm
except ImportError:  # pragma: no cover - depends on the environment
    _tqdm = None

#: Epoch-level keys that are bookkeeping, not metrics.
_NOT_METRICS = {"id", "kind", "epoch", "seconds"}


def _format_metrics(fields: Dict[str, Any]) -> str:
    parts = []
    for k, v in fields.items():
        if k in _NOT_METRICS or not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        parts.append(f"{k} {v:.4g}")
    return "  ".join(parts)


class FitProgress:
    """Turns ``train.fit`` progress notifications into a display.

    Args:
        epochs: how many epochs this fit runs (for "epoch 3/10").
        mode: True or "auto" shows tqdm when installed, else a text line; "text" forces the text line;
            False or None shows nothing.
        stream: where the text line goes (stderr by default).
    """

    def __init__(self, epochs: Optional[int], mode: Any = "auto", stream: Optional[IO[str]] = None) -> None:
        self.epochs = epochs
        self.enabled = bool(mode)
        self.use_tqdm = self.enabled and mode != "text" and _tqdm is not None
        self.stream = stream or sys.stderr
        self.bar: Any = None
        self.bar_epoch: Any = None
        self.epochs_done = 0
        self._last_text = 0.0

    def _label(self, epoch_number: int) -> str:
        return f"epoch {epoch_number}/{self.epochs}" if self.epochs else f"epoch {epoch_number}"

    def update(self, p: Dict[str, Any]) -> None:
        if not self.enabled:
            return
        kind = p.get("kind")
        if kind == "step":
            self._step(p)
        elif kind == "epoch":
            self._epoch(p)

    def _step(self, p: Dict[str, Any]) -> None:
        number = self.epochs_done + 1
        step, total = int(p.get("step", 0)), int(p.get("steps_per_epoch", 0)) or None
        loss, rate = p.get("loss"), p.get("images_per_second")
        if self.use_tqdm:
            if self.bar is None or self.bar_epoch != p.get("epoch"):
                self._close_bar()
                self.bar = _tqdm(total=total, desc=self._label(number), unit="batch", leave=True,
                                 dynamic_ncols=True)
                self.bar_epoch = p.get("epoch")
            self.bar.update(max(step - self.bar.n, 0))
            postfix = {}
            if isinstance(loss, (int, float)):
                postfix["loss"] = f"{loss:.4f}"
            if isinstance(rate, (int, float)):
                postfix["img/s"] = f"{rate:.1f}"
            self.bar.set_postfix(postfix, refresh=False)
            return
        now = time.monotonic()
        if total and step < total and now - self._last_text < 0.25:
            return
        self._last_text = now
        width = 24
        filled = int(width * step / total) if total else 0
        bar = "#" * filled + "." * (width - filled)
        eta = p.get("eta_s")
        text = f"\r{self._label(number)} [{bar}] {step}/{total or '?'}"
        if isinstance(loss, (int, float)):
            text += f"  loss {loss:.4f}"
        if isinstance(rate, (int, float)):
            text += f"  {rate:.1f} img/s"
        if isinstance(eta, (int, float)):
            text += f"  eta {eta:.0f} s"
        self.stream.write(text.ljust(100))
        self.stream.flush()

    def _epoch(self, p: Dict[str, Any]) -> None:
        self.epochs_done += 1
        summary = f"{self._label(self.epochs_done)}: {_format_metrics(p)}"
        if isinstance(p.get("seconds"), (int, float)):
            summary += f"  ({p['seconds']:.1f} s)"
        if self.use_tqdm:
            if self.bar is not None:
                self.bar.set_postfix_str(_format_metrics({k: v for k, v in p.items() if k != "learning_rate"}))
            self._close_bar()
        else:
            self.stream.write("\r" + summary.ljust(100) + "\n")
            self.stream.flush()

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self.use_tqdm:
            _tqdm.write(text, file=self.stream)
        else:
            self.stream.write("\n" + text + "\n")
            self.stream.flush()

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self._close_bar()
