"""tickets: the facility a load was sent on from (a transfer station's outbound load)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 13:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_facility_id', sa.String(length=64), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f('fk_tickets_source_facility_id_facilities'), 'facilities',
            ['source_facility_id'], ['facility_id'],
        )
        batch_op.create_index(
            'ix_tickets_source_time', ['source_facility_id', 'time'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_source_time')
        batch_op.drop_constraint(
            batch_op.f('fk_tickets_source_facility_id_facilities'), type_='foreignkey'
        )
        batch_op.drop_column('source_facility_id')
