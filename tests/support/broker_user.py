"""A process that uses the local broker exactly as `newsmon run` does, so tests can run several side by side.

Usage: python -m tests.support.broker_user SETTINGS_FILE READY_FILE. The ready file gets the metadata probe's
answer once the broker is usable; the process then holds on until SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from monitor.broker.local import probe_metadata
from monitor.settings import load_settings
from monitor.shell.service import local_broker
from monitor.signals import install_signal_handlers


async def main(settings_file: Path, ready_file: Path) -> None:
    settings = load_settings(settings_file)
    stop = asyncio.Event()
    install_signal_handlers(stop)
    async with local_broker(settings):
        reachable = await probe_metadata(settings.kafka.bootstrap_servers)
        await asyncio.to_thread(ready_file.write_text, json.dumps({"reachable": reachable}))
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
