// The operations server's own state, in schema `ops`: the refresh tokens it issued (only their SHA-256,
// grouped in families: a login starts one, every refresh rotates within it, and a reused token revokes
// it whole) and the audit log of logins, mutating requests and lifecycle phases started through the API.
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE SCHEMA IF NOT EXISTS ops;

    CREATE TABLE ops.refresh_tokens (
      id              bigserial PRIMARY KEY,
      -- hex SHA-256 of the token: the token itself is never stored
      token_hash      text NOT NULL UNIQUE,
      -- one login = one family; a reused (already rotated) token revokes every token of its family
      family_id       uuid NOT NULL,
      username        text NOT NULL,
      issued_at       timestamptz NOT NULL DEFAULT now(),
      expires_at      timestamptz NOT NULL,
      -- set when the token was exchanged for its successor (presenting it again is a reuse)
      rotated_at      timestamptz,
      replaced_by     bigint REFERENCES ops.refresh_tokens (id),
      revoked_at      timestamptz,
      revoked_reason  text
    );
    CREATE INDEX refresh_tokens_family ON ops.refresh_tokens (family_id);

    CREATE TABLE ops.audit_log (
      id        bigserial PRIMARY KEY,
      at        timestamptz NOT NULL DEFAULT now(),
      -- who: the authenticated user, or the name a failed login tried (NULL: unknown)
      username  text,
      role      text,
      -- what: a stable name (auth.login, queue.pause, job.retry, run.rollback, ...) and the request
      action    text NOT NULL,
      method    text NOT NULL,
      path      text NOT NULL,
      -- from where
      ip        text,
      -- the HTTP status answered, and what it means
      status    integer,
      outcome   text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
      details   jsonb
    );
    CREATE INDEX audit_log_at ON ops.audit_log (at DESC, id DESC);
    CREATE INDEX audit_log_username ON ops.audit_log (username, id DESC);
    CREATE INDEX audit_log_action ON ops.audit_log (action, id DESC);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('DROP SCHEMA IF EXISTS ops CASCADE');
}
