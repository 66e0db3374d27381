"""What must never appear in logs: the sample data's patient names, birth dates, member ids and MRNs.

:func:`phi_needles` reads them from the example Bundles the demo and the intake tests send;
:func:`phi_hits` finds each one that occurs as a whole word in captured log text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "bundles"


@cache
def phi_needles() -> frozenset[str]:
    found: set[str] = set()
    for path in sorted(EXAMPLES.glob("*.json")):
        for entry in json.loads(path.read_text()).get("entry", ()):
            resource = entry.get("resource") or {}
            kind = resource.get("resourceType")
            if kind in ("Patient", "RelatedPerson"):
                for name in resource.get("name") or ():
                    found.update(p for p in [name.get("family"), *(name.get("given") or ())] if p)
                if resource.get("birthDate"):
                    found.add(resource["birthDate"])
            if kind in ("Patient", "Coverage", "RelatedPerson"):
                found.update(str(i["value"]) for i in resource.get("identifier") or () if i.get("value"))
            if kind == "Coverage" and resource.get("subscriberId"):
                found.add(resource["subscriberId"])
    return frozenset(n for n in found if len(n) >= 3)


def phi_hits(text: str, extra: Iterable[str] = ()) -> list[str]:
    """The needles (and ``extra``, e.g. secrets) that occur in ``text`` as whole words."""
    needles = sorted({*phi_needles(), *extra})
    return [n for n in needles if re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", text)]
