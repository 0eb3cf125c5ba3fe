"""Fetch the Apache Kafka broker jars from Maven Central with Maven, once per version."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

# Kafka 4.x does not bring an SLF4J binding in its POM closure (the release tarball adds it), so we add log4j2's.
_LOG4J_VERSION = "2.24.3"
_DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>newsmon.local</groupId>
  <artifactId>kafka-broker-dist</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
{deps}
  </dependencies>
</project>
"""


class BrokerSetupError(Exception):
    """The local broker cannot be prepared or started (missing tool, download failure, bad state)."""


def _dependencies(kafka_version: str) -> list[tuple[str, str, str]]:
    major = int(kafka_version.split(".", 1)[0])
    deps = [("org.apache.kafka", "kafka_2.13", kafka_version)]
    if major >= 4:
        deps += [
            ("org.apache.logging.log4j", "log4j-slf4j-impl", _LOG4J_VERSION),
            ("org.apache.logging.log4j", "log4j-core", _LOG4J_VERSION),
            ("org.apache.logging.log4j", "log4j-api", _LOG4J_VERSION),
        ]
    else:
        deps += [("org.slf4j", "slf4j-reload4j", "1.7.36"), ("ch.qos.reload4j", "reload4j", "1.2.25")]
    return deps


def java_major_version(java: str = "java") -> int:
    """Return the major version of the Java on PATH, or raise BrokerSetupError if there is none."""
    if shutil.which(java) is None:
        raise BrokerSetupError("Java is not installed (need Java 17 or newer on PATH to run the local broker)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30, check=False)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise BrokerSetupError(f"cannot read the Java version from: {out.stderr.strip()[:200]}")
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_..."
    return int(match.group(2) or 0) if major == 1 else major


def check_java() -> None:
    major = java_major_version()
    if major < 17:
        raise BrokerSetupError(f"Java {major} found, the Kafka broker needs Java 17 or newer")


def ensure_distribution(kafka_version: str, dist_dir: Path) -> Path:
    """Return the folder holding the broker's jars, downloading them with Maven the first time."""
    libs = dist_dir / kafka_version / "libs"
    marker = libs / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise BrokerSetupError(
            "Maven (mvn) is not installed: it is needed once to fetch the Kafka broker jars from Maven Central"
        )
    work = dist_dir / kafka_version
    work.mkdir(parents=True, exist_ok=True)
    deps = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in _dependencies(kafka_version)
    )
    pom = work / "pom.xml"
    pom.write_text(_POM.format(kafka=kafka_version, deps=deps), encoding="utf-8")
    staging = work / "libs.partial"
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        "mvn", "-B", "-q", "-f", str(pom),
        f"{_DEPENDENCY_PLUGIN}:copy-dependencies",
        f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
    ]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BrokerSetupError("Maven did not finish fetching the Kafka jars within 15 minutes") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BrokerSetupError(f"Maven could not fetch Kafka {kafka_version} from Maven Central:\n{tail}")
    jar = staging / f"kafka_2.13-{kafka_version}.jar"
    if not jar.exists():
        raise BrokerSetupError(f"Maven finished but {jar.name} is missing from {staging}")
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    marker.write_text(kafka_version, encoding="utf-8")
    return libs
