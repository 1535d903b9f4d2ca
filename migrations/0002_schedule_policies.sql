-- contract §6: schedule policies (overlap, jitter, pause on failure), run-now and retention.
-- Existing rows keep today's behaviour: overlap 'allow', jitter 0, never paused.

ALTER TABLE scheduled_triggers
    ADD COLUMN overlap_policy varchar(16) NOT NULL DEFAULT 'allow',
    ADD COLUMN jitter_seconds integer NOT NULL DEFAULT 0,
    ADD COLUMN pause_after_failures integer,
    ADD COLUMN paused_reason text,
    -- Ours, not in contract §1: the latest scheduled slot whose invocation retention deleted.
    -- Slots at or before it are never recorded again (backfill leaves them out, the heal
    -- treats a one-time run_at at or before it as fired). NULL: nothing pruned yet.
    ADD COLUMN pruned_through timestamptz,
    ADD CONSTRAINT scheduled_triggers_overlap_policy_known
        CHECK (overlap_policy IN ('allow', 'skip', 'buffer_one')),
    ADD CONSTRAINT scheduled_triggers_jitter_range
        CHECK (jitter_seconds BETWEEN 0 AND 3600),
    ADD CONSTRAINT scheduled_triggers_pause_after_failures_range
        CHECK (pause_after_failures BETWEEN 1 AND 100);

ALTER TABLE scheduled_trigger_invocations
    DROP CONSTRAINT scheduled_trigger_invocations_status_known,
    ADD CONSTRAINT scheduled_trigger_invocations_status_known
        CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled', 'skipped')),
    -- Ours: a buffer_one slot waiting for its turn. The execution claim never takes a held
    -- row; the dispatcher releases the oldest one (held = false) only while holding the
    -- trigger row's lock and seeing no other running or released-but-unfinished invocation
    -- of the trigger, so two of them never run at once (Policies/OverlapGate.swift).
    ADD COLUMN held_by_overlap boolean NOT NULL DEFAULT false;

-- Unfinished invocations per trigger: the overlap decisions at record time and the buffer_one
-- release look at these few rows, never at the trigger's history.
CREATE INDEX scheduled_trigger_invocations_unfinished
    ON scheduled_trigger_invocations (tenant_id, scheduled_trigger_id, scheduled_for)
    WHERE status IN ('pending', 'running');

-- Held buffer_one invocations, oldest runnable first: normally a handful, so finding the
-- ones to release costs O(held), not O(pending).
CREATE INDEX scheduled_trigger_invocations_held
    ON scheduled_trigger_invocations ((coalesce(next_attempt_at, created_at)))
    WHERE status = 'pending' AND held_by_overlap;

-- Retention: finished invocations by the time they finished, oldest first.
CREATE INDEX scheduled_trigger_invocations_finished
    ON scheduled_trigger_invocations ((coalesce(completed_at, created_at)))
    WHERE status IN ('completed', 'failed', 'cancelled', 'skipped');

-- Paused triggers, for `status` and the metrics: normally few.
CREATE INDEX scheduled_triggers_paused
    ON scheduled_triggers (tenant_id, id)
    WHERE paused_reason IS NOT NULL;

-- contract §1: as before, and enabling a trigger clears the reason it was paused for.
CREATE OR REPLACE FUNCTION scheduled_triggers_reset_schedule() RETURNS trigger
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
    IF NEW.enabled AND NOT OLD.enabled THEN
        NEW.paused_reason := NULL;
    END IF;
    RETURN NEW;
END;
$$;
