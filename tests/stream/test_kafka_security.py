"""An external cluster over TLS and SASL: clients, topic creation and refusals, against real secured listeners."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from monitor.broker.local import free_port
from monitor.messages import RawItem
from monitor.settings import ConfigError, KafkaSettings, load_settings
from monitor.stream.clients import KafkaAccessError, make_consumer
from monitor.topics import TopicSpec, ensure_topics
from tests.support.kafka import produce_one
from tests.support.secured_broker import PASSWORD, USER, Pki, SecuredBroker, make_pki

REPO = Path(__file__).resolve().parents[2]
PASSWORD_ENV = "NEWSMON_TEST_KAFKA_PASSWORD"


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    """One broker for the module with PLAINTEXT, SSL, MTLS, SASL_SSL and SASL_PLAINTEXT listeners."""
    pki = make_pki(tmp_path_factory.mktemp("pki"))
    ks = KafkaSettings(port=free_port(), controller_port=free_port(), dist_dir=REPO / ".cache" / "kafka")
    b = SecuredBroker(ks, tmp_path_factory.mktemp("kafka-secured"), pki)
    b.start()
    try:
        asyncio.run(b.wait_ready())
        yield b
    finally:
        b.stop()


def _settings(b: SecuredBroker, listener: str, **kw: Any) -> KafkaSettings:
    return KafkaSettings(bootstrap=b.bootstrap_of(listener), request_timeout_ms=10000, **kw)


def _sasl(b: SecuredBroker, listener: str, mechanism: str, **kw: Any) -> KafkaSettings:
    tls = {"ssl_cafile": b.pki.ca} if listener == "SASL_SSL" else {}
    return _settings(b, listener, security_protocol=listener, sasl_mechanism=mechanism, sasl_username=USER,
                     sasl_password_env=PASSWORD_ENV, **tls, **kw)  # fmt: skip


async def _round_trip(ks: KafkaSettings, group_id: str | None = None) -> None:
    """Create a topic, produce one record and read it back (committing it in `group_id`), all with clients of `ks`."""
    topic = f"t{uuid.uuid4().hex[:10]}.secured"
    assert await ensure_topics(ks, [TopicSpec(topic, RawItem, 1)], 1) == [topic]
    body = uuid.uuid4().bytes
    await produce_one(ks, topic, body)
    consumer = make_consumer(ks, topic, group_id=group_id)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 20)
        if group_id is not None:
            await consumer.commit()
    finally:
        await consumer.stop()
    assert record.value == body


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)


async def test_tls_round_trip_verifies_the_ca(secured: SecuredBroker) -> None:
    await asyncio.wait_for(_round_trip(_settings(secured, "SSL", security_protocol="SSL", ssl_cafile=secured.pki.ca)),
                           60)  # fmt: skip


async def test_mutual_tls_round_trip_with_a_client_certificate(secured: SecuredBroker) -> None:
    p = secured.pki
    ks = _settings(secured, "MTLS", security_protocol="SSL", ssl_cafile=p.ca, ssl_certfile=p.client_cert,
                   ssl_keyfile=p.client_key)  # fmt: skip
    await asyncio.wait_for(_round_trip(ks), 60)


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_scram_over_tls_round_trip(secured: SecuredBroker, password_env: None, mechanism: str) -> None:
    # A consumer group too: the group coordinator is reached over the same secured listener.
    await asyncio.wait_for(_round_trip(_sasl(secured, "SASL_SSL", mechanism), f"g{uuid.uuid4().hex[:8]}"), 60)


async def test_sasl_plain_round_trip_with_the_password_in_a_file(secured: SecuredBroker, tmp_path: Path) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text(PASSWORD + "\n")
    ks = _settings(secured, "SASL_PLAINTEXT", security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                   sasl_username=USER, sasl_password_file=secret)  # fmt: skip
    await asyncio.wait_for(_round_trip(ks), 60)


async def test_wrong_password_is_a_refusal_naming_the_user_not_the_password(
    secured: SecuredBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    ks = _sasl(secured, "SASL_SSL", "SCRAM-SHA-256")
    with pytest.raises(KafkaAccessError) as caught:
        await asyncio.wait_for(ensure_topics(ks, [TopicSpec("never.created", RawItem, 1)], 1), 30)
    message = str(caught.value)
    assert "SCRAM-SHA-256" in message and repr(USER) in message and "authentication" in message.lower()
    assert "not-the-password" not in message
    assert isinstance(caught.value, ConfigError)  # permanent: the process stops with exit code 2


async def test_tail_with_a_wrong_password_is_a_refusal(secured: SecuredBroker, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.settings import Settings
    from monitor.shell.tail import tail

    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    settings = Settings(kafka=_sasl(secured, "SASL_PLAINTEXT", "SCRAM-SHA-256"))
    with pytest.raises(KafkaAccessError, match="SCRAM-SHA-256 authentication as 'alice' was refused"):
        await asyncio.wait_for(tail(settings, ["news.raw"], asyncio.Event(), limit=1), 30)


async def test_broker_certificate_from_another_ca_is_a_refusal(secured: SecuredBroker) -> None:
    ks = _settings(secured, "SSL", security_protocol="SSL", ssl_cafile=secured.pki.other_ca)
    with pytest.raises(KafkaAccessError, match=r"not trusted.*kafka\.ssl_cafile"):
        await asyncio.wait_for(ensure_topics(ks, [TopicSpec("never.created", RawItem, 1)], 1), 30)


async def test_certificate_for_another_host_name_is_a_refusal_unless_host_checks_are_off(
    secured: SecuredBroker,
) -> None:
    ks = _settings(secured, "MISNAMED", security_protocol="SSL", ssl_cafile=secured.pki.ca)
    with pytest.raises(KafkaAccessError, match=r"not trusted.*mismatch"):
        await asyncio.wait_for(ensure_topics(ks, [TopicSpec("never.created", RawItem, 1)], 1), 30)
    # The CA is still verified with host checks off; only the name in the certificate is not compared.
    await asyncio.wait_for(_round_trip(ks.model_copy(update={"ssl_check_hostname": False})), 60)


async def test_tls_client_on_a_plaintext_port_is_a_refusal_naming_the_protocol(secured: SecuredBroker) -> None:
    ks = KafkaSettings(bootstrap=secured.bootstrap, security_protocol="SSL", ssl_cafile=secured.pki.ca,
                       request_timeout_ms=10000)  # fmt: skip
    with pytest.raises(KafkaAccessError, match=r"TLS handshake.*kafka\.security_protocol"):
        await asyncio.wait_for(ensure_topics(ks, [TopicSpec("never.created", RawItem, 1)], 1), 30)


async def test_mutual_tls_without_a_client_certificate_is_a_refusal(secured: SecuredBroker) -> None:
    ks = _settings(secured, "MTLS", security_protocol="SSL", ssl_cafile=secured.pki.ca)
    with pytest.raises(KafkaAccessError, match="TLS"):
        await asyncio.wait_for(ensure_topics(ks, [TopicSpec("never.created", RawItem, 1)], 1), 30)


def _newsmon(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    full_env.update(env)
    return subprocess.run([sys.executable, "-m", "monitor", *args], capture_output=True, text=True, env=full_env,
                          cwd=REPO, timeout=90, check=False)  # fmt: skip


def test_cli_with_a_wrong_password_exits_2_with_the_refusal(secured: SecuredBroker, tmp_path: Path) -> None:
    env = {
        "NEWSMON_KAFKA_BOOTSTRAP": secured.bootstrap_of("SASL_SSL"),
        "NEWSMON_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "NEWSMON_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "NEWSMON_KAFKA_SASL_USERNAME": USER,
        "NEWSMON_KAFKA_SASL_PASSWORD_ENV": "KAFKA_PASSWORD",
        "KAFKA_PASSWORD": "hunter2-wrong",
        "NEWSMON_KAFKA_SSL_CAFILE": str(secured.pki.ca),
        "NEWSMON_TOPICS_RAW": f"t{uuid.uuid4().hex[:10]}.raw",
    }
    proc = _newsmon("topics", "--create", env=env)
    assert proc.returncode == 2, proc.stderr
    assert "SCRAM-SHA-512" in proc.stderr and "alice" in proc.stderr and "Traceback" not in proc.stderr
    assert "hunter2-wrong" not in proc.stdout + proc.stderr


# Settings: every bad combination stops start-up naming the key, before any connection is tried.


def _write_pem_pki(tmp_path: Path) -> Pki:
    d = tmp_path / "pki"
    d.mkdir()
    return make_pki(d)


def _bad(tmp_path: Path, yaml_kafka: str) -> str:
    path = tmp_path / "settings.yaml"
    path.write_text("kafka:\n" + yaml_kafka)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return str(caught.value)


EXTERNAL = "  bootstrap: kafka.example:9093\n"


@pytest.mark.parametrize(
    ("yaml_kafka", "key", "reason"),
    [
        (EXTERNAL + "  security_protocol: SASL_SSL\n", "kafka.sasl_mechanism", "required"),
        (EXTERNAL + "  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-256\n", "kafka.sasl_username",
         "required"),
        (EXTERNAL + "  security_protocol: SASL_PLAINTEXT\n  sasl_mechanism: PLAIN\n  sasl_username: u\n",
         "kafka.sasl_password_env", "password"),
        (EXTERNAL + "  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-256\n  sasl_username: u\n"
         "  sasl_password_file: /nonexistent/kafka-password\n", "kafka.sasl_password_env", "password"),
        (EXTERNAL + "  sasl_mechanism: PLAIN\n", "kafka.sasl_mechanism", "only with security_protocol"),
        (EXTERNAL + "  security_protocol: SASL_SSL\n  sasl_mechanism: GSSAPI\n", "kafka.sasl_mechanism",
         "SCRAM-SHA-512"),
        (EXTERNAL + "  security_protocol: TLS\n", "kafka.security_protocol", "SASL_SSL"),
        (EXTERNAL + "  security_protocol: SSL\n  ssl_cafile: /nonexistent/ca.pem\n", "kafka.ssl_cafile",
         "does not exist"),
        (EXTERNAL + "  ssl_cafile: /etc/hostname\n", "kafka.ssl_cafile", "SSL or SASL_SSL"),
        (EXTERNAL + "  security_protocol: SSL\n  ssl_keyfile: /etc/hostname\n", "kafka.ssl_keyfile",
         "ssl_certfile"),
        ("  security_protocol: SSL\n", "kafka.security_protocol", "local broker"),
    ],
)  # fmt: skip
def test_bad_security_settings_name_the_key(tmp_path: Path, yaml_kafka: str, key: str, reason: str) -> None:
    message = _bad(tmp_path, yaml_kafka)
    assert key in message and reason in message, message


def test_a_ca_file_that_is_not_a_certificate_is_a_config_error(tmp_path: Path) -> None:
    junk = tmp_path / "ca.pem"
    junk.write_text("not a certificate\n")
    message = _bad(tmp_path, EXTERNAL + f"  security_protocol: SSL\n  ssl_cafile: {junk}\n")
    assert "kafka.ssl_cafile" in message and "certificate" in message


def test_client_key_not_matching_the_certificate_is_a_config_error(tmp_path: Path) -> None:
    p = _write_pem_pki(tmp_path)
    other_key = tmp_path / "pki" / "server.key"
    message = _bad(tmp_path, EXTERNAL + f"  security_protocol: SSL\n  ssl_certfile: {p.client_cert}\n"
                                        f"  ssl_keyfile: {other_key}\n")  # fmt: skip
    assert "kafka.ssl_keyfile" in message, message


def test_password_comes_from_the_named_variable_and_is_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KAFKA_PASSWORD", "s3cret-value")
    path = tmp_path / "settings.yaml"
    path.write_text("kafka:\n" + EXTERNAL + "  security_protocol: SASL_SSL\n  sasl_mechanism: SCRAM-SHA-256\n"
                    "  sasl_username: u\n  sasl_password_env: KAFKA_PASSWORD\n")  # fmt: skip
    s = load_settings(path)
    assert s.kafka.sasl_password() == "s3cret-value"
    assert "s3cret-value" not in repr(s) and "s3cret-value" not in str(s.model_dump())


def test_bad_security_setting_from_the_environment_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_KAFKA_BOOTSTRAP", "kafka.example:9093")
    monkeypatch.setenv("NEWSMON_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError, match="NEWSMON_KAFKA_SASL_MECHANISM"):
        load_settings(REPO / "config" / "settings.yaml")


def test_password_variable_wins_over_the_file_which_serves_when_it_is_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "kafka-password"
    secret.write_text("from-the-file\n")
    monkeypatch.delenv("KAFKA_PASSWORD", raising=False)
    ks = KafkaSettings(bootstrap="kafka.example:9093", security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                       sasl_username="u", sasl_password_env="KAFKA_PASSWORD", sasl_password_file=secret)  # fmt: skip
    assert ks.sasl_password() == "from-the-file"
    monkeypatch.setenv("KAFKA_PASSWORD", "from-the-variable")
    assert ks.sasl_password() == "from-the-variable"


def test_empty_file_settings_from_the_environment_mean_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compose files pass optional values as `${VAR:-}`, i.e. empty strings.
    for key, value in {"BOOTSTRAP": "kafka.example:9093", "SECURITY_PROTOCOL": "SASL_SSL", "SASL_MECHANISM": "PLAIN",
                       "SASL_USERNAME": "u", "SASL_PASSWORD_ENV": "KAFKA_PASSWORD", "SASL_PASSWORD_FILE": "",
                       "SSL_CAFILE": ""}.items():  # fmt: skip
        monkeypatch.setenv(f"NEWSMON_KAFKA_{key}", value)
    monkeypatch.setenv("KAFKA_PASSWORD", "pw")
    k = load_settings(REPO / "config" / "settings.yaml").kafka
    assert k.sasl_password_file is None and k.ssl_cafile is None and k.sasl_password() == "pw"
