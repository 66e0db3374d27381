"""A candidate configuration for the console's what-if page: uploaded YAML files or a server directory.

Uploads (``multipart/form-data``, parsed with the standard library's MIME parser, bounded by
``web.whatif_max_upload_bytes``) are payer profiles and rule-set files laid over a copy of the
configuration in use, in a temporary directory that is removed afterwards: a file of the same name
replaces the current one, any other is added. A directory must lie under one of
``web.candidate_config_roots`` (none configured: the option is off). Either way the candidate is
loaded and checked exactly as at start-up (:func:`app.config.loader.load_config`); nothing is applied.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

from app.config.loader import ClaimConfig, load_config
from app.errors import ConfigError

#: The folders of a configuration directory an upload may put files into (form field = folder).
UPLOAD_KINDS = ("payers", "rules")
MAX_FILES = 50
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ya?ml$")


class CandidateError(ValueError):
    """The candidate cannot be used; ``str()`` is one line for the page (no temporary paths)."""


@dataclass(frozen=True)
class Upload:
    kind: str  # payers | rules
    name: str
    content: bytes


@dataclass(frozen=True)
class CandidateForm:
    fields: dict[str, str]
    uploads: list[Upload]


def parse_multipart(content_type: str, body: bytes) -> CandidateForm:
    """The text fields and the non-empty ``payers`` / ``rules`` files of a ``multipart/form-data`` body."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type.lower():
        raise CandidateError("the form must be sent as multipart/form-data")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", errors="replace")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise CandidateError("the form could not be read")
    fields: dict[str, str] = {}
    uploads: list[Upload] = []
    for part in message.iter_parts():
        if not isinstance(part, EmailMessage):
            continue
        name = part.get_param("name", header="content-disposition")
        raw = part.get_payload(decode=True)
        content = raw if isinstance(raw, bytes) else b""
        if not isinstance(name, str):
            continue
        filename = part.get_filename()
        if filename is None:
            try:
                fields[name] = content.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CandidateError(f"field {name!r} is not UTF-8 text") from exc
            continue
        if name not in UPLOAD_KINDS or (not filename and not content):
            continue  # an empty file input, or a file field we do not take
        uploads.append(Upload(kind=name, name=_safe_name(filename), content=content))
    if len(uploads) > MAX_FILES:
        raise CandidateError(f"at most {MAX_FILES} files per candidate")
    return CandidateForm(fields, uploads)


def _safe_name(filename: str) -> str:
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    if not _NAME.fullmatch(base):
        raise CandidateError(f"file name {base[:100]!r}: use letters, digits, '.', '_' or '-', ending in .yaml or .yml")
    return base


def allowed_directory(value: str, roots: Sequence[Path]) -> Path:
    """``value`` as an existing directory under one of ``roots`` (resolved, so ``..`` and links cannot escape)."""
    if not roots:
        raise CandidateError("pointing at a server directory is off (web.candidate_config_roots is empty)")
    if "\x00" in value or len(value) > 1000:
        raise CandidateError("not a usable directory path")
    path = Path(value).resolve()
    if not any(path == r.resolve() or path.is_relative_to(r.resolve()) for r in roots):
        raise CandidateError(f"{value}: not under an allowed directory ({', '.join(str(r) for r in roots)})")
    if not path.is_dir():
        raise CandidateError(f"{value}: no such directory")
    return path


def _load(directory: Path, refdata_dirs: Sequence[Path], *, shown_as: str | None = None) -> ClaimConfig:
    try:
        return load_config(directory, refdata_dirs=refdata_dirs)
    except ConfigError as exc:
        message = str(exc)
        if shown_as is not None:
            message = message.replace(str(directory), shown_as)
        raise CandidateError(message) from exc


@contextmanager
def uploaded_candidate(current: Path, uploads: Sequence[Upload], refdata_dirs: Sequence[Path]) -> Iterator[ClaimConfig]:
    """The configuration in use with ``uploads`` laid over it, loaded from a temporary copy (removed after)."""
    if not uploads:
        raise CandidateError("choose at least one payer profile or rule-set file, or a directory")
    with tempfile.TemporaryDirectory(prefix="claimbridge-candidate-") as tmp:
        root = Path(tmp) / "config"
        shutil.copytree(current, root, symlinks=False)
        for upload in uploads:
            try:
                upload.content.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise CandidateError(f"{upload.kind}/{upload.name}: not UTF-8 text") from exc
            folder = root / upload.kind
            folder.mkdir(exist_ok=True)
            (folder / upload.name).write_bytes(upload.content)
        yield _load(root, refdata_dirs, shown_as="(candidate)")


def directory_candidate(directory: Path, refdata_dirs: Sequence[Path]) -> ClaimConfig:
    return _load(directory, refdata_dirs)
