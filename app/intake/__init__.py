"""Inbound notifications, pure: parse and check what an EHR sent (backport R4 notification Bundles,
plain R4 rest-hook resources, empty pings) and authenticate the sender. No I/O: the HTTP edge
(:mod:`app.api.notifications`) stores what this package accepts.
"""
