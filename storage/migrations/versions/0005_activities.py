"""activities, talks and messages

Revision ID: 0005_activities
Revises: 0004_location
Create Date: 2026-12-01 13:30:00

Education and community-service sessions with invitations and attendance proven by venue check-ins, individual
talks and counselling records, and the person's inbox with the delivery status of each message.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models._types

revision = '0005_activities'
down_revision = '0004_location'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('activity',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('venue_name', sa.String(length=200), nullable=False),
    sa.Column('venue_lat', sa.Float(), nullable=False),
    sa.Column('venue_lon', sa.Float(), nullable=False),
    sa.Column('venue_radius_m', sa.Float(), nullable=False),
    sa.Column('start_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('end_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('levels', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['account.id'], name=op.f('fk_activity_created_by_id_account')),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_activity_office_id_office')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity'))
    )
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.create_index('ix_activity_office_id_start_at', ['office_id', 'start_at'], unique=False)

    op.create_table('message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.String(length=4000), nullable=False),
    sa.Column('dedupe_key', sa.String(length=200), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('sender_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('read_at', storage.models._types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivery_status', sa.String(length=16), nullable=False),
    sa.Column('delivery_attempts', sa.Integer(), nullable=False),
    sa.Column('delivered_at', storage.models._types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivery_error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_message_office_id_office')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_message_person_id_person')),
    sa.ForeignKeyConstraint(['sender_id'], ['account.id'], name=op.f('fk_message_sender_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_message_dedupe_key'))
    )
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.create_index('ix_message_office_id_created_at', ['office_id', 'created_at'], unique=False)
        batch_op.create_index('ix_message_person_id_id', ['person_id', 'id'], unique=False)
        batch_op.create_index('ix_message_person_id_read_at', ['person_id', 'read_at'], unique=False)

    op.create_table('talk',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('note', sa.String(length=10000), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_talk_office_id_office')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_talk_person_id_person')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['account.id'], name=op.f('fk_talk_recorded_by_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_talk'))
    )
    with op.batch_alter_table('talk', schema=None) as batch_op:
        batch_op.create_index('ix_talk_office_id_at', ['office_id', 'at'], unique=False)
        batch_op.create_index('ix_talk_person_id_at', ['person_id', 'at'], unique=False)

    op.create_table('activity_invitation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_activity_invitation_activity_id_activity')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_activity_invitation_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_activity_invitation')),
    sa.UniqueConstraint('activity_id', 'person_id', name=op.f('uq_activity_invitation_activity_id'))
    )
    with op.batch_alter_table('activity_invitation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_activity_invitation_person_id'), ['person_id'], unique=False)

    op.create_table('attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('activity_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('check_in_checkin_id', sa.Integer(), nullable=True),
    sa.Column('check_out_checkin_id', sa.Integer(), nullable=True),
    sa.Column('checked_in_at', storage.models._types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('checked_out_at', storage.models._types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('hours', sa.Float(), nullable=True),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('note', sa.String(length=2000), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_by_id', sa.Integer(), nullable=True),
    sa.Column('reviewed_at', storage.models._types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('review_decision', sa.String(length=16), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', storage.models._types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['activity_id'], ['activity.id'], name=op.f('fk_attendance_activity_id_activity')),
    sa.ForeignKeyConstraint(['check_in_checkin_id'], ['checkin.id'], name=op.f('fk_attendance_check_in_checkin_id_checkin')),
    sa.ForeignKeyConstraint(['check_out_checkin_id'], ['checkin.id'], name=op.f('fk_attendance_check_out_checkin_id_checkin')),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], name=op.f('fk_attendance_office_id_office')),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_attendance_person_id_person')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['account.id'], name=op.f('fk_attendance_recorded_by_id_account')),
    sa.ForeignKeyConstraint(['reviewed_by_id'], ['account.id'], name=op.f('fk_attendance_reviewed_by_id_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_attendance')),
    sa.UniqueConstraint('activity_id', 'person_id', name=op.f('uq_attendance_activity_id'))
    )
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.create_index('ix_attendance_office_id_status', ['office_id', 'status'], unique=False)
        batch_op.create_index('ix_attendance_person_id_status', ['person_id', 'status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('attendance', schema=None) as batch_op:
        batch_op.drop_index('ix_attendance_person_id_status')
        batch_op.drop_index('ix_attendance_office_id_status')

    op.drop_table('attendance')
    with op.batch_alter_table('activity_invitation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_activity_invitation_person_id'))

    op.drop_table('activity_invitation')
    with op.batch_alter_table('talk', schema=None) as batch_op:
        batch_op.drop_index('ix_talk_person_id_at')
        batch_op.drop_index('ix_talk_office_id_at')

    op.drop_table('talk')
    with op.batch_alter_table('message', schema=None) as batch_op:
        batch_op.drop_index('ix_message_person_id_read_at')
        batch_op.drop_index('ix_message_person_id_id')
        batch_op.drop_index('ix_message_office_id_created_at')

    op.drop_table('message')
    with op.batch_alter_table('activity', schema=None) as batch_op:
        batch_op.drop_index('ix_activity_office_id_start_at')

    op.drop_table('activity')
