"""EHR resources -> R4 professional Claim (pure: no I/O).

Entry point: :func:`map_encounter` (``ctx``, the compiled mapping spec from
:func:`app.config.mappings.load_mappings`, the charge master from
:func:`app.config.chargemaster.load_chargemaster`, ``created``) returns a :class:`MappedClaim`:
the Claim as a plain dict (valid R4), the mapper's findings, the E/M calculator result, the payer id
and the mapping version. It returns None only when there is nothing to bill: no office E/M code
was billed, no ServiceRequest is done and billable, no drug was given in the office, no ChargeItem
is billable and no Procedure is completed. An
unfinished encounter still maps (the rules engine reports its status); missing essentials are
``missing-data`` findings, never exceptions.

Modules: ``fhirpath`` (checked, compiled expressions), ``transforms`` (closed transform registry),
``tables`` (code tables), ``spec`` (field registry, MappingSet), ``header``/``parties``/
``diagnoses``/``charges``/``charge_items`` (claim parts), ``dedupe`` (one line per service),
``lines`` (every charge source together), ``mdm``/``em`` (E/M level), ``issues`` (finding ids),
``referrals`` (Claim.referral, its number and the referring provider), ``ids`` (deterministic claim
ids), ``claim`` (assembly).
"""

from app.mappers.claim import MappedClaim, map_encounter
from app.mappers.ids import claim_id
from app.mappers.spec import MappingSet

__all__ = ["MappedClaim", "MappingSet", "claim_id", "map_encounter"]
