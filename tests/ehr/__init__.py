"""The test EHR: an in-process FHIR R4 server for tests (never imported by ``app/``).

See :mod:`tests.ehr.server` for what it supports and its fault knobs.
"""
