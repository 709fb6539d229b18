"""collection records rolled up per point and month and per truck and day

Two tables the metrics read instead of scanning a year of records:
``record_rollups`` (month, point_id): kg, records and ``day_bits`` (bit d-1 set when the
point has a record on day d of the month), and ``truck_day_rollups`` (date,
vehicle_id): kg and records. Triggers on ``collection_records`` keep them exact for
every writer (imports, the API, re-planning, the demo): on PostgreSQL statement
triggers over the transition tables (set-based, one per event because a trigger with
transition tables takes one event), on SQLite row triggers. The bulk loader fills
the rollups of the month partitions it attaches itself (``bulk_repo``), since rows
loaded into a table before it is attached fire no trigger of the parent. Existing rows
are rolled up here.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 17:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | None = None
depends_on: str | None = None

_EVENTS = ('insert', 'update', 'delete')

# PostgreSQL: old rows are taken off, new rows added, then a day whose last record of
# a point went loses its bit (checked only for (day, point) pairs that no new row
# holds) and rows left with no record go
_PG_FUNCTION = """
CREATE FUNCTION collection_records_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' THEN
    UPDATE record_rollups r SET kg = r.kg - o.kg, records = r.records - o.n
      FROM (SELECT date_trunc('month', date)::date AS month, point_id,
                   sum(kg) AS kg, count(*) AS n
              FROM old_rows GROUP BY 1, 2) o
     WHERE r.month = o.month AND r.point_id = o.point_id;
    UPDATE truck_day_rollups r SET kg = r.kg - o.kg, records = r.records - o.n
      FROM (SELECT date, vehicle_id, sum(kg) AS kg, count(*) AS n
              FROM old_rows GROUP BY 1, 2) o
     WHERE r.date = o.date AND r.vehicle_id = o.vehicle_id;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    INSERT INTO record_rollups AS r (month, point_id, kg, records, day_bits)
    SELECT date_trunc('month', date)::date, point_id, sum(kg), count(*),
           bit_or(1 << (date_part('day', date)::int - 1))
      FROM new_rows GROUP BY 1, 2
    ON CONFLICT (month, point_id) DO UPDATE
       SET kg = r.kg + excluded.kg, records = r.records + excluded.records,
           day_bits = r.day_bits | excluded.day_bits;
    INSERT INTO truck_day_rollups AS r (date, vehicle_id, kg, records)
    SELECT date, vehicle_id, sum(kg), count(*) FROM new_rows GROUP BY 1, 2
    ON CONFLICT (date, vehicle_id) DO UPDATE
       SET kg = r.kg + excluded.kg, records = r.records + excluded.records;
  END IF;
  IF TG_OP = 'UPDATE' THEN
    UPDATE record_rollups r SET day_bits = r.day_bits & ~g.bits
      FROM ({gone}
              FROM (SELECT date, point_id FROM old_rows
                    EXCEPT SELECT date, point_id FROM new_rows) o
             {still}) g
     WHERE r.month = g.month AND r.point_id = g.point_id;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE record_rollups r SET day_bits = r.day_bits & ~g.bits
      FROM ({gone}
              FROM (SELECT DISTINCT date, point_id FROM old_rows) o
             {still}) g
     WHERE r.month = g.month AND r.point_id = g.point_id;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    DELETE FROM record_rollups r
     USING (SELECT DISTINCT date_trunc('month', date)::date AS month, point_id
              FROM old_rows) o
     WHERE r.month = o.month AND r.point_id = o.point_id AND r.records = 0;
    DELETE FROM truck_day_rollups r
     USING (SELECT DISTINCT date, vehicle_id FROM old_rows) o
     WHERE r.date = o.date AND r.vehicle_id = o.vehicle_id AND r.records = 0;
  END IF;
  RETURN NULL;
END $$
""".format(
    gone="SELECT date_trunc('month', o.date)::date AS month, o.point_id, "
            "bit_or(1 << (date_part('day', o.date)::int - 1)) AS bits",
    still="WHERE NOT EXISTS (SELECT 1 FROM collection_records c "
             "WHERE c.date = o.date AND c.point_id = o.point_id) GROUP BY 1, 2",
)

_PG_REFERENCING = {
    'insert': 'NEW TABLE AS new_rows',
    'update': 'OLD TABLE AS old_rows NEW TABLE AS new_rows',
    'delete': 'OLD TABLE AS old_rows',
}

_SQLITE_MONTH = "date({r}.date, 'start of month')"
_SQLITE_BIT = "(1 << (CAST(strftime('%d', {r}.date) AS INTEGER) - 1))"

_SQLITE_ADD = f"""
  INSERT INTO record_rollups (month, point_id, kg, records, day_bits)
  VALUES ({_SQLITE_MONTH.format(r='NEW')}, NEW.point_id, NEW.kg, 1,
          {_SQLITE_BIT.format(r='NEW')})
  ON CONFLICT (month, point_id) DO UPDATE
     SET kg = kg + excluded.kg, records = records + 1, day_bits = day_bits | excluded.day_bits;
  INSERT INTO truck_day_rollups (date, vehicle_id, kg, records)
  VALUES (NEW.date, NEW.vehicle_id, NEW.kg, 1)
  ON CONFLICT (date, vehicle_id) DO UPDATE SET kg = kg + excluded.kg, records = records + 1;
