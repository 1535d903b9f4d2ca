import Postgres

/// contract §6 history: finished invocations (`completed`, `failed`, `cancelled`, `skipped`) whose
/// `completed_at` (or `created_at` when NULL) is older than the retention are deleted, in
/// batches of at most `batchSize` rows per statement, oldest first, each trigger's most
/// recent finished invocation (by scheduled_for) kept.
///
/// A pruned slot never fires again: each batch raises the trigger's `pruned_through` to the
/// latest slot (not a run-now) it deleted, in the same statement. Backfill leaves
/// out slots at or before it, and the heal treats a one-time `run_at` at or before it as fired.
public struct Retention {
    /// Seconds; 0 keeps everything.
    public var retentionSeconds: Int64
    public var batchSize: Int
    /// Seconds all batches together may take (a cycle stays short; the rest waits for the
    /// next cycle): batches are sized from the measured rate to fit. nil: until nothing is left.
    public var timeBudgetSeconds: Double?

    public static let defaultRetentionSeconds: Int64 = 30 * 86_400
    public static let defaultBatchSize = 10_000
    public static let cycleTimeBudgetSeconds = 0.5
    /// Under a time budget: the first batch, and the smallest worth a statement.
    static let firstBudgetedBatch = 1_000
    static let smallestBatch = 100

    public init(retentionSeconds: Int64, batchSize: Int = Retention.defaultBatchSize, timeBudgetSeconds: Double?) {
        self.retentionSeconds = retentionSeconds
        self.batchSize = batchSize
        self.timeBudgetSeconds = timeBudgetSeconds
    }

    /// What one prune did (or, dry run, would do).
    public struct Result: Sendable, Equatable {
        public var deleted = 0
        public var batches = 0
        /// False when the time budget stopped it before the expired history was gone.
        public var complete = true
        public init() {}
    }

    /// The expired finished rows that are not their trigger's most recent finished one.
    /// Locked `SKIP LOCKED` so concurrent dispatchers prune different rows.
    static let expired = """
        SELECT c.tenant_id, c.id
        FROM scheduled_trigger_invocations c
        WHERE c.status IN ('completed', 'failed', 'cancelled', 'skipped')
          AND coalesce(c.completed_at, c.created_at) < now() - make_interval(secs => $1::float8)
          AND EXISTS (SELECT 1 FROM scheduled_trigger_invocations n
                      WHERE n.tenant_id = c.tenant_id AND n.scheduled_trigger_id = c.scheduled_trigger_id
                        AND n.status IN ('completed', 'failed', 'cancelled', 'skipped')
                        AND (n.scheduled_for, n.created_at, n.id) > (c.scheduled_for, c.created_at, c.id))
        ORDER BY coalesce(c.completed_at, c.created_at)
        LIMIT $2
        """

    static let deleteBatch = """
        WITH doomed AS (
            \(expired)
            FOR UPDATE OF c SKIP LOCKED
        ), deleted AS (
            DELETE FROM scheduled_trigger_invocations i
            USING doomed d
            WHERE i.tenant_id = d.tenant_id AND i.id = d.id
            RETURNING i.tenant_id, i.scheduled_trigger_id, i.scheduled_for, i.idempotency_key
        ), through AS (
            SELECT tenant_id, scheduled_trigger_id, max(scheduled_for) AS through
            FROM deleted WHERE NOT \(RunNow.isRunNowKey("idempotency_key"))
            GROUP BY tenant_id, scheduled_trigger_id
        ), locked AS (
            -- Trigger rows locked in key order: concurrent dispatchers pruning rows of the same
            -- triggers then wait for each other instead of deadlocking on the order the
            -- UPDATE's join happens to visit them.
            SELECT t.tenant_id, t.id, m.through
            FROM scheduled_triggers t
            JOIN through m ON t.tenant_id = m.tenant_id AND t.id = m.scheduled_trigger_id
            -- A watermark that would not rise is left alone: no row version, no lock.
            WHERE t.pruned_through IS NULL OR t.pruned_through < m.through
            ORDER BY t.tenant_id, t.id
            FOR UPDATE OF t
        ), marks AS (
            UPDATE scheduled_triggers t
            SET pruned_through = greatest(t.pruned_through, l.through)
            FROM locked l
            WHERE t.tenant_id = l.tenant_id AND t.id = l.id
        )
        SELECT count(*) AS n FROM deleted
        """

