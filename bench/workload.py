"""A realistic, seeded notification stream for soak and outage runs (issue 17 item 2).

Over a pool of encounters (the clean sample encounter of ``bench/pipeline.py`` cloned under fresh
ids, each with its patient, coverage and one order), each step picks one of:

- ``update``    a new Encounter version (length of stay changes)
- ``order``     a new completed ServiceRequest on the encounter (and a new Encounter version)
- ``coverage``  a new Coverage version (period changed) with a new Encounter version
- ``delete``    the Encounter becomes ``entered-in-error`` (nothing to bill; its outcome says why)
- bursts        3–6 updates in a row to one encounter (``--burst`` of the steps)

and then, on top: 5% duplicate deliveries (the same body again, as an EHR retrying), 2% out of
order (a version delivered after the next one), 1% poison: ``invalid-code`` (an Encounter.status
outside its required binding), ``no-coverage`` (the Coverage left out: no claim, the outcome names
it) and ``malformed`` (a truncated body). Every notification carries the encounter's whole current
context (full-resource), so a later version supersedes an earlier one whatever order they arrive in.

``python bench/workload.py --events 200 --seed 7`` prints the mix; :func:`generate` is what the
soak uses. Each :class:`Delivery` records what reconciliation needs (encounter, version, kind).
"""

from __future__ import annotations

import argparse
import copy
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline import ORDER_POOL, clone, template_with_orders

from app.cli.demo import notification_for

POISON_KINDS = ("invalid-code", "no-coverage", "malformed")


@dataclass(frozen=True)
class Delivery:
    seq: int
    kind: str  # update | order | coverage | delete | duplicate | out-of-order | poison:<kind>
    encounter: str  # Encounter/<id>
    version: int  # the Encounter versionId this body carries (0: malformed)
    number: int  # event number
    body: bytes

    @property
    def poison(self) -> str | None:
        return self.kind.partition(":")[2] if self.kind.startswith("poison:") else None


@dataclass
class EncounterState:
    resources: list[dict[str, Any]]
    version: int = 1
    orders: int = 1
    coverage_version: int = 1
    deleted: bool = False

    def encounter(self) -> dict[str, Any]:
        return next(r for r in self.resources if r["resourceType"] == "Encounter")

    def key(self) -> str:
        return f"Encounter/{self.encounter()['id']}"


