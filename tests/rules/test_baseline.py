"""The clean scenario passes every rule for every payer/encounter variant (so each failing case
below fails because of its one change)."""

from __future__ import annotations

import pytest

from app.refdata import RefData
from tests.rules.factories import VARIANTS, Variant, scenario


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_clean_claim_has_no_findings(variant: Variant, refdata: RefData) -> None:
    findings = scenario(variant, refdata).findings()
    assert findings == []
