"""location supervision: tracking, zones and fixes

Revision ID: 0004_location
Revises: 0003
Create Date: 2026-12-01 13:30:00

Phones upload location fixes between check-ins while an officer has switched tracking on. On PostgreSQL the fix
table is range-partitioned by month of fixed_at, with a default partition for anything outside the months created
here; the sweep creates the months ahead (storage/partitions.py). SQLite keeps one plain table.
"""
from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa
from alembic import op

import storage.models._types

revision = '0004_location'
down_revision = '0003'
branch_labels = None
depends_on = None


def _month(year: int, month: int) -> date:
    while month > 12:
        year, month = year + 1, month - 12
    while month < 1:
        year, month = year - 1, month + 12
    return date(year, month, 1)


def _fix_columns() -> list[sa.Column]:
    return [
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('fixed_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('client_id', sa.String(length=64), nullable=False),
        sa.Column('received_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('accuracy_m', sa.Float(), nullable=False),
        sa.Column('altitude_m', sa.Float(), nullable=True),
        sa.Column('speed_mps', sa.Float(), nullable=True),
        sa.Column('provider', sa.String(length=16), nullable=True),
        sa.Column('mock', sa.Boolean(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table('location_tracking',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=2000), nullable=False),
    sa.Column('until', sa.Date(), nullable=False),
    sa.Column('interval_minutes', sa.Integer(), nullable=False),
    sa.Column('started_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_by_id', sa.Integer(), nullable=True),
    sa.Column('stopped_at', storage.models._types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('stopped_by_id', sa.Integer(), nullable=True),
    sa.Column('evaluated_at', storage.models._types.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_location_tracking_office_id_office')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_location_tracking_person_id_person')),
    sa.ForeignKeyConstraint(['started_by_id'], ['account.id'], name=op.f('fk_location_tracking_started_by_id_account')),
    sa.ForeignKeyConstraint(['stopped_by_id'], ['account.id'], name=op.f('fk_location_tracking_stopped_by_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location_tracking')),
    sa.UniqueConstraint('person_id', name=op.f('uq_location_tracking_person_id'))
    )
    with op.batch_alter_table('location_tracking', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_location_tracking_office_id'), ['office_id'], unique=False)

    op.create_table('location_zone',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('center_lat', sa.Float(), nullable=True),
    sa.Column('center_lon', sa.Float(), nullable=True),
    sa.Column('radius_m', sa.Float(), nullable=True),
    sa.Column('polygon', sa.JSON(), nullable=True),
    sa.Column('hours_start', sa.String(length=5), nullable=True),
    sa.Column('hours_end', sa.String(length=5), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('created_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('deleted_at', storage.models._types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('deleted_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['account.id'], name=op.f('fk_location_zone_created_by_id_account')),
    sa.ForeignKeyConstraint(['deleted_by_id'], ['account.id'], name=op.f('fk_location_zone_deleted_by_id_account')),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_location_zone_office_id_office')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_location_zone_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_location_zone'))
    )
    with op.batch_alter_table('location_zone', schema=None) as batch_op:
        batch_op.create_index('ix_location_zone_person_id_deleted_at', ['person_id', 'deleted_at'], unique=False)

    if op.get_bind().dialect.name == 'postgresql':
        _create_partitioned_fix_table()
    else:
        op.create_table('location_fix', *_fix_columns(),
        sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_location_fix_person_id_person')),
        sa.PrimaryKeyConstraint('person_id', 'fixed_at', 'client_id', name=op.f('pk_location_fix'))
        )


def _create_partitioned_fix_table() -> None:
    op.execute(
        "CREATE TABLE location_fix ("
        " person_id INTEGER NOT NULL,"
        " fixed_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " client_id VARCHAR(64) NOT NULL,"
        " received_at TIMESTAMP WITH TIME ZONE NOT NULL,"
        " lat FLOAT NOT NULL,"
        " lon FLOAT NOT NULL,"
        " accuracy_m FLOAT NOT NULL,"
        " altitude_m FLOAT,"
        " speed_mps FLOAT,"
        " provider VARCHAR(16),"
        " mock BOOLEAN NOT NULL,"
        " CONSTRAINT pk_location_fix PRIMARY KEY (person_id, fixed_at, client_id),"
        " CONSTRAINT fk_location_fix_person_id_person FOREIGN KEY (person_id) REFERENCES person (id)"
        ") PARTITION BY RANGE (fixed_at)"
    )
    op.execute("CREATE TABLE location_fix_default PARTITION OF location_fix DEFAULT")
    # Last month to two months ahead (fixes are refused when older than a week); the sweep keeps creating more.
    today = datetime.now(UTC).date()
    for offset in range(-1, 3):
        start, end = _month(today.year, today.month + offset), _month(today.year, today.month + offset + 1)
        op.execute(f"CREATE TABLE location_fix_y{start.year:04d}m{start.month:02d} PARTITION OF location_fix "
                   f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')")


def downgrade() -> None:
    op.drop_table('location_fix')  # on PostgreSQL its partitions go with it
    with op.batch_alter_table('location_zone', schema=None) as batch_op:
        batch_op.drop_index('ix_location_zone_person_id_deleted_at')
    op.drop_table('location_zone')
    with op.batch_alter_table('location_tracking', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_location_tracking_office_id'))
    op.drop_table('location_tracking')
