"""What every sink does: turn one or more alerts into one message and send it, saying how the attempt went."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
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
    # The sink's own id of the message it made (a Slack channel and timestamp), stored with the delivery.
    reference: str = ""


def _no_reference(_: str) -> str:
    return ""


class Sink(ABC):
    """One configured destination; a message carries one alert, or several folded into a digest."""

    def __init__(self, config: ResolvedSink) -> None:
        self.config = config
        # The reference of an earlier message of this sink by its event id ("" when unknown): where an update of
        # a story goes. The deliver stage sets it from what `news.deliveries` recorded.
        self.references: Callable[[str], str] = _no_reference

    @property
    def name(self) -> str:
        return self.config.name

    @abstractmethod
    async def send(self, alerts: list[Alert], attempt: int) -> Outcome:
        """Deliver one message holding `alerts`; never raises for a delivery failure."""

    async def close(self) -> None:  # noqa: B027 - most sinks hold nothing to release
        """Release what the sink holds."""
