"""The folder transport: 837P files out (atomic, idempotent), response files in (ordered, moved once stored).

A file that fails to be stored: ``test_clearinghouse_quarantine.py``.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from app.adapters.base import FatalDeliveryError
from app.adapters.folder import FolderAdapter
from app.adapters.x12_folder import FolderResponseSource, X12FolderAdapter


def adapter(tmp_path: Path) -> X12FolderAdapter:
    return X12FolderAdapter(
        name="clearinghouse",
        outbox_dir=tmp_path / "837p",
        fallback=FolderAdapter(name="clearinghouse", out_dir=tmp_path),
    )


def test_837p_files_are_written_whole_and_rewritten_on_redelivery(tmp_path: Path) -> None:
    out = adapter(tmp_path)
    out.deliver(kind="837p", key="batch-1", payload={"file_name": "claimbridge-000000001.837", "x12": "ISA*1~"})
    out.deliver(kind="837p", key="batch-1", payload={"file_name": "claimbridge-000000001.837", "x12": "ISA*1~"})
    assert [(p.name, p.read_text()) for p in (tmp_path / "837p").iterdir()] == [("claimbridge-000000001.837", "ISA*1~")]
    with pytest.raises(FatalDeliveryError):
        out.deliver(kind="837p", key="batch-2", payload={"file_name": "../escape.837", "x12": "ISA~"})
    out.deliver(kind="claim", key="cb-1/1", payload={"claim_id": "cb-1"})  # other kinds: JSON, as before
    assert orjson.loads((tmp_path / "clearinghouse" / "claim" / "cb-1_1.json").read_bytes()) == {"claim_id": "cb-1"}


def test_the_inbox_offers_files_in_name_order_and_moves_them_once_stored(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("2-b.835", "1-a.999", ".hidden", "3-c.277.partial"):
        (inbox / name).write_bytes(name.encode())
    source = FolderResponseSource(inbox)
    items = source.pending()
    assert [(i.name, i.content) for i in items] == [("1-a.999", b"1-a.999"), ("2-b.835", b"2-b.835")]
    source.finish(items[0])
    (inbox / "1-a.999").write_bytes(b"again")
    source.finish(source.pending()[0])
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["1-a.999", "1-a.999.1"]
    assert FolderResponseSource(tmp_path / "missing").pending() == []