"""

_SQLITE_TAKE = f"""
  UPDATE record_rollups
     SET kg = kg - OLD.kg, records = records - 1,
         day_bits = CASE WHEN EXISTS (SELECT 1 FROM collection_records c
                                       WHERE c.date = OLD.date AND c.point_id = OLD.point_id)
                         THEN day_bits ELSE day_bits & ~{_SQLITE_BIT.format(r='OLD')} END
   WHERE month = {_SQLITE_MONTH.format(r='OLD')} AND point_id = OLD.point_id;
  DELETE FROM record_rollups
   WHERE month = {_SQLITE_MONTH.format(r='OLD')} AND point_id = OLD.point_id AND records = 0;
  UPDATE truck_day_rollups SET kg = kg - OLD.kg, records = records - 1
   WHERE date = OLD.date AND vehicle_id = OLD.vehicle_id;
  DELETE FROM truck_day_rollups
   WHERE date = OLD.date AND vehicle_id = OLD.vehicle_id AND records = 0;
"""

_SQLITE_BODY = {
    'insert': 'AFTER INSERT',
    'update': 'AFTER UPDATE OF date, point_id, vehicle_id, kg',
    'delete': 'AFTER DELETE',
}


def _sqlite_trigger(event: str) -> str:
    body = {'insert': _SQLITE_ADD, 'update': _SQLITE_TAKE + _SQLITE_ADD,
            'delete': _SQLITE_TAKE}[event]
    return (f'CREATE TRIGGER collection_records_rollup_{event} {_SQLITE_BODY[event]} '
            f'ON collection_records FOR EACH ROW BEGIN {body} END')


def _backfill(pg: bool) -> None:
    """Roll up the rows already there: per (day, point) first, so that one bit per day
    adds up to the month's bits."""
    if pg:
        month, bit = "date_trunc('month', date)::date", "1 << (date_part('day', date)::int - 1)"
    else:
        month = "date(date, 'start of month')"
        bit = "1 << (CAST(strftime('%d', date) AS INTEGER) - 1)"
    op.execute(f"""
        INSERT INTO record_rollups (month, point_id, kg, records, day_bits)
        SELECT month, point_id, sum(kg), sum(n), sum(bit) FROM (
            SELECT {month} AS month, point_id, sum(kg) AS kg, count(*) AS n, {bit} AS bit
              FROM collection_records GROUP BY date, point_id) d
         GROUP BY month, point_id""")
    op.execute("""
        INSERT INTO truck_day_rollups (date, vehicle_id, kg, records)
        SELECT date, vehicle_id, sum(kg), count(*) FROM collection_records
         GROUP BY date, vehicle_id""")


def upgrade() -> None:
    op.create_table(
        'record_rollups',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('point_id', sa.String(length=64), nullable=False),
        sa.Column('kg', sa.Float(), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.Column('day_bits', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'point_id', name=op.f('pk_record_rollups')),
    )
    op.create_table(
        'truck_day_rollups',
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('vehicle_id', sa.String(length=64), nullable=False),
        sa.Column('kg', sa.Float(), nullable=False),
        sa.Column('records', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('date', 'vehicle_id', name=op.f('pk_truck_day_rollups')),
    )
    pg = op.get_bind().dialect.name == 'postgresql'
    _backfill(pg)
    if not pg:
        for event in _EVENTS:
            op.execute(_sqlite_trigger(event))
        return
    op.execute(_PG_FUNCTION)
    for event in _EVENTS:
        op.execute(
            f'CREATE TRIGGER collection_records_rollup_{event} AFTER {event.upper()} '
            f'ON collection_records REFERENCING {_PG_REFERENCING[event]} '
            f'FOR EACH STATEMENT EXECUTE FUNCTION collection_records_rollup()')


def downgrade() -> None:
    pg = op.get_bind().dialect.name == 'postgresql'
    for event in _EVENTS:
        on = ' ON collection_records' if pg else ''
        op.execute(f'DROP TRIGGER collection_records_rollup_{event}{on}')
    if pg:
        op.execute('DROP FUNCTION collection_records_rollup()')
    op.drop_table('truck_day_rollups')
    op.drop_table('record_rollups')
