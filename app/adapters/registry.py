"""The explicit adapter registries: destination kinds by name, checked at start-up.

``adapters.writeback``: ``folder`` (JSON files) or ``ehr`` (FHIR write-back).
``adapters.clearinghouse``: ``folder`` (837P files into ``clearinghouse.outbox_dir``, responses from
``clearinghouse.inbox_dir``) or ``http`` (the clearinghouse API, OAuth2 client credentials).
:func:`build_response_source` gives the matching source of inbound 999/277CA/835 files.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from typing import Protocol

from app.adapters.base import Adapter
from app.adapters.clearinghouse_http import ClearinghouseApi, ClearinghouseHttpAdapter, HttpResponseSource
from app.adapters.ehr import EhrWritebackAdapter
from app.adapters.folder import FolderAdapter
from app.adapters.x12_folder import FolderResponseSource, InboundItem, X12FolderAdapter
from app.errors import FatalError
from app.settings import Settings

AdapterFactory = Callable[[str, Settings], Adapter]


class ResponseSource(Protocol):
    name: str

    def pending(self, skip: Set[str] = frozenset()) -> list[InboundItem]:
        """Inbound files waiting to be ingested (not fetching those whose handle is in ``skip``)."""

    def finish(self, item: InboundItem) -> None:
        """Called once ``item`` is stored: it is not offered again."""

    def quarantine(self, item: InboundItem) -> str:
        """Set aside a file that keeps failing; returns the handle that :meth:`release` takes."""

    def release(self, handle: str) -> None:
        """Offer a quarantined file again (raises ``FileNotFoundError`` when it is gone)."""


def _folder(destination: str, settings: Settings) -> Adapter:
    return FolderAdapter(name=destination, out_dir=settings.adapters.out_dir)


def _x12_folder(destination: str, settings: Settings) -> Adapter:
    fallback = FolderAdapter(name=destination, out_dir=settings.adapters.out_dir)
    return X12FolderAdapter(name=destination, outbox_dir=settings.clearinghouse_outbox_dir, fallback=fallback)


def _http(destination: str, settings: Settings) -> Adapter:
    return ClearinghouseHttpAdapter(name=destination, api=ClearinghouseApi(settings.clearinghouse.api))


WRITEBACK_ADAPTERS: dict[str, AdapterFactory] = {
    "folder": _folder,
    "ehr": lambda destination, settings: EhrWritebackAdapter(name=destination, ehr_name=settings.ehr.writeback_ehr),
}
CLEARINGHOUSE_ADAPTERS: dict[str, AdapterFactory] = {"folder": _x12_folder, "http": _http}
ADAPTERS = {"writeback": WRITEBACK_ADAPTERS, "clearinghouse": CLEARINGHOUSE_ADAPTERS}


class UnknownAdapter(FatalError, ValueError):
    """An adapter kind nobody registered, or one whose settings are incomplete."""


def build_adapters(settings: Settings) -> dict[str, Adapter]:
    """One adapter per destination (``writeback``, ``clearinghouse``) from the configured kinds."""
    chosen = {"writeback": settings.adapters.writeback, "clearinghouse": settings.adapters.clearinghouse}
    out: dict[str, Adapter] = {}
    for destination, kind in chosen.items():
        factory = ADAPTERS[destination].get(kind)
        if factory is None:
            known = ", ".join(sorted(ADAPTERS[destination]))
            raise UnknownAdapter(f"adapters.{destination}: unknown adapter {kind!r} (known: {known})")
        try:
            out[destination] = factory(destination, settings)
        except ValueError as exc:
            raise UnknownAdapter(f"adapters.{destination}: {exc}") from exc
    return out


def build_response_source(settings: Settings, adapters: dict[str, Adapter]) -> ResponseSource:
    """Where response files come from: the API of the ``http`` adapter, else the inbox folder."""
    adapter = adapters.get("clearinghouse")
    if isinstance(adapter, ClearinghouseHttpAdapter):
        return HttpResponseSource(adapter.api)
    return FolderResponseSource(settings.clearinghouse_inbox_dir)
