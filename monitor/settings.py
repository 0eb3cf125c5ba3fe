"""Settings: loaded once from a YAML file plus NEWSMON_* environment variables, validated at start-up."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from monitor import config_file
from monitor.config_file import ConfigError

DEFAULT_SETTINGS_FILE = Path("config/settings.yaml")


Positive = Annotated[float, Field(gt=0)]
NonNegative = Annotated[float, Field(ge=0)]
Fraction = Annotated[float, Field(gt=0, le=1)]
Count = Annotated[int, Field(ge=1, le=1000)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
Compression = Literal["zstd", "lz4", "snappy", "gzip", "none"]


class KafkaSettings(_Section):
    # Empty bootstrap means "start and use the project's local broker".
    bootstrap: str = ""
    version: str = "4.1.1"
    host: str = "127.0.0.1"
    port: int = Field(9092, ge=1, le=65535)
    controller_port: int = Field(9093, ge=1, le=65535)
    data_dir: Path = Path("var/kafka")
    dist_dir: Path = Path(".cache/kafka")
    heap: str = Field("512m", pattern=r"^\d+[mMgG]$")
    start_timeout_s: Positive = 90.0
    client_id: str = "newsmon"
    request_timeout_ms: int = Field(30000, ge=1000)
    # A consuming stage that dies without leaving its group keeps its partitions this long (the broker's floor is 6).
    session_timeout_s: float = Field(10.0, ge=1, le=300)
    # How produced batches are compressed. zstd (at the broker's default level, 3) compresses news records best
    # and costs a fraction of the CPU time of gzip or of lz4 (which the client runs at level 9).
    compression: Compression = "zstd"
    # Security for an external cluster; the local broker serves PLAINTEXT only.
    security_protocol: SecurityProtocol = Field("PLAINTEXT", validate_default=True)
    sasl_mechanism: SaslMechanism = Field("", validate_default=True)
    sasl_username: str = Field("", validate_default=True)
    # The password is never a setting itself: it is read from this file or this environment variable.
    sasl_password_file: Path | None = None
    sasl_password_env: str = Field("", validate_default=True)
    ssl_cafile: Path | None = None  # none: the system's trusted CAs
    ssl_certfile: Path | None = None  # client certificate, for clusters that require mutual TLS
    ssl_keyfile: Path | None = None
    # Off: the broker's certificate must still be signed by a trusted CA, but may name another host.
    ssl_check_hostname: bool = True

    @property
    def local(self) -> bool:
        return not self.bootstrap

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def sasl_password(self) -> str:
        """The SASL password, read from `sasl_password_env` or `sasl_password_file` each time a client is made."""
        return read_secret(self.sasl_password_env, self.sasl_password_file)

    @field_validator("security_protocol")
    @classmethod
    def _local_is_plaintext(cls, v: str, info: ValidationInfo) -> str:
        if v != "PLAINTEXT" and not info.data.get("bootstrap"):
            raise ValueError(f"{v} needs kafka.bootstrap: the local broker serves PLAINTEXT only")
        return v

    @field_validator("sasl_mechanism")
    @classmethod
    def _mechanism_fits_protocol(cls, v: str, info: ValidationInfo) -> str:
        protocol = info.data.get("security_protocol", "")
        if protocol.startswith("SASL_") and not v:
            raise ValueError(f"required with security_protocol {protocol} (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
        if v and not protocol.startswith("SASL_"):
            raise ValueError("set it only with security_protocol SASL_SSL or SASL_PLAINTEXT")
        return v

    @field_validator("sasl_username")
    @classmethod
    def _username_for_sasl(cls, v: str, info: ValidationInfo) -> str:
        if info.data.get("sasl_mechanism") and not v.strip():
            raise ValueError(f"required with sasl_mechanism {info.data['sasl_mechanism']}")
        return v.strip()

    @field_validator("sasl_password_env")
    @classmethod
    def _password_for_sasl(cls, v: str, info: ValidationInfo) -> str:
        if info.data.get("sasl_mechanism") and not read_secret(v, info.data.get("sasl_password_file")):
            where = f"environment variable {v} is unset or empty" if v else "no variable is named"
            file = info.data.get("sasl_password_file")
            where += f"; file {file} is missing or empty" if file else "; kafka.sasl_password_file is not set"
            raise ValueError(f"SASL needs a password from sasl_password_env or sasl_password_file ({where})")
        return v

    @field_validator("sasl_password_file", "ssl_cafile", "ssl_certfile", "ssl_keyfile", mode="before")
    @classmethod
    def _empty_path_is_none(cls, v: object) -> object:
        return None if v == "" else v

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _tls_file(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        if v is None:
            return v
        if info.data.get("security_protocol") not in ("SSL", "SASL_SSL"):
            raise ValueError("set it only with security_protocol SSL or SASL_SSL")
        if not v.is_file():
            raise ValueError(f"{v} does not exist or is not a file")
        return v

    @field_validator("ssl_cafile")
    @classmethod
    def _ca_loads(cls, v: Path | None) -> Path | None:
        if v is not None:
            try:
                ssl.create_default_context(cafile=str(v))
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"{v} holds no readable PEM CA certificate ({exc.strerror or exc})") from exc
        return v

    @field_validator("ssl_keyfile")
    @classmethod
    def _key_matches_certificate(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        cert = info.data.get("ssl_certfile")
        if v is not None and cert is None:
            raise ValueError("needs kafka.ssl_certfile (the certificate of this key)")
        if v is not None:
            try:
                ssl.create_default_context().load_cert_chain(str(cert), str(v))
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(f"{v} does not load with certificate {cert} ({exc.strerror or exc})") from exc
        return v

    @property
    def bootstrap_servers(self) -> str:
        return self.bootstrap or f"{self.host}:{self.port}"


class TopicSettings(_Section):
    raw: str = "news.raw"
    classified: str = "news.classified"
    alerts: str = "news.alerts"
    shadow: str = "news.shadow"
    deliveries: str = "news.deliveries"
    dead_letter: str = "news.dlq"
    feed_state: str = "newsmon.feed-state"
    alert_state: str = "newsmon.alert-state"
    feed_registry: str = "newsmon.feed-registry"
    stories: str = "news.stories"
    storied: str = "news.storied"
    story_signatures: str = "newsmon.story-signatures"
    # Partitions are the unit the pollers' group divides: at most this many pollers share the work.
    registry_partitions: Count = 12
    partitions: Count = 3
    replication_factor: int = Field(1, ge=1, le=7)
    retention_days: Positive = 30


class IngestSettings(_Section):
    feeds_file: Path = Path("config/feeds.yaml")
    default_interval_s: Positive = 300.0
    min_interval_s: float = Field(60.0, ge=0.1)
    max_interval_s: Positive = 3600.0
    max_backoff_s: Positive = 3600.0
    concurrency: int = Field(64, ge=1, le=10000)
    per_host: Count = 4
    connect_timeout_s: Positive = 10.0
    read_timeout_s: Positive = 20.0
    total_timeout_s: Positive = 45.0
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_redirects: int = Field(5, ge=0, le=20)
    # Loopback, private, link-local (cloud metadata) and other non-public addresses are refused, at every hop and
    # after name resolution, unless this is on (local development, the demo) or the address is in allowed_networks.
    allow_private_addresses: bool = False
    allowed_networks: tuple[IPvAnyNetwork, ...] = ()
    user_agent: str = "newsmon/0.1 (+https://github.com/newsmon/newsmon; feed monitor)"
    # Pollers sharing this consumer group split the feed registry; a dead one's feeds move after the session.
    group_id: str = Field("newsmon-pollers", min_length=1)
    session_timeout_s: float = Field(10.0, ge=1, le=300)
    # Bounded above so that an item, classified and wrapped in an alert, always fits in one Kafka message.
    title_max_chars: int = Field(500, ge=20, le=5000)
    summary_max_chars: int = Field(2000, ge=50, le=100_000)
    # Adaptive polling: a feed is polled at this fraction of its learned gap between new items.
    poll_fraction: Fraction = 0.5
    # Weight of the newest observed gap in the exponentially weighted mean.
    gap_smoothing: Fraction = 0.3
    # 410 Gone disables a feed at once; this many consecutive 404s do too.
    disable_after_404: Count = 3
    # Silent: nothing new for this many learned gaps (never less than silent_min_s), or for silent_after_s if set.
    silence_gaps: Positive = 4.0
    silent_min_s: NonNegative = 1800.0
    silent_after_s: NonNegative = 0.0
    # A 304 that changes nothing an operator needs is written to the feed-state topic at most this often.
    state_write_interval_s: Positive = 300.0
    # Only a feed's newest entries are read, and remembered as seen, so its state fits in one Kafka message.
    max_items_per_feed: int = Field(10_000, ge=10, le=15_000)
    # Processes that parse fetched feeds, so parsing has cores of its own; 0 parses in a thread of the poller.
    parse_workers: int = Field(2, ge=0, le=64)
    # `newsmon run` with other stages: poll in a child process, so parsing feeds never holds up the other stages'
    # round trips in a shared event loop. Off: every stage in one process (one core).
    own_process: bool = True
    # RSS, Atom and RDF: the fast parser where it is sure to read what feedparser reads, feedparser otherwise (auto);
    # the fast parser wherever it can read the document (fast); or feedparser always, for its exact behaviour.
    parser: Literal["auto", "fast", "feedparser"] = "auto"
    # A body up to this size that the fast parser reads is parsed in the poller itself, on its event loop (a 40 KB
    # feed takes about a millisecond); larger ones, and those left to feedparser, go to the parse workers.
    inline_parse_max_bytes: int = Field(256 * 1024, ge=0)
    # Items whose entry and feed name no language get one detected from their text, if the detector is this sure.
    detect_language: bool = True
    language_min_confidence: float = Field(0.3, ge=0, le=1)


class MetricsSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(9108, ge=0, le=65535)  # 0 disables the Prometheus, health and readiness endpoints
    # How often the process checks that a Kafka broker answers (readiness, kafka.unavailable / kafka.recovered).
    probe_interval_s: float = Field(2.0, gt=0, le=300)
    # How often consuming stages measure their lag (committed offset to high watermark, per partition).
    lag_interval_s: float = Field(5.0, gt=0, le=3600)


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["console", "json"] = "console"
    # A library's message (aiokafka's connection errors above all) repeated within this window is logged once,
    # its next appearance after the window carrying how many were dropped.
    library_repeat_s: NonNegative = 30.0


class ClassifierSettings(_Section):
    model_dir: Path = Path("models")
    model_version: str = ""  # empty: the newest model under model_dir
    batch_size: int = Field(256, ge=1, le=100000)
    group_id: str = "newsmon-classifier"
    # Scoring processes, each with its own copy of the model (about 100 MB); 1 scores in a thread of the stage.
    workers: int = Field(2, ge=1, le=64)
    # A model version the `shadow` stage runs beside the live one: what the live rules would send with its scores.
    shadow_model: str = ""


class AlertSettings(_Section):
    rules_file: Path = Path("config/rules.yaml")
    matcher_group_id: str = "newsmon-alerts"
    delivery_group_id: str = "newsmon-delivery"
    shadow_group_id: str = "newsmon-shadow"
    # A story that matched a rule does not alert for that rule again within this window.
    suppress_window_h: Positive = 720.0
    max_attempts: Count = 10
    # Age (from the first attempt) after which an undeliverable alert is dead-lettered.
    max_age_s: Positive = 1800.0
    backoff_base_s: Positive = 1.0
    backoff_max_s: Positive = 120.0
    retry_after_max_s: Positive = 600.0
    breaker_failures: Count = 5
    breaker_cooldown_s: Positive = 30.0
    max_in_flight: int = Field(10000, ge=1)
    max_digest_items: int = Field(50, ge=2, le=1000)
    # Deliveries recorded this far back are read at start-up so a restart does not repeat them.
    dedupe_lookback_h: NonNegative = 48.0
    drain_timeout_s: Positive = 20.0
    commit_interval_s: Positive = 0.5
    # On stories: later reports of a story that alerted update the alert at most this often (0: at every new outlet).
    update_interval_min: float = Field(15.0, ge=0, le=24 * 60)


class StorySettings(_Section):
    """The story stage: which items report the same event (see consumers/stories/params.py for the rules)."""

    # On: `newsmon run` runs the story stage, and the alert stage reads `news.storied` and alerts once per story;
    # off: the alert stage reads `news.classified` and alerts once per item.
    enabled: bool = False
    group_id: str = "newsmon-stories"
    # Stories with no new member for this long are closed; later reports of the event open a new story.
    window_h: float = Field(72.0, gt=0, le=24 * 30)
    # MinHash permutations: more estimate text similarity better and cost more time and memory per item.
    num_perm: int = Field(64, ge=16, le=512)
    # Members listed in a story's record; later ones are counted but not listed, so a record stays small.
    max_listed_members: int = Field(500, ge=10, le=5000)
    batch_size: int = Field(500, ge=1, le=100000)
    # On: stories are assigned in a process of their own (another core, another interpreter) while the stage's process
    # consumes and produces; off: in the stage's event loop.
    own_process: bool = True


class Settings(BaseSettings):
    """Every setting of the service; nested keys map to NEWSMON_<SECTION>_<KEY> in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="NEWSMON_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        frozen=True,
    )

    kafka: KafkaSettings = KafkaSettings()
    topics: TopicSettings = TopicSettings()
    ingest: IngestSettings = IngestSettings()
    classifier: ClassifierSettings = ClassifierSettings()
    alerts: AlertSettings = AlertSettings()
    stories: StorySettings = StorySettings()
    log: LogSettings = LogSettings()
    metrics: MetricsSettings = MetricsSettings()

    @field_validator("ingest")
    @classmethod
    def _interval_bounds(cls, v: IngestSettings) -> IngestSettings:
        if v.min_interval_s > v.max_interval_s:
            raise ValueError("min_interval_s must not exceed max_interval_s")
        return v

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file, which arrives as init arguments.
        return (env_settings, init_settings)


