"""``AsyncEngine``: the same methods as :class:`Engine`, awaitable, for asyncio hosts.

Each call runs the blocking method in the event loop's default executor (a thread), so several coroutines can
have requests in flight at once; the engine answers them by id and the connection routes each answer to its
caller. Progress callbacks run in the executor thread.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from .engine import Engine


class AsyncEngine:
    """Wraps an :class:`Engine` (or starts one with the same arguments): ``await engine.predict(images)``.

    Use ``async with AsyncEngine(...) as engine:`` or ``await engine.aclose()``.
    """

    def __init__(self, engine: Engine = None, **kwargs: Any):
        self.engine = engine if engine is not None else Engine(**kwargs)

    @property
    def pid(self) -> int:
        return self.engine.pid

    def __getattr__(self, name: str):
        attr = getattr(self.engine, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        @functools.wraps(attr)
        async def run(*args: Any, **kwargs: Any) -> Any:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(None, functools.partial(attr, *args, **kwargs))

        return run

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.engine.close)

    async def __aenter__(self) -> "AsyncEngine":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()
