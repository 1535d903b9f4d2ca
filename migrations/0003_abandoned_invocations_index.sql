-- Crashed dispatchers' invocations (running, no execution_id, lease passed: contract §2 step 4)
-- are found by the runnable claim, the work check and `status`. They are normally a handful,
-- but the leases index holds every running execution: during a burst of accepted runs each
-- claim scanned it, so the claim's cost grew with the runs in progress (make bench: 20,000
-- triggers took 4x the time of 10,000). This index holds only the rows those queries want.
CREATE INDEX scheduled_trigger_invocations_abandoned
    ON scheduled_trigger_invocations (lease_expires_at)
    WHERE status = 'running' AND execution_id IS NULL;
