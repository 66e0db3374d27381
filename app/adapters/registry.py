"""The explicit adapter registry: destination kinds by name, checked at start-up."""

from __future__ import annotations

from collections.abc import Callable

from app.adapters.base import Adapter
from app.adapters.ehr import EhrWritebackAdapter
from app.adapters.folder import FolderAdapter
from app.settings import Settings

AdapterFactory = Callable[[str, Settings], Adapter]

ADAPTERS: dict[str, AdapterFactory] = {
    "folder": lambda destination, settings: FolderAdapter(name=destination, out_dir=settings.adapters.out_dir),
    "ehr": lambda destination, settings: EhrWritebackAdapter(name=destination, ehr_name=settings.ehr.writeback_ehr),
}


class UnknownAdapter(ValueError):
    pass


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    """One adapter per destination (``writeback``, ``clearinghouse``) from the configured kinds."""
    chosen = {"writeback": settings.adapters.writeback, "clearinghouse": settings.adapters.clearinghouse}
    out: dict[str, Adapter] = {}
    for destination, kind in chosen.items():
        factory = ADAPTERS.get(kind)
        if factory is None:
            known = ", ".join(sorted(ADAPTERS))
            raise UnknownAdapter(f"adapters.{destination}: unknown adapter {kind!r} (known: {known})")
        out[destination] = factory(destination, settings)
    return out
