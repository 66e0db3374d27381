"""Whose data a SMART session sees: the data scope of the EHR it was launched from (ADR 0011).

A SMART session knows the registered EHR it signed in at (session data ``ehr``, the EHR's name).
Data an EHR sent is stored under its subscription's ``ehr`` (:func:`app.domain.tenancy.ehr_scope`):

- when any subscription is linked to that EHR (``subscription.ehr`` = the name), the session's scope
  is the name: it sees that EHR's encounters, claims, checks and alerts, never another EHR's;
- otherwise :data:`~app.domain.tenancy.DEFAULT_EHR`: a single-EHR setup whose subscriptions name no EHR.

Decided on each request, so a subscription linked after a sign-in takes effect at once.
"""

from __future__ import annotations

from sqlalchemy import Connection

from app.db import subscriptions_repo
from app.domain.tenancy import DEFAULT_EHR


def data_scope(conn: Connection, ehr: str) -> str:
    """The ``ehr`` every SMART read and action of a session launched from the EHR named ``ehr`` uses."""
    return ehr if ehr and subscriptions_repo.names_ehr(conn, ehr) else DEFAULT_EHR