@dataclass
class Workload:
    seed: int
    encounters: int = 50
    duplicate_rate: float = 0.05
    out_of_order_rate: float = 0.02
    poison_rate: float = 0.01
    burst_rate: float = 0.05
    tag: str = "soak"
    rng: random.Random = field(init=False)
    number: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.base = template_with_orders(1)
        self.pool: list[EncounterState] = []
        for _ in range(self.encounters):
            self._new_encounter()

    def _new_encounter(self) -> EncounterState:
        state = EncounterState(clone(self.base, f"{self.tag}{len(self.pool)}"))
        for r in state.resources:
            r["meta"] = {**r.get("meta", {}), "versionId": "1"}
        self.pool.append(state)
        return state

    def _body(self, state: EncounterState, resources: list[dict[str, Any]] | None = None) -> tuple[int, bytes]:
        self.number += 1
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in resources or state.resources],
        }
        note = notification_for(bundle, number=self.number, run_id=f"{self.tag}-{self.seed}")
        return self.number, orjson.dumps(note)

    def _bump(self, state: EncounterState) -> None:
        state.version += 1
        enc = state.encounter()
        enc["meta"]["versionId"] = str(state.version)

    def _change(self, state: EncounterState, kind: str) -> None:
        enc = state.encounter()
        if kind == "update":
            enc["length"] = {
                "value": 15 + self.rng.randrange(45),
                "unit": "min",
                "system": "http://unitsofmeasure.org",
                "code": "min",
            }
        elif kind == "order" and state.orders < len(ORDER_POOL):
            shape = next(r for r in state.resources if r["resourceType"] == "ServiceRequest")
            order = copy.deepcopy(shape)
            system, code = ORDER_POOL[state.orders]
            state.orders += 1
            order["id"] = f"{shape['id']}-o{state.orders}"
            order["code"] = {"coding": [{"system": system, "code": code}]}
            order["meta"] = {"versionId": "1"}
            state.resources.append(order)
        elif kind == "coverage":
            state.coverage_version += 1
            for r in state.resources:
                if r["resourceType"] == "Coverage":
                    r["meta"]["versionId"] = str(state.coverage_version)
                    r.setdefault("period", {})["start"] = f"2024-0{1 + self.rng.randrange(9)}-01"
        elif kind == "delete":
            enc["status"] = "entered-in-error"
            state.deleted = True
        self._bump(state)

    def _poison(self, state: EncounterState, kind: str) -> tuple[int, bytes, int]:
        if kind == "no-coverage":  # valid input: a real version of the encounter, without its Coverage
            self._bump(state)
            number, body = self._body(state, [r for r in state.resources if r["resourceType"] != "Coverage"])
            return number, body, state.version
        resources = copy.deepcopy(state.resources)
        version = state.version + 1000 + self.number  # refused before storing: never the real next version
        for r in resources:
            if r["resourceType"] == "Encounter":
                r["meta"]["versionId"] = str(version)
                if kind == "invalid-code":
                    r["status"] = "not-a-status"
        number, body = self._body(state, resources)
        if kind == "malformed":
            body = body[: len(body) // 2]
            version = 0
        return number, body, version

    def generate(self, events: int) -> list[Delivery]:
        out: list[Delivery] = []
        live = list(self.pool)
        while len(out) < events and live:
            state = self.rng.choice(live)
            roll = self.rng.random()
            if roll < self.poison_rate:
                kind = self.rng.choice(POISON_KINDS)
                number, body, version = self._poison(state, kind)
                out.append(Delivery(len(out), f"poison:{kind}", state.key(), version, number, body))
                continue
            steps = 3 + self.rng.randrange(4) if self.rng.random() < self.burst_rate else 1
            for _ in range(steps):
                kind = self.rng.choices(("update", "order", "coverage", "delete"), weights=(60, 20, 15, 5))[0]
                self._change(state, kind)
                number, body = self._body(state)
                out.append(Delivery(len(out), kind, state.key(), state.version, number, body))
                if self.rng.random() < self.duplicate_rate:
                    out.append(Delivery(len(out), "duplicate", state.key(), state.version, number, body))
                if state.deleted:  # a new encounter takes its place in the stream
                    live.remove(state)
                    live.append(self._new_encounter())
                    break
        self._reorder(out)
        return out

    def _reorder(self, out: list[Delivery]) -> None:
        """Swap ~out_of_order_rate of consecutive same-encounter versions (newer delivered first)."""
        for i in range(len(out) - 1):
            a, b = out[i], out[i + 1]
            eligible = a.encounter == b.encounter and a.version < b.version and not a.poison and not b.poison
            if eligible and self.rng.random() < self.out_of_order_rate * 8:  # few adjacent pairs are eligible
                out[i], out[i + 1] = (
                    Delivery(b.seq, b.kind, b.encounter, b.version, b.number, b.body),
                    Delivery(a.seq, "out-of-order", a.encounter, a.version, a.number, a.body),
                )

    def corrected(self, poison: Delivery) -> Delivery:
        """The resend that fixes a poison delivery: the encounter's valid context, under a newer version."""
        state = next(s for s in self.pool if s.key() == poison.encounter)
        resources = copy.deepcopy(state.resources)
        version = poison.version + 1
        for r in resources:
            if r["resourceType"] == "Encounter":
                r["meta"]["versionId"] = str(version)
                r["status"] = "finished"
        number, body = self._body(state, resources)
        return Delivery(-1, "fix", poison.encounter, version, number, body)

    def final_versions(self) -> dict[str, tuple[int, bool]]:
        """Encounter -> (its last version, deleted)."""
        return {s.key(): (s.version, s.deleted) for s in self.pool}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--encounters", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    stream = Workload(args.seed, args.encounters).generate(args.events)
    mix = Counter(d.kind for d in stream)
    for kind, n in sorted(mix.items()):
        print(f"{kind:22} {n:6}  {100 * n / len(stream):5.1f}%")
    print(f"{'total':22} {len(stream):6}")


if __name__ == "__main__":
    main()
