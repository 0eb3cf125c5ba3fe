"""One typed, versioned message per topic, and the only place messages are turned into bytes and back.

Every message is a JSON object whose `schema_version` says which layout it follows; readers reject versions
newer than they know instead of guessing. Keys are UTF-8 strings (the item's stable id, a feed id or an event id).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    PlainSerializer,
    ValidationError,
    field_validator,
)
from pydantic_core import core_schema


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(v: datetime) -> datetime:
    """The time in UTC; a time without an offset is taken to be in UTC already."""
    if v.tzinfo is None:
        return v.replace(tzinfo=UTC)
    return v.astimezone(UTC)


@lru_cache(maxsize=65536)
def _utc_text(d: datetime) -> str:
    """A time as written on every topic; cached because a story's record repeats its members' times on each write."""
    return as_utc(d).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ISO 8601 in UTC with a literal Z and microseconds: lossless, readable by any client, sortable as text. Read back
# in UTC too; the validator sits on the date fields alone, as one per field of a message would cost a call each.
UtcDatetime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(_utc_text, return_type=str),
]

LabelName = Literal["cross_border_incident", "election"]
LABELS: tuple[LabelName, ...] = ("cross_border_incident", "election")
# How far a feed's reports are trusted on their own: wire services and public broadcasters first, aggregators last.
Tier = Literal["wire", "broadcaster", "outlet", "aggregator"]
TIERS: tuple[Tier, ...] = ("wire", "broadcaster", "outlet", "aggregator")


class DecodeError(ValueError):
    """A message on a topic is not valid JSON of the expected type and version (bad input, never retried)."""


class Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    SCHEMA_VERSION: ClassVar[int] = 1
    schema_version: int = 1

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, v: int) -> int:
        if v < 1 or v > cls.SCHEMA_VERSION:
            raise ValueError(f"unsupported schema_version {v} (this reader knows 1..{cls.SCHEMA_VERSION})")
        return v

    def key(self) -> str:
        raise NotImplementedError


class RawItem(Message):
    """A normalized story from one feed: the value of `news.raw`, keyed by `id`.

    Version 2 adds `tier`, the feed's tier from the feed list; version 1 items read as `outlet`.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: int = 2
    id: str = Field(min_length=1)
    feed_id: str
    feed_url: str
    source: str
    url: str = ""
    title: str
    summary: str = ""
    # The entry had no title: `title` is the start of the summary (or the link), not text of its own.
    title_derived: bool = False
    published: UtcDatetime
    fetched_at: UtcDatetime
    published_estimated: bool = False
    lang: str = ""
    # `lang` was detected from the text because neither the entry nor the feed named a language.
    lang_detected: bool = False
    categories: list[str] = Field(default_factory=list)
    author: str = ""
    guid: str = ""
    content_hash: str
    backfill: bool = False
    update: bool = False
    # Source metadata and news-wire fields; the defaults keep messages written before them readable.
    feed_title: str = ""
    feed_lang: str = ""
    region: str = ""
    feed_format: str = ""
    modified: UtcDatetime | None = None
    places: list[str] = Field(default_factory=list)
    subjects: list[str] = Field(default_factory=list)
    tier: Tier = "outlet"

    def key(self) -> str:
        return self.id


class Place(BaseModel):
    model_config = ConfigDict(frozen=True)
    code: str  # ISO 3166-1 alpha-2 of the country the mention belongs to
    name: str  # the place as written or its canonical name
    kind: Literal["country", "region", "city", "other"] = "country"


class Contribution(BaseModel):
    model_config = ConfigDict(frozen=True)
    feature: str
    weight: float


