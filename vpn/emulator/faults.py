"""Injected failures for the emulator: error answers, hangs and dropped connections."""

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal["fail", "hang", "hang_before", "drop"]


@dataclass
class Fault:
    """One rule: the next ``remaining`` matching calls misbehave as ``kind`` says."""

    kind: FaultKind
    remaining: int
    status: int = 500
    seconds: float = 0.0
    path_contains: str | None = None
    method: str | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether a call (path relative to the secret prefix) is one this rule targets."""
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_contains is None or self.path_contains in path


class Faults:
    """Rules consumed in the order they were added; hangs end early when released."""

    def __init__(self) -> None:
        self.rules: list[Fault] = []
        self._released = asyncio.Event()

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching calls with ``status`` and a JSON error; do nothing."""
        self._add(Fault("fail", n, status=status, path_contains=path_contains, method=method))

    def hang_next(
        self,
        n: int = 1,
        seconds: float = 5.0,
        *,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Sleep ``seconds`` and then act and answer: the client times out, the change stays."""
        self._add(Fault("hang", n, seconds=seconds, path_contains=path_contains, method=method))

    def hang_before_next(
        self,
        n: int = 1,
        seconds: float = 5.0,
        *,
        path_contains: str | None = None,
        method: str | None = None,
    ) -> None:
        """Sleep ``seconds`` and then answer 503 without acting."""
        self._add(
            Fault("hang_before", n, seconds=seconds, path_contains=path_contains, method=method)
        )

    def drop_next(
        self, n: int = 1, *, path_contains: str | None = None, method: str | None = None
    ) -> None:
        """Act, then close the connection without answering."""
        self._add(Fault("drop", n, path_contains=path_contains, method=method))

    def clear(self) -> None:
        """Forget every pending rule."""
        self.rules.clear()

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule matching this call, with one use consumed."""
        for rule in self.rules:
            if rule.remaining > 0 and rule.matches(method, path):
                rule.remaining -= 1
                return rule
        return None

    async def pause(self, seconds: float) -> None:
        """Sleep for a hang, or less if ``release()`` is called (the server is stopping)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._released.wait(), seconds)

    def release(self) -> None:
        """Wake every hanging call now and skip future hangs."""
        self._released.set()

    def _add(self, rule: Fault) -> None:
        if rule.remaining < 1:
            raise ValueError("n must be at least 1")
        self.rules.append(rule)
