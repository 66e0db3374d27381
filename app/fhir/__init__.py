"""FHIR R4 on the wire: the pinned model package (``r4``) and, later, the EHR client.

Every FHIR model import in the project goes through :mod:`app.fhir.r4`; a bare
``fhir.resources.<type>`` import would be R5 and is a bug.
"""
