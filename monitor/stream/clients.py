"""Kafka clients configured the one way newsmon uses them, with the cluster's TLS and SASL settings."""

from __future__ import annotations

import asyncio
import ssl
from typing import Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.helpers import create_ssl_context

from monitor.settings import ConfigError, KafkaSettings

_SASL_REFUSALS = (
    SaslAuthenticationFailed,
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    UnsupportedSaslMechanismError,
    IllegalSaslStateError,
)
# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_NAME_MISMATCH = (62, 64)


class KafkaAccessError(ConfigError):
    """The cluster refused this client's TLS handshake or SASL login: permanent until the settings change."""


class _Startable(Protocol):
    async def start(self) -> None: ...


def _ssl_context(k: KafkaSettings) -> ssl.SSLContext:
    """A context that verifies the broker against `ssl_cafile` (else the system CAs) and, by default, its name."""
    context = create_ssl_context(cafile=k.ssl_cafile, certfile=k.ssl_certfile, keyfile=k.ssl_keyfile)
    context.check_hostname = k.ssl_check_hostname
    return context


def security_options(k: KafkaSettings) -> dict[str, object]:
    """The keyword arguments every aiokafka client and connection gets for TLS and SASL."""
    opts: dict[str, object] = {"security_protocol": k.security_protocol}
    if k.uses_tls:
        opts["ssl_context"] = _ssl_context(k)
    if k.uses_sasl:
        opts.update(sasl_mechanism=k.sasl_mechanism, sasl_plain_username=k.sasl_username,
                    sasl_plain_password=k.sasl_password())  # fmt: skip
    return opts


def _common(k: KafkaSettings) -> dict[str, object]:
    return {
        "bootstrap_servers": k.bootstrap_servers,
        "client_id": k.client_id,
        "request_timeout_ms": k.request_timeout_ms,
        **security_options(k),
    }


def make_producer(k: KafkaSettings, **overrides: object) -> AIOKafkaProducer:
    """An idempotent producer that waits for all in-sync replicas, so an acknowledged item is not lost."""
    opts: dict[str, object] = {
        **_common(k),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "compression_type": None if k.compression == "none" else k.compression,
    }
    opts.update(overrides)
    return AIOKafkaProducer(**opts)


def make_consumer(k: KafkaSettings, *topics: str, group_id: str | None, **overrides: object) -> AIOKafkaConsumer:
    """A consumer that commits explicitly (only work that is done) and starts from the oldest retained record."""
    opts: dict[str, object] = {
        **_common(k),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": int(k.session_timeout_s * 1000),
        "heartbeat_interval_ms": int(k.session_timeout_s * 1000) // 3,
    }
    opts.update(overrides)
    return AIOKafkaConsumer(*topics, **opts)


def make_admin(k: KafkaSettings, **overrides: object) -> AIOKafkaAdminClient:
    """An admin client (topics, metadata) with the same connection settings as the producers and consumers."""
    opts: dict[str, object] = {**_common(k), "client_id": f"{k.client_id}-admin"}
    opts.update(overrides)
    return AIOKafkaAdminClient(**opts)


def _refusal(k: KafkaSettings, where: str, exc: BaseException) -> KafkaAccessError | None:
    """The access error `exc` stands for, or None when it is not a refusal (the cluster is merely unreachable)."""
    if isinstance(exc, _SASL_REFUSALS):
        return KafkaAccessError(
            f"SASL {k.sasl_mechanism} authentication as {k.sasl_username!r} was refused by {where}: {exc}; "
            "check kafka.sasl_username and the password (kafka.sasl_password_env / kafka.sasl_password_file)"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        hint = "kafka.ssl_cafile"
        if exc.verify_code in _NAME_MISMATCH:
            hint = "that kafka.bootstrap names a host the certificate is for, or set kafka.ssl_check_hostname: false"
        return KafkaAccessError(f"TLS: the certificate of {where} is not trusted ({exc.verify_message}); check {hint}")
    if isinstance(exc, ssl.SSLError):
        return KafkaAccessError(
            f"TLS handshake with {where} failed ({exc.reason or exc}); check kafka.security_protocol and, if the "
            "cluster requires a client certificate, kafka.ssl_certfile / kafka.ssl_keyfile"
        )
    return None


async def _tls_refusal(k: KafkaSettings, host: str, port: int) -> KafkaAccessError | None:
    """Complete a TLS handshake and wait briefly for the server's verdict on it; its refusal, if any."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=_ssl_context(k)), min(k.request_timeout_ms / 1000, 10.0)
        )
    except ConnectionResetError:
        # The port accepted the connection, then hung up on the TLS greeting: it does not speak TLS.
        return KafkaAccessError(
            f"{host}:{port} hung up during the TLS handshake, so it is not a TLS listener; check "
            "kafka.security_protocol and the port in kafka.bootstrap"
        )
    except (OSError, TimeoutError) as exc:
        return _refusal(k, f"{host}:{port}", exc)
    try:
        # Under TLS 1.3 a server that wants a client certificate says so only after the client's handshake ends.
        await asyncio.wait_for(reader.read(1), 1.0)
    except (OSError, TimeoutError) as exc:
        return _refusal(k, f"{host}:{port}", exc)
    finally:
        writer.close()
    return None


async def _connect_refusal(k: KafkaSettings, host: str, port: int) -> KafkaAccessError | None:
    """Open one connection as the clients do (TLS, version lookup, SASL login); its refusal, if any."""
    try:
        conn = await create_conn(host, port, request_timeout_ms=k.request_timeout_ms, **security_options(k))
    except (OSError, KafkaError, TimeoutError) as exc:
        return _refusal(k, f"{host}:{port}", exc)
    conn.close()
    return None


async def explain_refusal(k: KafkaSettings) -> KafkaAccessError | None:
    """Connect once to each bootstrap server; the first TLS or SASL refusal met, None if none refused access."""
    for host, port, _ in collect_hosts(k.bootstrap_servers):
        refused = await _tls_refusal(k, host, port) if k.uses_tls else None
        refused = refused or await _connect_refusal(k, host, port)
        if refused is not None:
            return refused
    return None


async def start_client(client: _Startable, k: KafkaSettings) -> None:
    """Start an aiokafka client; when bootstrapping fails because the cluster refused access, say so."""
    try:
        await client.start()
    except KafkaConnectionError as exc:
        # aiokafka reports every bootstrap failure alike; the refusal (a settings problem) is told apart here.
        refused = await explain_refusal(k)
        if refused is None:
            raise
        raise refused from exc
