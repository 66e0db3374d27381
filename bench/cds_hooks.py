"""CDS Hooks ``order-sign`` with prefetch at a steady rate: p50/p99, and throughput at saturation.

``claimbridge serve --no-worker`` on SQLite with one registered CDS client; every request carries a
fresh CDS Hooks JWT (ES384 by default, verified against the registered JWKS, ``jti`` stored) and a
prefetch (Patient, Coverage with its payer Organization, authorizations), with 3 and then 10 draft
ServiceRequests (half on the payer's prior-auth list). Target: p99 ≤ 50 ms at 100 requests/s.
The default run is short (5 s per case); ``--seconds 30`` is the issue's full run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import print_result
from loadgen import build_request, closed_loop, open_loop

ROOT = Path(__file__).resolve().parents[1]
ISS = "https://bench-ehr.example"
PATH = "/cds-services/order-sign-crd"
CODES = ("72148", "99213", "70553", "80053", "20610", "93000")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hook_request(orders: int, n: int) -> dict[str, Any]:
    patient = f"p{n}"
    drafts = [
        {
            "resourceType": "ServiceRequest",
            "id": f"sr{n}-{i}",
            "status": "draft",
            "intent": "order",
            "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": CODES[i % len(CODES)]}]},
            "subject": {"reference": f"Patient/{patient}"},
            "requester": {"reference": "Practitioner/dr1"},
        }
        for i in range(orders)
    ]
    org = {
        "resourceType": "Organization",
        "id": "buckeye",
        "identifier": [{"system": "urn:claimbridge:payer-id", "value": "60054"}],
    }
    cov = {
        "resourceType": "Coverage",
        "id": f"cov{n}",
        "status": "active",
        "beneficiary": {"reference": f"Patient/{patient}"},
        "payor": [{"reference": "Organization/buckeye"}],
    }
    return {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": "https://ehr.example/fhir",
        "fhirAuthorization": {
            "access_token": "t",
            "token_type": "Bearer",
            "expires_in": 30,
            "scope": "user/*.rs",
            "subject": "claimbridge",
        },
        "context": {
            "userId": "Practitioner/dr1",
            "patientId": patient,
            "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": d} for d in drafts]},
        },
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": patient},
            "coverage": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": cov}, {"resource": org}],
            },
            "authorizations": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        },
    }


def start(tmp: Path, jwks: dict[str, Any]) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "CLAIMBRIDGE_DATABASE_URL": f"sqlite:///{tmp / 'cds.db'}",
        "CLAIMBRIDGE_LOG_LEVEL": "WARNING",
        "CLAIMBRIDGE_API__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    (tmp / "jwks.json").write_text(json.dumps(jwks))
    cli = [sys.executable, "-m", "app.cli"]
    subprocess.run(
        [*cli, "cds-clients", "add", "--iss", ISS, "--jwks", str(tmp / "jwks.json")],
        env=env,
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    proc = subprocess.Popen([*cli, "serve", "--no-worker", "--port", str(port)], env=env, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc, port
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("claimbridge serve did not become ready")


def requests(key: Any, alg: str, port: int, orders: int, count: int, offset: int) -> list[bytes]:
    out = []
    for n in range(offset, offset + count):
        now = int(time.time())
        claims = {
            "iss": ISS,
            "aud": f"http://127.0.0.1:{port}{PATH}",
            "iat": now,
            "exp": now + 600,
            "jti": uuid.uuid4().hex,
        }
        token = jwt.encode({"alg": alg, "typ": "JWT", "kid": "bench"}, claims, key, algorithms=[alg])
        body = json.dumps(hook_request(orders, n)).encode()
        out.append(build_request(PATH, body, {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="steady-rate duration per case (issue: 30)")
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--saturation", type=int, default=600, help="requests for the closed-loop throughput")
    parser.add_argument("--alg", choices=("ES384", "RS384"), default="ES384")
    args = parser.parse_args()
    key = ECKey.generate_key("P-384", private=True) if args.alg == "ES384" else RSAKey.generate_key(2048, private=True)
    jwks = {"keys": [{**key.as_dict(private=False), "kid": "bench", "alg": args.alg, "use": "sig"}]}
    figures: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as d:
        proc, port = start(Path(d), jwks)
        try:
            offset = 0
            for orders in (3, 10):
                paced_n, warm_n = int(args.rate * args.seconds), 100
                batch = requests(key, args.alg, port, orders, warm_n + paced_n + args.saturation, offset)
                offset += len(batch)
                warm = asyncio.run(closed_loop(port, batch[:warm_n], connections=4))
                paced = asyncio.run(open_loop(port, batch[warm_n : warm_n + paced_n], rate=args.rate, connections=32))
                burst = asyncio.run(closed_loop(port, batch[warm_n + paced_n :], connections=8))
                figures[orders] = {
                    "p50": paced.percentile(50) * 1000,
                    "p99": paced.percentile(99) * 1000,
                    "errors": warm.errors + paced.errors + burst.errors,
                    "saturation": burst.rate,
                }
                f = figures[orders]
                print(
                    f"{orders:2d} orders: p50 {f['p50']:.1f} ms  p99 {f['p99']:.1f} ms at {args.rate:.0f}/s for "
                    f"{args.seconds:.0f} s; saturation {f['saturation']:.0f}/s; errors {f['errors']:.0f} ({args.alg})"
                )
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    worst = max(f["p99"] for f in figures.values())
    errors = sum(f["errors"] for f in figures.values())
    ratio = figures[10]["p99"] / figures[3]["p99"] if figures[3]["p99"] else None
    # the machine may be shared: the 3-order case of the same run is the floor the 10-order one is read against
    print(f"10 / 3 orders p99 ratio {ratio:.2f} (same run; load average {os.getloadavg()[0]:.1f})" if ratio else "")
    print_result(
        bench="cds_hooks",
        metric="order_sign_p99_at_rate",
        value=worst,
        unit="ms",
        floor=figures[3]["p99"],
        ratio=ratio,
        target=50.0,
        passed=worst <= 50.0 and errors == 0,
    )


if __name__ == "__main__":
    main()
