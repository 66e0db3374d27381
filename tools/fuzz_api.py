"""Schemathesis against the live API (``make fuzz``; CI runs it after ``make test``).

Serves claimbridge on a free loopback port over a fresh SQLite database holding the sample
encounters' claims and a subscription, then runs schemathesis (its own virtualenv, see the Makefile:
its pins conflict with ours) twice: the admin operations with an admin token, and the intake
operations (``/notifications...``) with the subscription's secret. Checks: no 5xx, status codes,
content types and bodies as the OpenAPI documents them. Bounded: ``--max-examples`` per operation
and a time budget per run. Exit code: schemathesis's (non-zero when it found something).

    python tools/fuzz_api.py --st .venv-fuzz/bin/st [--max-examples 15] [--max-time 25]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADMIN = "fuzz-admin-token-0123456789abcdef"
SECRET = "fuzz-subscription-secret-0123456789"  # noqa: S105 - a throw-away database's
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--st", default=str(ROOT / ".venv-fuzz" / "bin" / "st"))
    parser.add_argument("--max-examples", type=int, default=15)
    parser.add_argument("--max-time", type=int, default=25)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="claimbridge-fuzz-"))
    os.environ.update(
        CLAIMBRIDGE_SETTINGS_FILE=str(ROOT / "tests" / "fixtures" / "settings-test.yaml"),
        CLAIMBRIDGE_ENV="test",
        CLAIMBRIDGE_DATABASE_URL=f"sqlite:///{tmp / 'fuzz.db'}",
        CLAIMBRIDGE_ADAPTERS__OUT_DIR=str(tmp / "out"),
        CLAIMBRIDGE_REFDATA_DIR=str(tmp / "refdata"),
        CLAIMBRIDGE_API__ADMIN_TOKEN=ADMIN,
        CLAIMBRIDGE_SECURITY__THROTTLE_FAILURES="1000000",  # schemathesis sends wrong tokens on purpose
        CLAIMBRIDGE_LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(ROOT))
    from app.cli.demo import BackgroundServer
    from app.services import build_services
    from app.settings import load_settings
    from tests.spine.helpers import notification, register, sample_bundles

    services = build_services(load_settings(config_dir=ROOT / "config"))
    register(services, sub_id="claimbridge-demo", secret=SECRET)
    port = free_port()
    server = BackgroundServer(services, "127.0.0.1", port)
    server.start()
    try:
        import httpx

        headers = {"Authorization": f"Bearer {SECRET}", "Content-Type": "application/fhir+json"}
        for number, bundle in enumerate(sample_bundles(8), start=1):
            httpx.post(f"http://127.0.0.1:{port}/notifications", json=notification(bundle, number), headers=headers)
        services.worker(worker_id="fuzz").drain()
        schema = f"http://127.0.0.1:{port}/openapi.json"
        common = [
            args.st, "run", schema, "--checks", CHECKS, "--max-examples", str(args.max_examples),
            "--max-time", str(args.max_time), "--seed", "17", "--workers", "1", "--generation-allow-x00", "true",
        ]  # fmt: skip
        runs = (("exclude", ADMIN), ("include", SECRET))  # the admin operations, then the intake ones
        codes = [
            subprocess.run(  # noqa: S603 - our own command line
                [*common, "-H", f"Authorization: Bearer {token}", f"--{which}-path-regex", "^/notifications"],
                check=False,
            ).returncode
            for which, token in runs
        ]
        return max(codes)
    finally:
        server.stop()
        services.close()


if __name__ == "__main__":
    sys.exit(main())
