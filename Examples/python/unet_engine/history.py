"""The result of ``Engine.fit``: the per-epoch history, with how the run ended."""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional


class History(List[Dict[str, Any]]):
    """The per-epoch metrics dicts of a ``train.fit`` (``epoch``, ``loss``, ``val_loss``, ``learning_rate``,
    ``seconds``, ...), as a list, plus how the run ended.

    Attributes:
        stopped_early: early stopping ended the run.
        cancelled: the run was cancelled (Ctrl-C, ``cancel`` or a timeout); the list holds the finished epochs.
        best: the early-stopping or checkpoint monitor's best ``{"epoch", "monitor", "value"}``, or None.
        epoch, batch_in_epoch: where training stands (the next batch is ``batch_in_epoch`` of ``epoch``).
        history: Keras' dict of lists (metric name -> values over epochs).
        result: the raw ``train.fit`` result (or the cancelled call's error data).
    """

    def __init__(self, epochs: Iterable[Dict[str, Any]] = (), result: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(epochs)
        self.result: Dict[str, Any] = dict(result or {})
        self.stopped_early: bool = bool(self.result.get("stopped_early", False))
        self.cancelled: bool = bool(self.result.get("cancelled", False))
        self.best: Optional[Dict[str, Any]] = self.result.get("best")
        self.epoch: Optional[int] = self.result.get("epoch")
        self.batch_in_epoch: Optional[int] = self.result.get("batch_in_epoch")

    @classmethod
    def from_result(cls, result: Dict[str, Any]) -> "History":
        return cls(result.get("history") or [], result)

    @property
    def metrics(self) -> List[str]:
        """Metric names present in any epoch, in first-seen order (without ``epoch``)."""
        names: Dict[str, None] = {}
        for row in self:
            for k in row:
                if k != "epoch":
                    names.setdefault(k, None)
        return list(names)

    def column(self, name: str) -> List[Optional[float]]:
        """One metric over the epochs (None where an epoch lacks it)."""
        return [row.get(name) for row in self]

    def as_columns(self) -> Dict[str, List[Optional[float]]]:
        """Every column including ``epoch``: name -> list over epochs (e.g. for ``pandas.DataFrame``)."""
        return {name: self.column(name) for name in ["epoch", *self.metrics]}

    @property
    def history(self) -> Dict[str, List[Optional[float]]]:
        """Keras' ``History.history``: metric name -> list over epochs (``loss``, ``val_loss``, ``dice``, ...,
        ``learning_rate``, ``seconds``), without ``epoch``, so Keras plotting code runs unchanged."""
        return {name: self.column(name) for name in self.metrics}

    @property
    def epochs(self) -> List[Optional[int]]:
        """The epoch numbers of the rows (Keras' ``History.epoch``; ``epoch`` here is where training stands)."""
        return [row.get("epoch") for row in self]

    def __repr__(self) -> str:
        flags = [f for f in ("stopped_early", "cancelled") if getattr(self, f)]
        last = {k: round(v, 4) if isinstance(v, float) else v for k, v in (self[-1] if self else {}).items()}
        return f"History({len(self)} epochs{', ' + ', '.join(flags) if flags else ''}; last: {last})"
