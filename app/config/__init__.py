"""Integration engineers' configuration files (``config/``): mappings, charge master, payers, rules.

These are data, versioned in git and schema-checked at load time; every error names the file, the
line and the field (:class:`ConfigError`). :func:`load_config` reads a whole directory into one
immutable :class:`ClaimConfig` with a content hash that every stored claim records.

Service settings (database URL, secrets, ports) are not here: they live in :mod:`app.settings`.
"""

from app.errors import ConfigError

__all__ = ["ConfigError"]
