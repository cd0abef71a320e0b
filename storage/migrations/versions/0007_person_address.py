"""person home address

Revision ID: 0007_person_address
Revises: 0006_lifecycle
Create Date: 2026-12-01 16:20:00

The home address as the officer writes it (free text, e.g. 上海市黄浦区南京东路 100 号 3 室), beside the home area
(home_lat, home_lon, home_radius_m) that check-ins and location fixes are judged against.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007_person_address'
down_revision = '0006_lifecycle'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.add_column(sa.Column('home_address', sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('person', schema=None) as batch_op:
        batch_op.drop_column('home_address')
