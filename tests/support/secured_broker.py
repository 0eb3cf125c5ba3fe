"""A second test broker that also serves TLS, mutual TLS and SASL (PLAIN, SCRAM) listeners, with throwaway certs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from monitor.broker.local import LocalBroker, free_port
from monitor.settings import KafkaSettings

USER = "alice"
PASSWORD = "wonderland-7Qx"
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
# Listener name -> security protocol; the name is what the broker's per-listener settings are keyed by.
LISTENERS = {
    "SSL": "SSL",
    "MTLS": "SSL",
    "MISNAMED": "SSL",
    "SASL_SSL": "SASL_SSL",
    "SASL_PLAINTEXT": "SASL_PLAINTEXT",
}


@dataclass(frozen=True)
class Pki:
    """A certificate authority and the certificates it signed, as PEM files."""

    ca: Path
    server: Path  # the broker's private key followed by its certificate
    client_cert: Path
    client_key: Path
    other_ca: Path  # a CA that signed nothing this broker presents
    misnamed_server: Path  # key and certificate, signed by `ca`, for a host name that is not this broker's


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def _new_ca(d: Path, name: str) -> tuple[Path, Path]:
    key, cert = d / f"{name}.key", d / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", cert, "-days", "2", "-subj", f"/CN=newsmon test {name}")  # fmt: skip
    return key, cert


def _signed(d: Path, name: str, ca_key: Path, ca: Path, ext: str) -> tuple[Path, Path]:
    key, csr, cert, extfile = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem", d / f"{name}.ext"
    extfile.write_text(ext + "\n")
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
             "-out", csr, "-subj", f"/CN={name}")  # fmt: skip
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-out", cert,
             "-days", "2", "-extfile", extfile)  # fmt: skip
    return key, cert


def make_pki(d: Path) -> Pki:
    """A fresh CA, a server certificate for localhost/127.0.0.1, a client certificate, and an unrelated CA."""
    ca_key, ca = _new_ca(d, "ca")
    server_key, server_cert = _signed(d, "server", ca_key, ca, "subjectAltName=DNS:localhost,IP:127.0.0.1")
    client_key, client_cert = _signed(d, "client", ca_key, ca, "extendedKeyUsage=clientAuth")
    _, other_ca = _new_ca(d, "other-ca")
    misnamed_key, misnamed_cert = _signed(d, "misnamed", ca_key, ca, "subjectAltName=DNS:kafka.invalid")
    server, misnamed = d / "server-keystore.pem", d / "misnamed-keystore.pem"
    server.write_text(server_key.read_text() + server_cert.read_text())
    misnamed.write_text(misnamed_key.read_text() + misnamed_cert.read_text())
    return Pki(ca, server, client_cert, client_key, other_ca, misnamed)


class SecuredBroker(LocalBroker):
    """The project's broker plus SSL, MTLS (client certificate required), MISNAMED (certificate for another host),
    SASL_SSL and SASL_PLAINTEXT listeners."""

    def __init__(self, settings: KafkaSettings, data_dir: Path, pki: Pki) -> None:
        super().__init__(settings, data_dir)
        self.pki = pki
        self.ports = {name: free_port(self.host) for name in LISTENERS}

    def bootstrap_of(self, listener: str) -> str:
        return f"{self.host}:{self.ports[listener]}"

    def _server_properties(self) -> str:
        props = dict(line.split("=", 1) for line in super()._server_properties().splitlines())
        extra = ",".join(f"{name}://{self.bootstrap_of(name)}" for name in LISTENERS)
        props["listeners"] += "," + extra
        props["advertised.listeners"] += "," + extra
        props["listener.security.protocol.map"] += "," + ",".join(f"{n}:{p}" for n, p in LISTENERS.items())
        props.update(self._tls_properties())
        props.update(self._sasl_properties())
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _tls_properties(self) -> dict[str, str]:
        return {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.pki.server),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.pki.ca),
            "listener.name.mtls.ssl.client.auth": "required",
            "listener.name.misnamed.ssl.keystore.type": "PEM",
            "listener.name.misnamed.ssl.keystore.location": str(self.pki.misnamed_server),
        }

    def _sasl_properties(self) -> dict[str, str]:
        scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        plain = f'org.apache.kafka.common.security.plain.PlainLoginModule required user_{USER}="{PASSWORD}";'
        props = {"sasl.enabled.mechanisms": "PLAIN," + ",".join(SCRAM_MECHANISMS)}
        for listener in ("sasl_ssl", "sasl_plaintext"):
            props[f"listener.name.{listener}.plain.sasl.jaas.config"] = plain
            for mech in SCRAM_MECHANISMS:
                props[f"listener.name.{listener}.{mech.lower()}.sasl.jaas.config"] = scram
        return props

    def _java_cmd(self, libs: Path, main: list[str]) -> list[str]:
        if main[:2] == ["kafka.tools.StorageTool", "format"]:
            # SCRAM credentials live in the cluster metadata; Kafka's storage tool writes them when formatting.
            for mech in SCRAM_MECHANISMS:
                main = [*main, "--add-scram", f"{mech}=[name={USER},password={PASSWORD}]"]
        return super()._java_cmd(libs, main)
