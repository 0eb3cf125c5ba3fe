"""Run every benchmark one after another (never side by side: they would share the two cores) and print their figures.

Run: .venv/bin/python -m bench.run_all [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import REPO

BENCHES = ("bench.classifier", "bench.alerts", "bench.ingest", "bench.replay", "bench.stories", "bench.e2e")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="pass --quick to the benchmarks that have it")
    args = ap.parse_args()
    failed = []
    for module in BENCHES:
        if not (REPO / (module.replace(".", "/") + ".py")).exists():
            print(f"== {module}: not present, skipped", flush=True)
            continue
        cmd = [sys.executable, "-m", module]
        if (
            args.quick
            and "--quick" in subprocess.run([*cmd, "--help"], capture_output=True, text=True, cwd=REPO).stdout
        ):
            cmd.append("--quick")
        print(f"== {module}", flush=True)
        started = time.monotonic()
        rc = subprocess.run(cmd, cwd=REPO, check=False).returncode
        print(f"== {module}: exit {rc} after {time.monotonic() - started:.0f} s", flush=True)
        if rc:
            failed.append(module)
    if failed:
        sys.exit(f"benchmarks failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
