"""operations: reconciliation findings

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 19:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        'reconcile_findings',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('plan_id', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('vehicle_id', sa.String(length=64), nullable=False),
        sa.Column('trip', sa.Integer(), nullable=True),
        sa.Column('facility_id', sa.String(length=64), nullable=True),
        sa.Column('ticket_no', sa.String(length=64), nullable=True),
        sa.Column('point_id', sa.String(length=64), nullable=True),
        sa.Column('category', sa.String(length=32), nullable=True),
        sa.Column('planned_kg', sa.Float(), nullable=True),
        sa.Column('actual_kg', sa.Float(), nullable=True),
        sa.Column('deviation_pct', sa.Float(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_reconcile_findings')),
    )
    with op.batch_alter_table('reconcile_findings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reconcile_findings_date'), ['date'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reconcile_findings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reconcile_findings_date'))
    op.drop_table('reconcile_findings')
