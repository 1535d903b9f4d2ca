-- SPEC §1: the trigger and invocation tables, their CHECKs, and the indexes the dispatch
-- cycle (SPEC §2) needs so that each step costs O(rows it touches), not O(table).

CREATE TABLE scheduled_triggers (
    tenant_id            varchar(256) NOT NULL,
    id                   varchar(256) NOT NULL,
    project_id           varchar(256) NOT NULL,
    agent_id             varchar(256) NOT NULL,
    name                 varchar(256) NOT NULL,
    description          text,
    enabled              boolean      NOT NULL DEFAULT true,
    cron_expression      varchar(256),
    cron_timezone        varchar(64)  NOT NULL DEFAULT 'UTC',
    run_at               timestamptz,
    payload              jsonb,
    message_template     text,
    max_retries          integer      NOT NULL DEFAULT 1,
    retry_delay_seconds  integer      NOT NULL DEFAULT 60,
    timeout_seconds      integer      NOT NULL DEFAULT 780,
    misfire_policy       varchar(16)  NOT NULL DEFAULT 'latest',
    run_as_user_id       varchar(256),
    created_by           varchar(256),
    ref                  varchar(256) NOT NULL DEFAULT 'main',
    next_run_at          timestamptz,
    schedule_error       text,
    created_at           timestamptz  NOT NULL DEFAULT now(),
    updated_at           timestamptz  NOT NULL DEFAULT now(),
    -- Ours, not in SPEC §1: true once the one-time slot run_at has been recorded, so a fired
    -- one-time trigger (next_run_at NULL for good) leaves the heal index instead of being
    -- looked at by every cycle. Reset with next_run_at when the schedule changes.
    run_at_recorded      boolean      NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT scheduled_triggers_exactly_one_schedule
        CHECK ((cron_expression IS NULL) <> (run_at IS NULL)),
    CONSTRAINT scheduled_triggers_max_retries_range
        CHECK (max_retries BETWEEN 0 AND 10),
    CONSTRAINT scheduled_triggers_retry_delay_range
        CHECK (retry_delay_seconds BETWEEN 10 AND 3600),
    CONSTRAINT scheduled_triggers_timeout_range
        CHECK (timeout_seconds BETWEEN 30 AND 86400),
    CONSTRAINT scheduled_triggers_misfire_policy_known
        CHECK (misfire_policy IN ('latest', 'all', 'skip'))
);

-- Claim (SPEC §2.3): enabled rows with next_run_at <= now(), oldest first.
CREATE INDEX scheduled_triggers_due
    ON scheduled_triggers (next_run_at)
    WHERE enabled AND next_run_at IS NOT NULL;

-- Heal (SPEC §2.2): enabled rows nobody has scheduled yet and that have no error.
-- Normally empty, so the heal costs O(unscheduled rows), not O(table).
CREATE INDEX scheduled_triggers_unscheduled
    ON scheduled_triggers (tenant_id, id)
    WHERE enabled AND next_run_at IS NULL AND schedule_error IS NULL AND NOT run_at_recorded;

-- Triggers whose schedule cannot be computed, for `status` and the metrics gauge:
-- normally empty, so counting them costs O(errors), not O(table).
CREATE INDEX scheduled_triggers_schedule_errors
    ON scheduled_triggers (tenant_id, id)
    WHERE schedule_error IS NOT NULL;

CREATE TABLE scheduled_trigger_invocations (
    tenant_id             varchar(256) NOT NULL,
    id                    varchar(256) NOT NULL,
    project_id            varchar(256) NOT NULL,
    agent_id              varchar(256) NOT NULL,
    scheduled_trigger_id  varchar(256) NOT NULL,
    ref                   varchar(256) NOT NULL,
    status                varchar(50)  NOT NULL,
    scheduled_for         timestamptz  NOT NULL,
    idempotency_key       varchar(512) NOT NULL,
    attempt_number        integer      NOT NULL DEFAULT 1,
    next_attempt_at       timestamptz,
    lease_expires_at      timestamptz,
    execution_id          varchar(256),
    resolved_payload      jsonb,
    conversation_ids      jsonb        NOT NULL DEFAULT '[]',
    last_error            text,
    last_http_status      integer,
    started_at            timestamptz,
    completed_at          timestamptz,
    created_at            timestamptz  NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT scheduled_trigger_invocations_status_known
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    -- Per tenant: a key unique across tenants would let equal trigger ids collide.
    CONSTRAINT scheduled_trigger_invocations_idempotency_key_unique
        UNIQUE (tenant_id, idempotency_key)
);

-- Execute (SPEC §2.4): pending invocations whose next_attempt_at is NULL or passed.
-- coalesce(next_attempt_at, created_at) is also the lag `status` reports, so one
-- ordered range scan finds the runnable ones oldest first.
CREATE INDEX scheduled_trigger_invocations_runnable
    ON scheduled_trigger_invocations ((coalesce(next_attempt_at, created_at)))
    WHERE status = 'pending';

-- Expired leases (crashed dispatchers) and reconcile checks (SPEC §2.4, §2.5).
CREATE INDEX scheduled_trigger_invocations_leases
    ON scheduled_trigger_invocations (lease_expires_at)
    WHERE status = 'running';

-- Per-trigger history: cancelling a trigger's pending runs, listing, one-time heal checks.
CREATE INDEX scheduled_trigger_invocations_by_trigger
    ON scheduled_trigger_invocations (tenant_id, scheduled_trigger_id, scheduled_for);

-- SPEC §1: whoever changes a schedule (SQL, an API, the CLI), the next heal recomputes it.
CREATE FUNCTION scheduled_triggers_reset_schedule() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.cron_expression IS DISTINCT FROM OLD.cron_expression
       OR NEW.cron_timezone IS DISTINCT FROM OLD.cron_timezone
       OR NEW.run_at IS DISTINCT FROM OLD.run_at
       OR NEW.enabled IS DISTINCT FROM OLD.enabled THEN
        NEW.next_run_at := NULL;
        NEW.schedule_error := NULL;
        NEW.run_at_recorded := false;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER scheduled_triggers_reset_schedule
    BEFORE UPDATE ON scheduled_triggers
    FOR EACH ROW
    EXECUTE FUNCTION scheduled_triggers_reset_schedule();
