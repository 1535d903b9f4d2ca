import Postgres

/// contract §6: what a trigger does when a slot comes due while an earlier run is unfinished.
public enum OverlapPolicy: String, Sendable, CaseIterable {
    /// Slots never wait for each other.
    case allow
    /// A slot due while the trigger has an unfinished invocation is recorded `skipped`.
    case skip
    /// One at a time, oldest first; at most one waits, further slots are `skipped`.
    case bufferOne = "buffer_one"
}

/// The contract §6 columns of a trigger as `triggers add/update` write them: a statement of its
/// own, run in the same transaction right after the row's insert or update.
enum PolicyColumns {
    public static let jitterRange = 0...3600
    public static let pauseAfterFailuresRange = 1...100

    static let write = """
        UPDATE scheduled_triggers
        SET overlap_policy = $3, jitter_seconds = $4, pause_after_failures = $5
        WHERE tenant_id = $1 AND id = $2
        """

    static func write(_ d: TriggerDefinition, tenant: String, id: String, on connection: borrowing Connection) throws {
        try connection.query(write, [tenant, id, d.overlapPolicy.rawValue, d.jitterSeconds, d.pauseAfterFailures])
    }

    /// The ranges of contract §1; the message names the flag.
    static func validate(jitter: Int?, pauseAfterFailures: Int?) throws(ManagementError) {
        if let jitter { try TriggerDefinition.checkRange("--jitter", jitter, jitterRange, unit: " seconds") }
        if let pauseAfterFailures {
            try TriggerDefinition.checkRange("--pause-after-failures", pauseAfterFailures, pauseAfterFailuresRange, unit: "")
        }
    }
}
