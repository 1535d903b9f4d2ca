import DispatchCore
import Testing

/// `Logger.with(_:)` and `LogIdentity`: the ids a line is about, set once, written first after the
/// event in contract order, byte for byte as the hand-built fields were (docs/log-events.md).
@Suite("LogIdentity: ids carried by the logger")
struct LogIdentityTests {
    static let clock: @Sendable () -> String = { "2026-03-08T07:00:00.000Z" }

    struct Row: Sendable, CustomTestStringConvertible {
        var identity: LogIdentity
        var json: String
        var text: String
        var testDescription: String { json }
    }

    // Expected lines written by hand: time, level, severity, event, the ids, the line's own field, the context.
    @Test("lines start with the ids, in contract order", arguments: [
        Row(
            identity: LogIdentity(tenant: "acme", project: "p1", agent: "a1", trigger: "t1"),
            json: #"{"time":"2026-03-08T07:00:00.000Z","level":"warning","severity":"WARNING","event":"e","tenant":"acme","project":"p1","agent":"a1","trigger":"t1","error":"x y","cycle":"c1"}"#,
            text: #"2026-03-08T07:00:00.000Z WARNING e tenant=acme project=p1 agent=a1 trigger=t1 error="x y" cycle=c1"#),
        Row(
            // Order is the contract's, not the initializer's; empty ids are written (quoted in text).
            identity: LogIdentity(
                tenant: "acme", project: "", agent: "a1", trigger: "t 1", invocation: "i1", slot: "2026-03-08T07:00:00.000Z"),
            json: #"{"time":"2026-03-08T07:00:00.000Z","level":"warning","severity":"WARNING","event":"e","tenant":"acme","project":"","agent":"a1","trigger":"t 1","invocation":"i1","slot":"2026-03-08T07:00:00.000Z","error":"x y","cycle":"c1"}"#,
            text: #"2026-03-08T07:00:00.000Z WARNING e tenant=acme project="" agent=a1 trigger="t 1" invocation=i1 slot=2026-03-08T07:00:00.000Z error="x y" cycle=c1"#),
        Row(
            // Nil ids are left out.
            identity: LogIdentity(tenant: "acme", trigger: "t1"),
            json: #"{"time":"2026-03-08T07:00:00.000Z","level":"warning","severity":"WARNING","event":"e","tenant":"acme","trigger":"t1","error":"x y","cycle":"c1"}"#,
            text: #"2026-03-08T07:00:00.000Z WARNING e tenant=acme trigger=t1 error="x y" cycle=c1"#),
    ])
    func lines(_ row: Row) {
        for (format, expected) in [(LogFormat.json, row.json), (.text, row.text)] {
            let lines = LineSink()
            let logger = Logger(format: format, sink: { lines.append($0) }, clock: Self.clock, context: [("cycle", "c1")])
            logger.with(row.identity).warning("e", ["error": "x y"])
            #expect(lines.all == [expected])
        }
    }

    @Test("the same line as the fields built by hand")
    func sameAsHandBuilt() {
        let identity = LogIdentity(tenant: "acme", project: "p1", agent: "a1", trigger: "t1", invocation: "i1", slot: "s")
        let byHand = LineSink(), carried = LineSink()
        Logger(format: .json, sink: { byHand.append($0) }, clock: Self.clock).log(.info, "invocation.recorded", fields: [
            ("tenant", "acme"), ("project", "p1"), ("agent", "a1"), ("trigger", "t1"), ("invocation", "i1"), ("slot", "s"),
        ])
        Logger(format: .json, sink: { carried.append($0) }, clock: Self.clock).with(identity).info("invocation.recorded")
        #expect(byHand.all == carried.all)
    }

    @Test("a dropped level writes nothing; metadata stacks")
    func droppedAndStacked() {
        let lines = LineSink()
        let logger = Logger(format: .text, minimumLevel: .info, sink: { lines.append($0) }, clock: Self.clock)
            .with(LogIdentity(tenant: "acme")).with([("trigger", "t1")])
        logger.debug("invocation.jittered", ["delay_seconds": .double(1.5)])
        logger.info("e")
        #expect(lines.all == ["2026-03-08T07:00:00.000Z INFO    e tenant=acme trigger=t1"])
    }
}
