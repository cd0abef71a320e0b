"""login attempts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00

The login limits (failures per username, attempts per client address) are counted in this table instead of each
worker's memory, so they hold with several gunicorn workers and across the API and console logins.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models._types

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('login_attempt',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('attempted_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('counts_as_failure', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_attempt'))
    )
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.create_index('ix_login_attempt_username_attempted_at', ['username', 'attempted_at'], unique=False)
        batch_op.create_index('ix_login_attempt_address_attempted_at', ['address', 'attempted_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('login_attempt', schema=None) as batch_op:
        batch_op.drop_index('ix_login_attempt_address_attempted_at')
        batch_op.drop_index('ix_login_attempt_username_attempted_at')
    op.drop_table('login_attempt')