class ClassifiedItem(Message):
    """A raw item with the classifier's scores: the value of `news.classified`, keyed by the item id.

    Version 2 adds `story_id`: the story stage writes the item with its story to `news.storied`, keyed by story id.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    item: RawItem
    scores: dict[str, float]
    labels: list[LabelName]
    model: str
    places: list[Place] = Field(default_factory=list)
    explanation: dict[str, list[Contribution]] = Field(default_factory=dict)
    classified_at: UtcDatetime = Field(default_factory=utcnow)
    # The story the item belongs to; empty until the story stage assigned one (always set on `news.storied`).
    story_id: str = ""

    def key(self) -> str:
        # A story's items share a partition of `news.storied`, so one alert-stage member decides all its alerts.
        return self.story_id or self.item.id


class StoryMember(BaseModel):
    model_config = ConfigDict(frozen=True)
    item_id: str
    outlet: str
    domain: str  # registered domain of the item's link (or of its feed)
    lang: str = ""
    published: UtcDatetime


class Story(Message):
    """Items of many outlets that report one event: the value of the compacted `news.stories`, keyed by story id."""

    # A story lists this many members at most (later ones are counted), so its record stays far below 1 MiB.
    MAX_MEMBERS: ClassVar[int] = 5000

    story_id: str = Field(min_length=1)
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    headline: str
    headline_lang: str = ""
    members: list[StoryMember] = Field(default_factory=list, max_length=MAX_MEMBERS)
    member_count: int = Field(0, ge=0)
    domains: list[str] = Field(default_factory=list)
    places: list[Place] = Field(default_factory=list)
    labels: list[LabelName] = Field(default_factory=list)
    # Written by earlier versions only: signatures now live on their own topic (StorySignature), written once each.
    signatures: list[str] = Field(default_factory=list)
    updated_at: UtcDatetime = Field(default_factory=utcnow)

    @property
    def outlets(self) -> int:
        """Independent outlets: distinct registered domains."""
        return len(self.domains)

    def key(self) -> str:
        return self.story_id


class StorySignature(Message):
    """The MinHash signature of one of a story's first members: the value of compacted `newsmon.story-signatures`,
    keyed by story id and slot, written once when the member joins, so a restarted stage matches items as before."""

    story_id: str = Field(min_length=1)
    slot: int = Field(ge=0)  # the member's place among the story's indexed members
    signature: str  # base64 of little-endian uint32 values

    def key(self) -> str:
        return self.key_of(self.story_id, self.slot)

    @staticmethod
    def key_of(story_id: str, slot: int) -> str:
        """The key of a story's signature in a slot, e.g. to tombstone it once the story closed."""
        return f"{story_id}/{slot}"


class AlertStory(BaseModel):
    """The story an alert is about, as the alert stage knew it when it raised the alert or the update."""

    model_config = ConfigDict(frozen=True)
    # Outlet names listed on an alert, so one reported by thousands of outlets still fits in a message.
    MAX_SOURCES: ClassVar[int] = 50

    story_id: str = Field(min_length=1)
    # The event id of the story's first alert for the rule: what an update refers to (a Slack thread's parent).
    first_event_id: str
    # Independent outlets: distinct registered domains of the story's members.
    outlets: int = Field(ge=1)
    members: int = Field(ge=1)
    # Outlet names, first reporters first; `new_sources` are those since the previous message of the story.
    sources: list[str] = Field(default_factory=list, max_length=MAX_SOURCES)
    new_sources: list[str] = Field(default_factory=list, max_length=MAX_SOURCES)
    # 0 for the first alert, n for the n-th update.
    update: int = Field(0, ge=0)
    # One outlet reports it, and that outlet is an aggregator: "single source, unverified".
    unverified: bool = False


class Alert(Message):
    """A rule match waiting for delivery: the value of `news.alerts`, keyed by `event_id`.

    Version 2 adds `kind` and `story`: on stories, a story's first alert and its updates name the story.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: int = 2
    event_id: str
    rule_id: str
    sinks: list[str]
    item: ClassifiedItem
    reasons: list[str] = Field(default_factory=list)
    matched_at: UtcDatetime = Field(default_factory=utcnow)
    rule_name: str = ""
    # "digest": collected with other matches of the rule and sent as one message every `digest_s` seconds.
    mode: Literal["immediate", "digest"] = "immediate"
    digest_s: float = Field(0.0, ge=0)
    # "update": later reports of a story that already alerted; `item` is the newest of them.
    kind: Literal["alert", "update"] = "alert"
    story: AlertStory | None = None

    def key(self) -> str:
        return self.event_id


class Delivery(Message):
    """One delivery attempt of an alert to a sink: the value of `news.deliveries`.

    Version 2 adds `reference`: the sink's own id of the message it made (a Slack channel and timestamp), which
    later updates of the story thread under or edit.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: int = 2
    event_id: str
    sink: str
    attempt: int = Field(ge=1)
    status: Literal["delivered", "retry", "failed", "dead_lettered"]
    latency_ms: float = Field(ge=0)
    error: str = ""
    at: UtcDatetime = Field(default_factory=utcnow)
    rule_id: str = ""
    http_status: int = 0
    batch: int = Field(1, ge=1)
    reference: str = ""

    def key(self) -> str:
        return self.event_id


