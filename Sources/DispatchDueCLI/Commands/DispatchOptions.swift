import ArgumentParser
import DispatchCore

/// Options of the record step (contract §2 steps 2–3 and 6).
public struct DispatchOptions: ParsableArguments {
    // Tunables: the flag, else DISPATCH_DUE_<FLAG> (Tunable), else the default.
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: "Due triggers claimed per transaction, 1-10000 (default 500; env DISPATCH_DUE_BATCH_SIZE).")
    var batchSizeFlag: Int?
    public var batchSize: Int { (try? Tunable.number("--batch-size", batchSizeFlag, default: 500, 1...10_000)) ?? 500 }

    @Option(name: .customLong("max-runtime"), parsing: .unconditional, help: ArgumentHelp(
        "Seconds after which the cycle stops claiming work, 1-86400 (default 50; stay under the timer's period; env DISPATCH_DUE_MAX_RUNTIME).", valueName: "S"))
    var maxRuntimeFlag: Double?
    public var maxRuntime: Double {
        (try? Tunable.number("--max-runtime", maxRuntimeFlag, default: 50, 1...86_400, unit: "seconds")) ?? 50
    }

    public init() {}

    public func validate() throws {
        _ = try Tunable.number("--batch-size", batchSizeFlag, default: 500, 1...10_000)
        _ = try Tunable.number("--max-runtime", maxRuntimeFlag, default: 50, 1...86_400, unit: "seconds")
    }

    public var settings: DispatchSettings { DispatchSettings(batchSize: batchSize) }
}
