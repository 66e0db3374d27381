"""Reference data the rules look up: NCCI PTP, MUE, HCPCS, age/sex edits, global days, ICD-10-CM, POS.

Operators supply the public CMS files; ``import_ptp`` / ``import_mue`` / ``import_hcpcs`` /
``import_global_days`` turn them into compact normalized CSV files in a directory, and
:func:`load_refdata` reads one or more such directories into one immutable :class:`RefData`
(effective dates are respected at lookup, by date of service). The repository ships only small
SYNTHETIC tables (``config/refdata/``) for tests and the demo.

ICD-10-CM comes from ``simple-icd-10-cm`` through a compact cached table (:mod:`app.refdata.icd10`):
the package itself is imported only when the cache for its version is missing.
"""

from app.refdata.icd10 import Icd10Table, load_icd10
from app.refdata.importers import import_global_days, import_hcpcs, import_mue, import_ptp
from app.refdata.loader import load_refdata
from app.refdata.tables import HcpcsEntry, MueEntry, PtpEdit, RefData

__all__ = [
    "HcpcsEntry",
    "Icd10Table",
    "MueEntry",
    "PtpEdit",
    "RefData",
    "import_global_days",
    "import_hcpcs",
    "import_mue",
    "import_ptp",
    "load_icd10",
    "load_refdata",
]
