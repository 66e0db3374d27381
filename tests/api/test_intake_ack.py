"""The intake's prebuilt 2xx answers are the OperationOutcomes ``outcome_response`` would build."""

from __future__ import annotations

from app.api.notifications import Ack, intake_headers
from app.api.outcomes import outcome_response


def test_ack_is_the_same_answer_as_outcome_response() -> None:
    for status, message in ((202, "accepted 3 event(s)"), (200, "duplicate, already received"), (200, "ping received")):
        ack, built = Ack(status, message), outcome_response(status, message, severity="information")
        assert (ack.status_code, ack.body) == (built.status_code, built.body)
        assert sorted(ack.raw_headers) == sorted(built.raw_headers)


def test_each_ack_has_its_own_header_list() -> None:
    first = Ack(202, "accepted 1 event(s)")
    first.raw_headers.append((b"x-added-by", b"a middleware"))
    assert (b"x-added-by", b"a middleware") not in Ack(202, "accepted 1 event(s)").raw_headers


def test_intake_headers_keeps_the_first_of_a_repeated_header_as_starlette_does() -> None:
    scope = {
        "headers": [
            (b"authorization", b"Bearer first"),
            (b"host", b"x"),
            (b"authorization", b"Bearer second"),
            (b"content-type", b"application/fhir+json"),
        ]
    }
    assert intake_headers(scope) == {b"authorization": "Bearer first", b"content-type": "application/fhir+json"}
