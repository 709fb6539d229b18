"""collection records partitioned by month on PostgreSQL

On PostgreSQL ``collection_records`` becomes a declaratively partitioned table (RANGE on
``date``, one partition per month named ``collection_records_YYYY_MM`` and a default
partition for rows of months that have none yet). Its primary key becomes ``(id,
date)`` (a partitioned table's keys must hold the partition key); ids, the sequence,
the natural key, the foreign key to points and every row are kept. The index on
``(point_id, date)`` goes on both databases: no read needs it (date ranges use the
natural key's index) and every import paid for it.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 14:00:00
"""
from __future__ import annotations

from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | None = None
depends_on: str | None = None

_COLUMNS = "id, date, point_id, vehicle_id, kg"

#: one month partition for every month that has rows in the old table
_MONTHS_OF = """
DO $$
DECLARE m date;
BEGIN
  FOR m IN SELECT DISTINCT date_trunc('month', date)::date FROM collection_records_old LOOP
    EXECUTE format(
      'CREATE TABLE %I PARTITION OF collection_records FOR VALUES FROM (%L) TO (%L)',
      'collection_records_' || to_char(m, 'YYYY_MM'), m, (m + interval '1 month')::date);
  END LOOP;
END $$
"""


def _rebuild(primary_key: str, partitioned: bool) -> None:
    """Recreate ``collection_records`` (PostgreSQL) with this primary key, partitioned by
    month or plain, keeping ids, the sequence, the natural and foreign keys and every
    row; both directions of this revision are this one swap."""
    op.execute('ALTER TABLE collection_records RENAME TO collection_records_old')
    op.execute('ALTER SEQUENCE collection_records_id_seq OWNED BY NONE')
    op.execute('ALTER TABLE collection_records_old ALTER COLUMN id DROP DEFAULT')
    op.execute('ALTER TABLE collection_records_old '
               'DROP CONSTRAINT uq_collection_records_key, '
               'DROP CONSTRAINT fk_collection_records_point_id_points, '
               'DROP CONSTRAINT pk_collection_records')
    op.execute(f"""
        CREATE TABLE collection_records (
            id BIGINT NOT NULL DEFAULT nextval('collection_records_id_seq'),
            date DATE NOT NULL,
            point_id VARCHAR(64) NOT NULL,
            vehicle_id VARCHAR(64) NOT NULL,
            kg FLOAT NOT NULL,
            CONSTRAINT pk_collection_records PRIMARY KEY ({primary_key}),
            CONSTRAINT uq_collection_records_key UNIQUE (date, point_id, vehicle_id),
            CONSTRAINT fk_collection_records_point_id_points FOREIGN KEY (point_id)
                REFERENCES points (point_id)
        ){' PARTITION BY RANGE (date)' if partitioned else ''}""")
    op.execute('ALTER SEQUENCE collection_records_id_seq OWNED BY collection_records.id')
    if partitioned:
        op.execute('CREATE TABLE collection_records_default PARTITION OF collection_records '
                   'DEFAULT')
        op.execute(_MONTHS_OF)
    op.execute(f'INSERT INTO collection_records ({_COLUMNS}) '
               f'SELECT {_COLUMNS} FROM collection_records_old')
    op.execute('DROP TABLE collection_records_old')


def upgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        with op.batch_alter_table('collection_records', schema=None) as batch_op:
            batch_op.drop_index('ix_collection_records_point_date')
        return
    op.execute('DROP INDEX ix_collection_records_point_date')
    _rebuild('id, date', partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'postgresql':
        with op.batch_alter_table('collection_records', schema=None) as batch_op:
            batch_op.create_index('ix_collection_records_point_date', ['point_id', 'date'],
                                  unique=False)
        return
    _rebuild('id', partitioned=False)
    op.execute('CREATE INDEX ix_collection_records_point_date '
               'ON collection_records (point_id, date)')
