/// What one cycle did: the closing log line and the metrics file are made from it.
public struct CycleReport: Sendable {
    // Steps 2–3: heal and record (the dispatch stage).
    /// Rows given a next_run_at by the heal.
    public var healed = 0
    /// Invocation rows inserted (one per slot recorded).
    public var recorded = 0
    /// Slots that misfire policies (`latest`, `skip`) chose not to record.
    public var skippedSlots = 0
    /// Rows that got a schedule_error this cycle.
    public var scheduleErrors = 0
    /// Seconds between the latest recorded slot and the database clock when it was recorded
    /// (how late the dispatcher fired it), the largest of this cycle.
    public var maxSlotLagSeconds: Double = 0

    // Steps 4–5: execution (the execution stage).
    public var posted = 0
    public var accepted = 0
    public var completed = 0
    public var retried = 0
    public var failed = 0
    public var cancelled = 0
    public var released = 0
    public var reconciled = 0
    /// Requests in flight the adaptive limit settled on (issue 14); 0 when nothing was sent.
    public var concurrency = 0

    /// Wall time of the whole cycle, in seconds.
    public var durationSeconds: Double = 0

    // contract §6 policies (Policies/).
    /// Slots recorded `skipped` because of the trigger's overlap policy (not in `recorded`).
    public var skippedByOverlap = 0
    /// Triggers paused after consecutive failures.
    public var paused = 0
    /// Finished invocations deleted by retention.
    public var pruned = 0
    /// Jitter given to the recorded invocations: total and largest delay, in seconds.
    public var jitterDelaySecondsTotal: Double = 0
    public var maxJitterDelaySeconds: Double = 0

    public init() {}
}
