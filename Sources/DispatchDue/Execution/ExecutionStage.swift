import ArgumentParser
import Postgres

/// Endpoint options (SPEC §4, §5). Placeholder until the execution stage lands.
public struct ExecutionOptions: ParsableArguments {
    public init() {}
}

/// Steps 4–5 of SPEC §2: post runnable invocations and reconcile running ones.
/// Placeholder until the execution stage lands: recorded invocations stay `pending`.
public struct ExecutionStage {
    public init(options: ExecutionOptions, logger: Logger) {}

    public func run(on connection: borrowing Connection, deadline: CycleDeadline, report: inout CycleReport) throws {}
}