class DeadLetter(Message):
    """A message that could not be processed, with the reason: the value of `news.dlq`."""

    # A dead letter must itself fit in a Kafka message, whatever it carries.
    PAYLOAD_MAX_CHARS: ClassVar[int] = 100_000
    REASON_MAX_CHARS: ClassVar[int] = 2000

    source_topic: str
    source_key: str
    reason: str
    error_class: Literal["permanent", "bad_input", "exhausted"]
    payload: str
    attempts: int = 0
    at: UtcDatetime = Field(default_factory=utcnow)
    sink: str = ""
    payload_truncated: bool = False

    def key(self) -> str:
        return self.source_key

    @classmethod
    def of(
        cls, payload: bytes | str | None, *, source_key: bytes | str | None, reason: str, **fields: Any
    ) -> DeadLetter:
        """A dead letter for this payload, cut to PAYLOAD_MAX_CHARS and marked when cut."""
        text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload or ""
        key = source_key.decode("utf-8", "replace") if isinstance(source_key, bytes) else source_key or ""
        return cls(
            source_key=key[:1000],
            reason=reason[: cls.REASON_MAX_CHARS],
            payload=text[: cls.PAYLOAD_MAX_CHARS],
            payload_truncated=len(text) > cls.PAYLOAD_MAX_CHARS,
            **fields,
        )


def _unhex(text: str, size: int) -> bytes | None:
    """`text` as `size` bytes when it is exactly their lowercase hex form (so it converts back unchanged), else None."""
    if len(text) != 2 * size:
        return None
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        return None
    return raw if len(raw) == size and raw.hex() == text else None


class SeenItems(Mapping[str, str]):
    """Item id -> content hash, immutable and packed: 24 bytes per item instead of two strings in a dict.

    A feed's items have 32-hex-digit ids and 16-hex-digit hashes (see `monitor.ingest.normalize`); they are kept as
    one sorted bytes object of fixed-size records. Any other pair is kept as given, so the mapping is lossless.
    """

    __slots__ = ("_other", "_packed")
    ID_BYTES: ClassVar[int] = 16
    HASH_BYTES: ClassVar[int] = 8
    RECORD_BYTES: ClassVar[int] = ID_BYTES + HASH_BYTES

    _packed: bytes
    _other: dict[str, str] | None

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        records: dict[bytes, bytes] = {}
        other: dict[str, str] = {}
        for item_id, content_hash in pairs:
            key, value = _unhex(item_id, self.ID_BYTES), _unhex(content_hash, self.HASH_BYTES)
            if key is not None and value is not None:
                records[key] = value
                other.pop(item_id, None)  # a later pair wins, as in a dict
            else:
                other[item_id] = content_hash
                if key is not None:
                    records.pop(key, None)
        self._packed = b"".join(k + records[k] for k in sorted(records))
        # None rather than an empty dict: nearly every feed has no such pair, and each empty dict costs 64 bytes.
        self._other = other or None

    def _find(self, key: bytes) -> int:
        """Offset of the record of this id in the packed bytes, or -1."""
        packed, size, width = self._packed, self.ID_BYTES, self.RECORD_BYTES
        lo, hi = 0, len(packed) // width
        while lo < hi:
            mid = (lo + hi) // 2
            probe = packed[mid * width : mid * width + size]
            if probe < key:
                lo = mid + 1
            elif probe > key:
                hi = mid
            else:
                return mid * width
        return -1

    def get(self, item_id: str, default: Any = None) -> Any:
        key = _unhex(item_id, self.ID_BYTES)
        if key is not None:
            at = self._find(key)
            if at >= 0:
                return self._packed[at + self.ID_BYTES : at + self.RECORD_BYTES].hex()
        if self._other is not None:
            return self._other.get(item_id, default)
        return default

    def __getitem__(self, item_id: str) -> str:
        value: str | None = self.get(item_id)
        if value is None:
            raise KeyError(item_id)
        return value

    def __contains__(self, item_id: object) -> bool:
        return isinstance(item_id, str) and self.get(item_id) is not None

    def __iter__(self) -> Iterator[str]:
        width = self.RECORD_BYTES
        for at in range(0, len(self._packed), width):
            yield self._packed[at : at + self.ID_BYTES].hex()
        if self._other is not None:
            yield from self._other

    def items(self) -> ItemsView[str, str]:
        """The pairs read straight off the records, in the order of iteration, without a lookup per id."""
        return _PairsView(self)

    def _pairs(self) -> Iterator[tuple[str, str]]:
        packed, size, width = self._packed, self.ID_BYTES, self.RECORD_BYTES
        for at in range(0, len(packed), width):
            yield packed[at : at + size].hex(), packed[at + size : at + width].hex()
        if self._other is not None:
            yield from self._other.items()

    def __len__(self) -> int:
        return len(self._packed) // self.RECORD_BYTES + len(self._other or ())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SeenItems):
            return self._packed == other._packed and (self._other or {}) == (other._other or {})
        return super().__eq__(other)

    def __repr__(self) -> str:
        return f"SeenItems({dict(self.items())!r})"

    def as_dict(self) -> dict[str, str]:
        return dict(self.items())

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        # On the wire it stays a JSON object of strings, so the message format does not depend on the packing.
        as_object = handler.generate_schema(dict[str, str])
        from_object = core_schema.no_info_after_validator_function(cls, as_object)
        return core_schema.json_or_python_schema(
            json_schema=from_object,
            python_schema=core_schema.union_schema([core_schema.is_instance_schema(cls), from_object]),
            serialization=core_schema.plain_serializer_function_ser_schema(
                cls.as_dict, return_schema=as_object, when_used="always"
            ),
        )


