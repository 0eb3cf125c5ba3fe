"""What every sink does: turn one or more alerts into one message and send it, saying how the attempt went."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from consumers.deliver.sinks.config import ResolvedSink
from monitor.messages import Alert


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt; `retryable` failures are tried again, the others are dead-lettered at once."""

    ok: bool
    status: int = 0
    retryable: bool = False
    retry_after_s: float | None = None
    error: str = ""


class Sink(ABC):
    """One configured destination; a message carries one alert, or several folded into a digest."""

    def __init__(self, config: ResolvedSink) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    async def send(self, alerts: list[Alert], attempt: int) -> Outcome:
        """Deliver one message holding `alerts`; never raises for a delivery failure."""

    async def close(self) -> None:  # noqa: B027 - most sinks hold nothing to release
        """Release what the sink holds."""
