"""The error tree helpers and the key files for SMART Backend Services."""

from __future__ import annotations

import json
import stat

import pytest
from joserfc.jwk import ECKey, RSAKey

from app.fhir.errors import (
    AuthError,
    FatalFhirError,
    RateLimited,
    ResourceGone,
    TemporaryFhirError,
    VersionConflict,
    error_for_status,
    outcome_message,
)
from app.fhir.keys import KeyFileError, generate_keys, load_signing_key


@pytest.mark.parametrize(
    ("status", "cls", "temporary"),
    [
        (500, TemporaryFhirError, True),
        (503, TemporaryFhirError, True),
        (429, RateLimited, True),
        (404, ResourceGone, False),
        (410, ResourceGone, False),
        (401, AuthError, False),
        (412, VersionConflict, False),
        (400, FatalFhirError, False),
    ],
)
def test_status_maps_into_one_tree(status, cls, temporary):
    error = error_for_status(status, body=None, where="GET /Patient/1")
    assert type(error) is cls
    assert isinstance(error, TemporaryFhirError) is temporary
    assert isinstance(error, FatalFhirError) is not temporary


def test_503_and_429_were_not_processed_but_500_may_have_been():
    assert not error_for_status(503, body=None, where="x").maybe_processed
    assert not error_for_status(429, body=None, where="x").maybe_processed
    assert error_for_status(500, body=None, where="x").maybe_processed


def test_outcome_message_prefers_diagnostics_then_details_then_code():
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"diagnostics": "first"}, {"details": {"text": "second"}}, {"code": "processing"}],
    }
    assert outcome_message(body) == "first; second; processing"
    assert outcome_message({"resourceType": "Patient"}) is None


@pytest.mark.parametrize(("alg", "key_type"), [("RS384", RSAKey), ("ES384", ECKey)])
def test_generate_keys_writes_a_private_pem_0600_and_a_public_jwks(tmp_path, alg, key_type):
    private_path, jwks_path = generate_keys(tmp_path / "keys", alg)
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    jwks = json.loads(jwks_path.read_text())
    (jwk,) = jwks["keys"]
    assert "d" not in jwk
    assert jwk["alg"] == alg
    assert jwk["use"] == "sig"
    public = key_type.import_key({k: v for k, v in jwk.items() if k not in ("alg", "use", "kid")})
    assert jwk["kid"] == public.thumbprint()  # RFC 7638
    loaded = load_signing_key(private_path)
    assert loaded.alg == alg
    assert loaded.kid == jwk["kid"]


def test_load_signing_key_from_a_private_jwks(tmp_path, es384_key):
    private_jwk = dict(es384_key.key.as_dict(private=True), kid="k-1")
    path = tmp_path / "private.jwks.json"
    path.write_text(json.dumps({"keys": [private_jwk]}))
    loaded = load_signing_key(path)
    assert loaded.kid == "k-1"
    assert loaded.alg == "ES384"


def test_public_keys_cannot_sign(tmp_path):
    _private, jwks_path = generate_keys(tmp_path, "ES384")
    with pytest.raises(KeyFileError, match="exactly one private key"):
        load_signing_key(jwks_path)
    pem = tmp_path / "public.pem"
    pem.write_bytes(ECKey.import_key(json.loads(jwks_path.read_text())["keys"][0]).as_pem(private=False))
    with pytest.raises(KeyFileError, match="public key"):
        load_signing_key(pem)
