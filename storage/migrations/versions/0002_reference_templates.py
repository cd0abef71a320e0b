"""reference templates per embedder

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 11:20:00

Face engine v2 decides on SFace and keeps dlib as a second opinion, so a reference keeps one template per embedder.
The dlib encodings stored so far move into the new table unchanged; `checkin reencode` adds the SFace templates
from the encrypted reference photos.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models._types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

DLIB = "dlib-resnet-v1"


def upgrade() -> None:
    op.create_table('reference_template',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference_id', sa.Integer(), nullable=False),
    sa.Column('template', sa.String(length=64), nullable=False),
    sa.Column('vector', sa.LargeBinary(), nullable=False),
    sa.Column('engine_version', sa.String(length=80), nullable=False),
    sa.Column('created_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['reference_id'], ['reference_face.id'],
                            name=op.f('fk_reference_template_reference_id_reference_face')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reference_template')),
    sa.UniqueConstraint('reference_id', 'template', name=op.f('uq_reference_template_reference_id'))
    )
    with op.batch_alter_table('reference_template', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reference_template_reference_id'), ['reference_id'], unique=False)
    # Every encoding stored so far is dlib's (engine versions "dlib-resnet-v1/..."): keep it as that template.
    op.execute(sa.text(
        "INSERT INTO reference_template (reference_id, template, vector, engine_version, created_at) "
        "SELECT id, :template, encoding, engine_version, created_at FROM reference_face "
        "WHERE encoding IS NOT NULL AND engine_version LIKE 'dlib-resnet-v1%'"
    ).bindparams(template=DLIB))
    with op.batch_alter_table('reference_face', schema=None) as batch_op:
        batch_op.alter_column('encoding', existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table('reference_face', schema=None) as batch_op:
        batch_op.alter_column('encoding', existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table('reference_template', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reference_template_reference_id'))
    op.drop_table('reference_template')
