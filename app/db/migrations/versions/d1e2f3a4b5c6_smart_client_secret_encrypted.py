"""SMART client secrets encrypted at rest: widen the column, encrypt the plaintext rows.

The secret is stored as the HMAC signing secret is (:mod:`app.credentials`): ``fernet:<token>``
under the key derived from ``security.secret_key``, which :func:`app.db.migrate.upgrade` hands in.
Rows already encrypted are left as they are; without a key the migration refuses to run over a
plaintext row rather than leave it readable or encrypt it under a key the service does not use.

Revision ID: d1e2f3a4b5c6
Revises: f3b9d2c4a7e1
Create Date: 2026-12-03 14:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import context, op

from app.credentials import SecretKeys

revision: str = "d1e2f3a4b5c6"
down_revision: str | None = "f3b9d2c4a7e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SMART_APP = sa.table("smart_app", sa.column("ehr", sa.String), sa.column("client_secret", sa.String))


def _keys() -> SecretKeys | None:
    keys = context.config.attributes.get("secret_keys")
    return keys if isinstance(keys, SecretKeys) else None


def upgrade() -> None:
    with op.batch_alter_table("smart_app", schema=None) as batch_op:
        batch_op.alter_column(
            "client_secret",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=500),
            type_=sqlmodel.sql.sqltypes.AutoString(length=1000),
            existing_nullable=True,
        )
    conn = op.get_bind()
    rows = conn.execute(sa.select(SMART_APP.c.ehr, SMART_APP.c.client_secret)).all()
    plain = [(ehr, secret) for ehr, secret in rows if not SecretKeys.is_encrypted(secret)]
    if not plain:
        return
    keys = _keys()
    if keys is None:
        raise RuntimeError("encrypting stored SMART client secrets needs the key: run `claimbridge db upgrade`")
    for ehr, secret in plain:
        conn.execute(sa.update(SMART_APP).where(SMART_APP.c.ehr == ehr).values(client_secret=keys.encrypt(str(secret))))


def downgrade() -> None:
    conn = op.get_bind()
    keys = _keys()
    rows = conn.execute(sa.select(SMART_APP.c.ehr, SMART_APP.c.client_secret)).all()
    encrypted = [(ehr, secret) for ehr, secret in rows if secret is not None and SecretKeys.is_encrypted(secret)]
    if encrypted and keys is None:
        raise RuntimeError("decrypting stored SMART client secrets needs the key")
    for ehr, secret in encrypted:
        assert keys is not None
        conn.execute(sa.update(SMART_APP).where(SMART_APP.c.ehr == ehr).values(client_secret=keys.decrypt(secret)))
    with op.batch_alter_table("smart_app", schema=None) as batch_op:
        batch_op.alter_column(
            "client_secret",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=1000),
            type_=sqlmodel.sql.sqltypes.AutoString(length=500),
            existing_nullable=True,
        )