    static let countExpired = "SELECT count(*) AS n FROM (\(expired)) e"

    public func run(on connection: borrowing Connection, dryRun: Bool = false, logger: Logger) throws -> Result {
        var result = Result()
        guard retentionSeconds > 0 else { return result }
        if dryRun {
            result.deleted = try connection.query(Self.countExpired, [String(retentionSeconds), Int.max]).first?.int("n") ?? 0
            return result
        }
        // The batch statement's estimated cost on a large history is over jit_above_cost, so
        // PostgreSQL compiled it every cycle: ~70 ms with nothing to delete, 0.4 ms without JIT
        // (make bench, retention, 9,000,000 rows). The dispatcher's statements are all small.
        try connection.query("SELECT set_config('jit', 'off', false)")
        let started = WallClock.monotonicSeconds()
        // Under a time budget one batch must fit in what is left of it: a batch of 10,000 rows
        // took 0.9-3 s on a 10,000,000-row history (make bench, retention), so the first batch
        // is small and the next ones are sized from the rate measured so far.
        var size = timeBudgetSeconds == nil ? batchSize : min(batchSize, Self.firstBudgetedBatch)
        while true {
            let batchStarted = WallClock.monotonicSeconds()
            let deleted = try connection.query(Self.deleteBatch, [String(retentionSeconds), size]).first?.int("n") ?? 0
            result.batches += 1
            result.deleted += deleted
            if deleted < size { break }
            guard let budget = timeBudgetSeconds else { continue }
            let now = WallClock.monotonicSeconds()
            let left = budget - (now - started)
            let rowsPerSecond = Double(deleted) / max(now - batchStarted, 0.001)
            // Aim at 80% of what is left, so the estimate's error stays inside the budget.
            let next = Int(min(Double(batchSize), rowsPerSecond * left * 0.8))
            if next < Self.smallestBatch {
                result.complete = false
                break
            }
            size = next
        }
        if result.deleted > 0 || !result.complete {
            logger.info("invocations.pruned", [
                "deleted": .int(result.deleted), "batches": .int(result.batches),
                "retention_seconds": .int(Int(retentionSeconds)), "complete": .bool(result.complete),
            ])
        }
        return result
    }
}

/// `--retention` values: `0` (keep everything), or a whole number with a unit `s`, `m`, `h`,
/// `d` (30d, 12h, 90m, 3600s). Any other bare number is refused: `--retention 30` meant as days
/// would otherwise delete all but the newest finished invocation of every trigger.
public enum RetentionDuration {
    public static func parse(_ text: String) -> Int64? {
        if text == "0" { return 0 }
        guard let last = text.last else { return nil }
        let units: [Character: Int64] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        guard let unit = units[last] else { return nil }
        let digits = text.dropLast()
        guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), digits.count <= 12,
              let value = Int64(digits)
        else { return nil }
        let (seconds, overflow) = value.multipliedReportingOverflow(by: unit)
        // Beyond ~31,000 years there is nothing left to keep apart; refuse rather than overflow.
        guard !overflow, seconds <= 1_000_000_000_000 else { return nil }
        return seconds
    }
}

/// What backfill's per-trigger line adds for contract §6 (empty when nothing applies).
package enum BackfillPolicyText {
    package static func suffix(_ result: BackfillResult) -> String {
        var parts: [String] = []
        if result.skippedByOverlap > 0 { parts.append("\(result.skippedByOverlap) of them skipped by the overlap policy") }
        if result.pruned > 0 { parts.append("left out \(result.pruned) slot(s) already pruned by retention") }
        return parts.isEmpty ? "" : "; " + parts.joined(separator: "; ")
    }
}
