import ArgumentParser

/// Options of the record step (contract §2 steps 2–3 and 6).
public struct DispatchOptions: ParsableArguments {
    @Option(parsing: .unconditional, help: "Due triggers claimed per transaction, 1-10000.")
    public var batchSize: Int = 500

    @Option(parsing: .unconditional, help: ArgumentHelp(
        "Seconds after which the cycle stops claiming work, 1-86400 (stay under the timer's period).", valueName: "S"))
    public var maxRuntime: Double = 50

    public init() {}

    public func validate() throws {
        try NumericFlag.check("--batch-size", batchSize, 1...10_000)
        try NumericFlag.check("--max-runtime", maxRuntime, 1...86_400, unit: "seconds")
    }

    public var settings: DispatchSettings { DispatchSettings(batchSize: batchSize) }
}
