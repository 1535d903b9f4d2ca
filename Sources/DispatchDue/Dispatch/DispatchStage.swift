import Postgres

public struct DispatchSettings: Sendable {
    public var batchSize: Int
    public init(batchSize: Int = 500) { self.batchSize = batchSize }
}

/// Steps 1–3 of SPEC §2. (Being written.)
public struct DispatchStage {
    let settings: DispatchSettings
    let logger: Logger

    public init(options: DispatchSettings, logger: Logger) {
        self.settings = options
        self.logger = logger
    }

    public func run(on connection: borrowing Connection, deadline: CycleDeadline, report: inout CycleReport) throws {}

    public func preview(on connection: borrowing Connection, output: (String) -> Void) throws {}
}