class _PairsView(ItemsView[str, str]):
    """SeenItems' items view, iterated off the packed records (the generic view looks every id up again)."""

    _mapping: SeenItems

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return self._mapping._pairs()


class FeedState(Message):
    """What a poller remembers of one feed: the value of the compacted `newsmon.feed-state`, keyed by feed id."""

    feed_id: str
    url: str
    subscribed_at: UtcDatetime
    etag: str = ""
    last_modified: str = ""
    last_attempt: UtcDatetime | None = None
    last_success: UtcDatetime | None = None
    consecutive_errors: int = 0
    last_error_kind: str = ""
    last_error: str = ""
    # Item id -> content hash of every item the feed listed at its last successful poll that was produced.
    seen: SeenItems = Field(default_factory=SeenItems)
    # Where polls go after a permanent redirect (301/308); empty means `url`, the configured one.
    effective_url: str = ""
    next_poll_at: UtcDatetime | None = None
    interval_s: float = Field(0.0, ge=0)
    expected_gap_s: float = Field(0.0, ge=0)
    last_new_item_at: UtcDatetime | None = None
    silent: bool = False
    error_counts: dict[str, int] = Field(default_factory=dict)
    not_found_streak: int = Field(0, ge=0)
    disabled_reason: str = ""
    disabled_at: UtcDatetime | None = None

    def key(self) -> str:
        return self.feed_id


class AlertState(Message):
    """That a rule already alerted for a story: the value of the compacted `newsmon.alert-state`, keyed by event id.

    Version 2 adds what alerting on stories keeps between messages of a story: the outlets already announced,
    when the last message went out, how many updates did, and the newest report waiting for the next update.
    """

    SCHEMA_VERSION: ClassVar[int] = 2
    schema_version: int = 2
    # Registered domains an alert or update announced; more are not listed (the count goes on).
    MAX_ANNOUNCED: ClassVar[int] = 1000

    event_id: str
    rule_id: str
    item_id: str
    first_matched_at: UtcDatetime
    story_id: str = ""
    announced: list[str] = Field(default_factory=list, max_length=MAX_ANNOUNCED)
    last_sent_at: UtcDatetime | None = None
    updates: int = Field(0, ge=0)
    pending: ClassifiedItem | None = None

    def key(self) -> str:
        return self.event_id


class ShadowAlert(Message):
    """An alert a shadow rule or shadow model would have sent: the value of `news.shadow`, keyed by `event_id`.

    Never delivered; `newsmon replay --compare-shadow` sets these beside the live alerts of the same range.
    """

    event_id: str
    rule_id: str
    rule_name: str = ""
    # "rule": a rule marked `shadow: true`; "model": a live rule on the scores of `classifier.shadow_model`.
    kind: Literal["rule", "model"]
    item: ClassifiedItem
    reasons: list[str] = Field(default_factory=list)
    matched_at: UtcDatetime = Field(default_factory=utcnow)

    def key(self) -> str:
        return self.event_id


class FeedRegistration(Message):
    """A feed the pollers share: the value of the compacted `newsmon.feed-registry`, keyed by feed id.

    A tombstone (null value) removes the feed. Kafka assigns the topic's partitions among the pollers' group.
    """

    feed_id: str = Field(min_length=1)
    # The feed's entry as in the feed list; kept as an object so entries with newer per-feed options still load.
    feed: dict[str, Any]
    origin: Literal["config", "cli"] = "config"
    added_at: UtcDatetime = Field(default_factory=utcnow)
    updated_at: UtcDatetime = Field(default_factory=utcnow)

    def key(self) -> str:
        return self.feed_id


M = TypeVar("M", bound=Message)


def encode(msg: Message) -> bytes:
    return msg.model_dump_json().encode("utf-8")


