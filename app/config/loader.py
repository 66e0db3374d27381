"""Load a whole configuration directory into one immutable :class:`ClaimConfig`.

Layout (each part documented in its own loader): ``mappings/*.yaml`` (:mod:`app.config.mappings`),
``chargemaster.yaml`` (:mod:`app.config.chargemaster`), ``payers/*.yaml`` (:mod:`app.config.payers`),
``rules/*.yaml`` (:mod:`app.config.rulesets`) and ``refdata/`` (synthetic or operator-loaded reference
tables, :mod:`app.refdata`). Any problem raises :class:`~app.errors.ConfigError` naming file,
line and field; nothing is half-loaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from app.config.chargemaster import load_chargemaster
from app.config.hashing import config_hash
from app.config.mappings import load_mappings
from app.config.payers import load_payers
from app.config.providers import load_providers
from app.config.rulesets import RuleSets, load_rulesets
from app.domain.chargemaster import ChargeMaster
from app.domain.payers import PayerDirectory
from app.domain.providers import ProviderDirectory
from app.errors import ConfigError
from app.mappers.spec import MappingSet
from app.refdata import RefData, load_refdata


@dataclass(frozen=True)
class ClaimConfig:
    directory: Path
    config_hash: str
    mappings: MappingSet
    chargemaster: ChargeMaster
    payers: PayerDirectory
    rules: RuleSets
    refdata: RefData
    providers: ProviderDirectory = field(default_factory=ProviderDirectory)


def load_config(directory: Path, *, refdata_dirs: Sequence[Path] = ()) -> ClaimConfig:
    """Read and check every configuration file under ``directory``."""
    if not directory.is_dir():
        raise ConfigError(directory, None, None, "configuration directory not found")
    dirs = [directory / "refdata", *refdata_dirs]
    return ClaimConfig(
        directory=directory,
        config_hash=config_hash(directory),
        mappings=load_mappings(directory),
        chargemaster=load_chargemaster(directory),
        payers=load_payers(directory),
        rules=load_rulesets(directory),
        refdata=load_refdata([d for d in dirs if d.is_dir()]),
        providers=load_providers(directory),
    )
