"""ICD-10-CM as a compact flag table, cached once per ``simple-icd-10-cm`` version.

Importing ``simple_icd_10_cm`` parses a 10 MB XML file (about 2 s and 200 MB). Rules only need, per
code: is it a valid item, is it billable (a leaf), is it a manifestation / "code first" code, is it an
external-cause code (V00-Y99). :func:`load_icd10` reads those flags from a small TSV in a cache
directory and imports the package only when that file is missing (then writes it atomically).

Manifestation is derived from the tabular notes: the description says "in (other) diseases classified
elsewhere", or a "code first" note (on the code or an ancestor) asks for the *underlying* condition.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGE = "simple-icd-10-cm"
VALID = 1
BILLABLE = 2
MANIFESTATION = 4
EXTERNAL_CAUSE = 8
_LETTERS = {"B": BILLABLE, "M": MANIFESTATION, "E": EXTERNAL_CAUSE}
_EXTERNAL_LETTERS = frozenset("VWXY")


@dataclass(frozen=True)
class Icd10Table:
    """Flags by code without the dot (``E119``). ``version`` names the package and the CMS release;
    ``fiscal_year`` the federal fiscal year it is in force for (:mod:`app.refdata.icd10_releases`)."""

    flags: dict[str, int]
    version: str
    fiscal_year: int | None = None

    def lookup(self, code: str) -> int:
        """Bit flags for ``code`` (with or without the dot); 0 when it is not an ICD-10-CM item."""
        return self.flags.get(code.replace(".", "").upper(), 0)


def default_cache_dir() -> Path:
    """``$CLAIMBRIDGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/claimbridge``, else ``~/.cache/claimbridge``."""
    explicit = os.environ.get("CLAIMBRIDGE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "claimbridge"


def cache_path(cache_dir: Path) -> Path:
    return cache_dir / f"icd10cm-{PACKAGE}-{metadata.version(PACKAGE)}.tsv"


def load_icd10(cache_dir: Path | None = None) -> Icd10Table:
    """Load the flag table from the cache, building the cache first if it is missing."""
    path = cache_path(cache_dir or default_cache_dir())
    if not path.exists():
        build_cache(path)
    return read_table(path)


def read_table(path: Path) -> Icd10Table:
    flags: dict[str, int] = {}
    version = ""
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("#"):
                version = line[1:].strip()
                continue
            code, _, letters = line.rstrip("\n").partition("\t")
            value = VALID
            for letter in letters:
                value |= _LETTERS[letter]
            flags[code] = value
    return Icd10Table(flags=flags, version=version)


def build_cache(path: Path) -> None:
    """Import ``simple_icd_10_cm`` once and write ``CODE<TAB>FLAGS`` lines (atomic rename)."""
    with warnings.catch_warnings():  # the package uses importlib.resources' legacy API
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10_cm as cm  # deliberately lazy: 2 s / 200 MB

    label = _release_label(cm)
    rows = [f"# {PACKAGE} {metadata.version(PACKAGE)} {label}\n"]
    for code in cm.get_all_codes(with_dots=False):
        if not cm.is_category_or_subcategory(code):
            continue  # chapters and blocks (B20 is both a block and a category: kept)
        rows.append(f"{code}\t{_letters_for(cm, code)}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text("".join(rows), encoding="utf-8")
    tmp.replace(path)


def _letters_for(cm: Any, code: str) -> str:
    letters = ""
    if cm.is_leaf(code):
        letters += "B"
    if _is_manifestation(cm, code):
        letters += "M"
    if code[:1] in _EXTERNAL_LETTERS:
        letters += "E"
    return letters


def _is_manifestation(cm: Any, code: str) -> bool:
    if "classified elsewhere" in cm.get_description(code):
        return True
    note = str(cm.get_code_first(code, search_in_ancestors=True) or "").lower()
    return "underlying" in note[:60]


def _release_label(cm: Any) -> str:
    impl = getattr(cm, "simple_icd_10_cm", cm)  # the implementation module holds the data file name
    name = str(getattr(impl, "_all_codes_package_file_name", ""))
    return name.removeprefix("code-list-").removesuffix(".txt") or "unknown release"
