"""data lifecycle: template key ids, purge markers

Revision ID: 0006_lifecycle
Revises: 0005_activities
Create Date: 2026-12-01 13:20:00

Face templates are sealed with the keyring (storage.crypto): `key_id` names the key of each sealed vector, NULL marks a
vector written before this revision (plaintext until `checkin rotate-keys` seals it). The dlib encodings that 0002
copied into reference_template are dropped from reference_face, so no plaintext copy is left there.
`purged_at` marks rows whose blobs `checkin purge` deleted under the retention rules (the decision record stays).
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models._types

revision = '0006_lifecycle'
down_revision = '0005_activities'
branch_labels = None
depends_on = None

PURGEABLE = ('checkin', 'task', 'leave_request', 'reference_face')


def upgrade() -> None:
    with op.batch_alter_table('reference_template', schema=None) as batch_op:
        batch_op.add_column(sa.Column('key_id', sa.String(length=64), nullable=True))
    with op.batch_alter_table('reference_face', schema=None) as batch_op:
        batch_op.add_column(sa.Column('encoding_key_id', sa.String(length=64), nullable=True))
    for table in PURGEABLE:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('purged_at', storage.models._types.UTCDateTime(timezone=True), nullable=True))
    # The copy 0002 made is the one in use; the plaintext original has no reader left.
    op.execute(sa.text(
        "UPDATE reference_face SET encoding = NULL WHERE encoding IS NOT NULL AND EXISTS ("
        "SELECT 1 FROM reference_template t WHERE t.reference_id = reference_face.id AND t.template = 'dlib-resnet-v1')"
    ))


def downgrade() -> None:
    for table in reversed(PURGEABLE):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('purged_at')
    with op.batch_alter_table('reference_face', schema=None) as batch_op:
        batch_op.drop_column('encoding_key_id')
    with op.batch_alter_table('reference_template', schema=None) as batch_op:
        batch_op.drop_column('key_id')
