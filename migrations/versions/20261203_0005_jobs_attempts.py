"""jobs: the day a job plans, the plan it started from, worker and heartbeat (lease)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 13:20:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('plan_date', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('base_plan_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('worker', sa.String(length=128), nullable=True))
        batch_op.add_column(sa.Column('heartbeat_at', sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f('ix_jobs_plan_date'), ['plan_date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jobs_plan_date'))
        batch_op.drop_column('heartbeat_at')
        batch_op.drop_column('worker')
        batch_op.drop_column('base_plan_id')
        batch_op.drop_column('plan_date')