def encode_key(msg: Message) -> bytes:
    return msg.key().encode("utf-8")


def decode(cls: type[M], value: bytes | None) -> M:
    """Parse one message value; raise DecodeError for anything that is not a valid message of this type."""
    if value is None:
        raise DecodeError(f"empty value where a {cls.__name__} was expected")
    try:
        return cls.model_validate_json(value)
    except ValidationError as exc:
        raise DecodeError(f"invalid {cls.__name__}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from exc


# -- views: the few fields a bulk reader needs, read from the same bytes without building whole messages ----------


class PlaceView(msgspec.Struct, frozen=True):
    """A place of a classified item as a view reads it."""

    code: str
    name: str
    kind: Literal["country", "region", "city", "other"] = "country"


class ItemView(msgspec.Struct, frozen=True):
    """What scoring and rule matching read of a `news.raw` item (or of the item inside a classified one)."""

    id: Annotated[str, msgspec.Meta(min_length=1)]
    feed_id: str
    source: str
    title: str
    url: str = ""
    summary: str = ""
    title_derived: bool = False
    lang: str = ""
    backfill: bool = False
    schema_version: Annotated[int, msgspec.Meta(ge=1, le=RawItem.SCHEMA_VERSION)] = 1


class ClassifiedView(msgspec.Struct, frozen=True):
    """What rule matching reads of a `news.classified` item: its item, scores, labels and places."""

    item: ItemView
    scores: dict[str, float]
    labels: list[LabelName]
    places: list[PlaceView] = []
    schema_version: Annotated[int, msgspec.Meta(ge=1, le=ClassifiedItem.SCHEMA_VERSION)] = 1


class StoryItemView(ItemView, frozen=True, kw_only=True):
    """What story clustering reads of an item besides what rule matching reads: its time and its feed."""

    published: datetime
    feed_url: str


class StoryView(ClassifiedView, frozen=True, kw_only=True):
    """What the story stage reads of a `news.classified` item."""

    item: StoryItemView


V = TypeVar("V", ItemView, ClassifiedView, StoryView)
# The message each view reads, named in its errors.
_VIEWED = {ItemView: RawItem, ClassifiedView: ClassifiedItem, StoryView: ClassifiedItem}
# Lax as the messages' own reading is (a number in a string reads as the number), so a view accepts what `decode`
# does; the skipped fields cost a scan, not a parse, which makes a view several times cheaper than `decode`.
_decoders = {cls: msgspec.json.Decoder(cls, strict=False) for cls in _VIEWED}


def decode_view(cls: type[V], value: bytes | None) -> V:
    """Parse the view's fields of one message value, several times faster than `decode` of the whole message.

    The fields read are checked as `decode` checks them (types, required, known schema version); the others are
    skipped unread, so a reader that needs the full message, or that writes it back, uses `decode`.
    """
    if value is None:
        raise DecodeError(f"empty value where a {_VIEWED[cls].__name__} was expected")
    try:
        view: V = _decoders[cls].decode(value)
    except msgspec.DecodeError as exc:  # also each validation error, a subclass
        raise DecodeError(f"invalid {_VIEWED[cls].__name__}: {exc}") from exc
    return view


_any_json = msgspec.json.Decoder()
_json = msgspec.json.Encoder()


def encode_member(item_id: str, outlet: str, domain: str, lang: str, published: datetime) -> bytes:
    """One `StoryMember` as it appears in a story's record, for `encode_story`."""
    fields = {"item_id": item_id, "outlet": outlet, "domain": domain, "lang": lang, "published": _utc_text(published)}
    return _json.encode(fields)


def encode_story(fields: dict[str, Any], members: bytes) -> bytes:
    """A `Story` value from its fields (times as datetimes) and its members encoded each once by `encode_member`,
    joined by commas: a story's record is written again for each batch that grows it, and its members, most of it,
    are not encoded again each time."""
    out = {k: _utc_text(v) if isinstance(v, datetime) else v for k, v in fields.items()}
    out["schema_version"], out["members"] = Story.model_fields["schema_version"].default, msgspec.Raw(b"[%s]" % members)
    return _json.encode(out)


def with_story(value: bytes, story_id: str) -> bytes:
    """A `news.classified` value as read (already checked by `decode_view(StoryView, ...)`), with its story: the value
    of `news.storied`. Its fields pass through unparsed, several times cheaper than decoding and encoding the message.
    """
    fields = _any_json.decode(value)
    fields["story_id"], fields["schema_version"] = story_id, ClassifiedItem.SCHEMA_VERSION
    return _json.encode(fields)
