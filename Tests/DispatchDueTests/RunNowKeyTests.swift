import DispatchDueTestSupport
import Testing

@testable import DispatchCore

/// contract §6: a run-now is told from a scheduled slot by its key (`manual_…`, and reruns of
/// it, which keep the prefix). Every statement that cares asks the same question, so the
/// predicate is written once (`RunNow.isRunNowKey`) and the statements use it.
@Suite("run-now key predicate")
struct RunNowKeyTests {
    @Test("the predicate over a column")
    func predicate() {
        #expect(RunNow.isRunNowKey("i.idempotency_key") == #"(i.idempotency_key LIKE 'manual\_%')"#)
    }

    @Test("the statements that tell run-now from scheduled slots use the predicate", arguments: [
        ("cancel on disable", TriggerStore.cancelScheduledPending),
        ("pending slots a schedule change reviews", TriggerStore.selectPendingSlots),
        ("pause cancels scheduled slots", PauseOnFailure.cancelScheduled),
        ("retention watermark", Retention.deleteBatch),
    ])
    func statements(_ name: String, _ sql: String) {
        #expect(sql.contains("NOT " + RunNow.isRunNowKey("idempotency_key")) || sql.contains("NOT " + RunNow.isRunNowKey("i.idempotency_key")),
                "\(name)")
    }

    /// The pattern is spelled once in the sources: a new statement that needs it takes the
    /// named fragment instead of writing its own (slightly different) LIKE.
    @Test("the LIKE pattern is written once in Sources/DispatchCore")
    func writtenOnce() throws {
        let root = ChildProcess.repositoryDirectory + "/Sources/DispatchCore"
        var places: [String] = []
        func walk(_ folder: String) throws {
            for name in try FileSystem.listDirectory(folder).sorted() {
                let path = folder + "/" + name
                if name.hasSuffix(".swift") {
                    let text = try FileSystem.readText(path)
                    let count = text.split(separator: "manual\\\\_", omittingEmptySubsequences: false).count - 1
                    if count > 0 { places.append("\(path.dropFirst(root.count + 1)) ×\(count)") }
                } else if !name.contains(".") {
                    try walk(path)
                }
            }
        }
        try walk(root)
        #expect(places == ["Policies/RunNow.swift ×1"])
    }
}
