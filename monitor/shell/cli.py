"""The `newsmon` command line: run the service, manage the local broker, inspect topics."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from monitor.broker import BrokerSetupError, LocalBroker
from monitor.ingest.feeds import load_feeds
from monitor.logging import configure_logging
from monitor.settings import ConfigError, Settings, load_settings

EXIT_CONFIG = 2


class _Ctx:
    def __init__(self, settings_path: Path | None) -> None:
        self.settings_path = settings_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.settings_path)
            configure_logging(self._settings.log)
        return self._settings


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--settings", "settings_path", type=click.Path(path_type=Path), default=None,
              help="Settings file (default: $NEWSMON_SETTINGS_FILE or config/settings.yaml).")  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, settings_path: Path | None) -> None:
    """newsmon: streaming news monitor for cross-border incidents and elections."""
    ctx.obj = _Ctx(settings_path)


@cli.command()
@click.option("--demo", is_flag=True, help="Poll bundled sample feeds from a local HTTP server and print items.")
@click.option("--feeds", "feeds_path", type=click.Path(path_type=Path), default=None,
              help="Feed list (default: ingest.feeds_file).")  # fmt: skip
@click.option("--stage", "stages", multiple=True, help="Run only this stage (repeatable); default: all.")
@click.pass_obj
def run(obj: _Ctx, demo: bool, feeds_path: Path | None, stages: tuple[str, ...]) -> None:
    """Run the service's stages until Ctrl-C or SIGTERM."""
    from monitor.shell.runner import run_main

    settings = obj.settings
    needs_feeds = not demo and (not stages or "ingest" in stages)
    feeds = load_feeds(feeds_path or settings.ingest.feeds_file) if needs_feeds else []
    asyncio.run(run_main(settings, feeds, demo=demo, only=list(stages) or None))


@cli.group()
def broker() -> None:
    """The local single-node Kafka broker (skipped when kafka.bootstrap names a cluster)."""


def _local_broker(obj: _Ctx) -> LocalBroker:
    s = obj.settings
    if not s.kafka.local:
        raise click.ClickException(
            f"kafka.bootstrap is set to {s.kafka.bootstrap}: an external cluster is used, no local broker to manage"
        )
    return LocalBroker(s.kafka)


@broker.command("up")
@click.pass_obj
def broker_up(obj: _Ctx) -> None:
    """Fetch the jars if needed, then start the broker in the background and wait until it is ready."""
    b = _local_broker(obj)
    with b.decision_lock():
        pid = b.find_pid()
        if pid is None:
            b.start()
        else:
            # Adopted: a broker some `newsmon run` started (or an orphan) now runs until `broker down`.
            b.adopt(pid)
    asyncio.run(b.wait_ready())
    if pid is not None:
        click.echo(f"local broker already running on {b.bootstrap} (pid {pid}); it now runs until `broker down`")
        return
    click.echo(f"local broker ready on {b.bootstrap} (pid {b.status().pid}, data in {b.data_dir})")


@broker.command("fetch")
@click.pass_obj
def broker_fetch(obj: _Ctx) -> None:
    """Download the broker jars from Maven Central (once per Kafka version) without starting anything."""
    from monitor.broker import ensure_distribution
    from monitor.broker.distribution import check_java

    s = obj.settings
    check_java()
    libs = ensure_distribution(s.kafka.version, s.kafka.dist_dir.resolve())
    click.echo(f"Kafka {s.kafka.version}: {len(list(libs.glob('*.jar')))} jars in {libs}")


@broker.command("down")
@click.pass_obj
def broker_down(obj: _Ctx) -> None:
    """Stop the background broker."""
    b = _local_broker(obj)
    with b.decision_lock():
        stopped = b.stop()
    click.echo("local broker stopped" if stopped else "no local broker was running")


@broker.command("status")
@click.pass_obj
def broker_status(obj: _Ctx) -> None:
    """Say whether the broker runs and answers; exit 1 if it does not."""
    st = _local_broker(obj).status()
    click.echo(json.dumps({"running": st.running, "pid": st.pid, "bootstrap": st.bootstrap,
                           "reachable": st.reachable}))  # fmt: skip
    sys.exit(0 if st.running and st.reachable else 1)


@cli.command()
@click.argument("topics", nargs=-1)
@click.option("--from-beginning", is_flag=True, help="Start at the oldest retained message.")
@click.option("--limit", type=int, default=None, help="Stop after this many messages.")
@click.pass_obj
def tail(obj: _Ctx, topics: tuple[str, ...], from_beginning: bool, limit: int | None) -> None:
    """Print messages as they land (default topic: news.raw)."""
    from monitor.shell.tail import tail as run_tail

    s = obj.settings

    async def main() -> None:
        stop = asyncio.Event()
        from monitor.signals import install_signal_handlers

        install_signal_handlers(stop)
        await run_tail(s, list(topics) or [s.topics.raw], stop, from_beginning=from_beginning, limit=limit)

    asyncio.run(main())


@cli.command("topics")
@click.option("--create", is_flag=True, help="Create the topics that are missing.")
@click.pass_obj
def topics_cmd(obj: _Ctx, create: bool) -> None:
    """List newsmon's topics with their layout (and create missing ones with --create)."""
    from monitor.topics import ensure_topics, topic_specs

    s = obj.settings
    specs = topic_specs(s.topics)
    for spec in specs:
        click.echo(f"{spec.name:24} partitions={spec.partitions} {spec.config} message={spec.message.__name__}")
    if create:
        created = asyncio.run(ensure_topics(s.kafka, specs, s.topics.replication_factor))
        click.echo(f"created: {', '.join(created) or 'none (all exist)'}")


def _register_plugins() -> None:
    from classifiers.commands import classify, evaluate_cmd, train
    from consumers.alert.commands import rules_group
    from consumers.deliver.commands import dlq_group
    from consumers.replay.commands import export_cmd, replay
    from consumers.stories.commands import stories_group
    from monitor.ingest.commands import feeds_group

    commands = (classify, train, evaluate_cmd, rules_group, dlq_group, feeds_group, replay, export_cmd, stories_group)
    for command in commands:
        cli.add_command(command)


_register_plugins()


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="newsmon", standalone_mode=False)
    except ConfigError as exc:
        click.echo(f"newsmon: configuration error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    except BrokerSetupError as exc:
        click.echo(f"newsmon: local broker: {exc}", err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
