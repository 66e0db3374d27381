"""Test helper: validate X12 text with pyx12 in-process and fail with its error list."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pyx12.params
import pyx12.x12n_document

_LOG = logging.getLogger("pyx12")
_LOG.propagate = False
if not any(isinstance(h, logging.NullHandler) for h in _LOG.handlers):
    _LOG.addHandler(logging.NullHandler())


def _walk(node: Any, where: str, out: list[str]) -> None:
    if isinstance(node, dict):
        for err in node.get("errors") or ():
            out.append(f"{where}: [{err.get('err_cde')}] {err.get('err_str')}")
        label = node.get("seg_id") or node.get("name") or where
        if "cur_line" in node and node.get("seg_id"):
            label = f"line {node['cur_line']} {node['seg_id']}"
        for key in ("interchanges", "groups", "transactions", "segments", "elements"):
            for child in node.get(key) or ():
                _walk(child, label if key == "elements" else where if key != "segments" else label, out)


def pyx12_check(text: str) -> tuple[bool, list[str], str]:
    """(ok, errors, 999 text) of pyx12's validation of ``text``."""
    fd_999, fd_json = io.StringIO(), io.StringIO()
    ok = pyx12.x12n_document.x12n_document(
        param=pyx12.params.params(),
        src_file=io.StringIO(text),
        fd_997=fd_999,
        fd_html=None,
        fd_xmldoc=None,
        fd_json=fd_json,
    )
    errors: list[str] = []
    raw = fd_json.getvalue()
    if raw.strip():
        _walk(json.loads(raw), "interchange", errors)
    return bool(ok), errors, fd_999.getvalue()


def assert_valid_837p(text: str) -> str:
    """Fail with pyx12's error list unless ``text`` validates with zero errors; return the 999."""
    ok, errors, ack = pyx12_check(text)
    assert ok and not errors, "pyx12 rejected the 837P:\n" + "\n".join(errors or ["(no detail; ok=False)"])
    return ack
