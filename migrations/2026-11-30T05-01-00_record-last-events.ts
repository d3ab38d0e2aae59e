import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * `record_last_events`: each record's latest event of each type, kept at ingest, so the
 * inactivity sweep ("no booking in 60 days") reads the records whose last booking is old enough
 * through one index range instead of aggregating the events table. Filled from the events already
 * stored; followup_ingest_events (same signature and answer) now also keeps it up to date, taking
 * an event only when it is not older than the one kept (events may arrive out of order).
 *
 * `automation_sweeps`: how far the date/inactivity sweep has enrolled each automation (occurrences
 * up to `swept_until` are done), so each sweep reads only the occurrences since the last one.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('record_last_events')
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('record_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('occurred_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('record_last_events_pk', ['workspace_id', 'type', 'record_id'])
    .execute();
  // The sweep's range: one workspace, one type, last event before a moment, in page order.
  await db.schema.createIndex('record_last_events_due').on('record_last_events').columns(['workspace_id', 'type', 'occurred_at', 'record_id']).execute();
  await sql`
    insert into record_last_events (workspace_id, type, record_id, event_id, occurred_at)
    select distinct on (workspace_id, type, record_id) workspace_id, type, record_id, id, occurred_at
    from events order by workspace_id, type, record_id, occurred_at desc, seq desc`.execute(db);

  await db.schema
    .createTable('automation_sweeps')
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('automation_id', 'text', (c) => c.notNull())
    .addColumn('swept_until', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('automation_sweeps_pk', ['workspace_id', 'automation_id'])
    .execute();

  await sql`
    create or replace function followup_ingest_events(p_workspace_id text, p_input jsonb) returns setof text
    language plpgsql as $fn$
    begin
      return query
      with input as (
        select * from jsonb_to_recordset(p_input)
          as x(id text, type text, record_id text, occurred_at timestamptz, properties jsonb, payload jsonb)
      ), stored as (
        insert into events (workspace_id, id, type, record_id, occurred_at, properties)
        select p_workspace_id, i.id, i.type, i.record_id, i.occurred_at, i.properties from input i
        on conflict (workspace_id, id) do nothing
        returning events.id, events.record_id, events.type, events.occurred_at
      ), last_events as (
        insert into record_last_events as l (workspace_id, type, record_id, event_id, occurred_at)
        select distinct on (s.type, s.record_id) p_workspace_id, s.type, s.record_id, s.id, s.occurred_at
        from stored s order by s.type, s.record_id, s.occurred_at desc, s.id desc
        on conflict (workspace_id, type, record_id) do update
          set event_id = excluded.event_id, occurred_at = excluded.occurred_at
          where excluded.occurred_at >= l.occurred_at
      ), bare_records as (
        insert into records (workspace_id, external_id)
        select distinct p_workspace_id, s.record_id from stored s
        on conflict (workspace_id, external_id) do nothing
      ), queued as (
        insert into outbox (workspace_id, kind, record_id, payload)
        select p_workspace_id, 'event', s.record_id, i.payload from stored s join input i on i.id = s.id
        returning 1
      ), woken as (
        select pg_notify('followup_outbox', '') from (select 1 from queued limit 1) q
      )
      select s.id from stored s, (select count(*) from woken) w;
    end
    $fn$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('automation_sweeps').execute();
  await db.schema.dropTable('record_last_events').execute();
}
