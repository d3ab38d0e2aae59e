import { sql, type Kysely } from 'kysely';

/**
 * Frozen in time: never import application code here.
 *
 * Event ingestion (POST /v1/events) as one PL/pgSQL function: the same single statement the API
 * ran inline (store the events, create bare records for unknown record ids, write one `event`
 * outbox row per newly stored event, NOTIFY the router), but PL/pgSQL keeps its plan per
 * connection, so PostgreSQL no longer parses and plans a five-part CTE for every event: planning
 * cost as much as executing it. Returns the ids that were newly stored.
 *
 * p_input: a JSON array of { id, type, record_id, occurred_at, properties, payload } with unique ids.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    create function followup_ingest_events(p_workspace_id text, p_input jsonb) returns setof text
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
        returning events.id, events.record_id
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
  await sql`drop function followup_ingest_events(text, jsonb)`.execute(db);
}
