"""The shared real-world X12 samples ingest without crashing: nothing dropped, unmatched answers listed."""

from __future__ import annotations

from pathlib import Path

from app.eligibility.batch import transactions_271
from app.x12 import Ack277, Ack999, Remittance835, read_x12
from app.x12.dispatch import UnsupportedTransaction
from tests.clearinghouse.conftest import Flow

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "x12"


def sample_files() -> list[Path]:
    return sorted(p for p in SAMPLES.rglob("*") if p.is_file() and p.suffix not in (".md", ".997"))


def expected_unmatched(raw: bytes) -> int:
    """Every answer in a sample matches nothing of ours: one unmatched entry per claim or transaction."""
    document = read_x12(raw.decode("latin-1"))
    if isinstance(document, Remittance835):
        return len(document.claims)
    if isinstance(document, Ack277):
        return len(document.claims)
    if isinstance(document, Ack999):
        return len(document.transactions)
    if isinstance(document, UnsupportedTransaction) and document.set_id == "271":  # eligibility answers
        return len(list(transactions_271(raw.decode("latin-1"))))
    return 0


def test_shared_samples_are_stored_with_issues_and_unmatched_answers(flow: Flow) -> None:
    ingester = flow.services.ingester()
    files = sample_files()
    assert len(files) >= 15
    kinds = []
    for path in files:
        raw = path.read_bytes()
        result = ingester.ingest(raw, name=path.name, source="test")
        kinds.append(result.kind)
        assert not result.duplicate and result.matched == 0
        assert len(result.unmatched) == expected_unmatched(raw), path.name
    assert {"999", "277CA", "835", "271", "unsupported"} <= set(kinds)
    unmatched = flow.api("/api/x12/unmatched", limit=5000)
    assert sum(1 for u in unmatched if u["kind"] == "835") == sum(
        expected_unmatched(p.read_bytes()) for p, k in zip(files, kinds, strict=True) if k == "835"
    )
    counts = flow.table_counts()
    again = [ingester.ingest(p.read_bytes(), name=p.name, source="test") for p in files]
    assert all(r.duplicate for r in again)
    assert flow.table_counts() == counts
    assert flow.api("/api/denials") == [] and flow.api("/api/underpayments") == []


def test_an_unreadable_file_is_kept_with_its_parse_issues(flow: Flow) -> None:
    result = flow.services.ingester().ingest(b"this is not X12 at all", name="junk.txt", source="test")
    assert (result.kind, result.matched, result.unmatched) == ("unsupported", 0, [])
    assert result.parse_issues >= 1
    envelope_less = SAMPLES / "edi-835-parser" / "835_blue_cross_nc_no_envelope.txt"
    remit = flow.services.ingester().ingest(envelope_less.read_bytes(), name=envelope_less.name, source="test")
    assert remit.kind == "835" and remit.unmatched and remit.parse_issues >= 1