def read_secret(env: str = "", file: Path | None = None) -> str:
    """A secret from the environment variable `env` (when set and non-empty), else from `file`, else ''."""
    if env and os.environ.get(env, "").strip():
        return os.environ[env].strip()
    if file is not None:
        try:
            return file.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""
        except OSError as exc:
            raise ConfigError(f"cannot read secret file {file}: {exc.strerror}") from exc
    return ""


def _with_env(loc: tuple[Any, ...]) -> str:
    # A bad value may come from the environment rather than the file: name the variable too.
    return f"{config_file.where(loc)} (env NEWSMON_{'_'.join(str(p) for p in loc).upper()})"


def load_settings(path: Path | None = None) -> Settings:
    """Read the settings file (if any) and the environment; raise ConfigError naming the file, line and key."""
    env_path = os.environ.get("NEWSMON_SETTINGS_FILE")
    chosen = path or (Path(env_path) if env_path else DEFAULT_SETTINGS_FILE)
    what = "settings file"
    if chosen.exists() or path is not None or env_path:
        doc = config_file.parse(config_file.read_text(chosen, what), str(chosen), what)
    else:
        what, doc = "settings", config_file.Document("environment", {})
    wording = config_file.Wording(name=_with_env)
    return config_file.validate(doc, Settings, what, build=lambda d: Settings(**d), wording=wording)
