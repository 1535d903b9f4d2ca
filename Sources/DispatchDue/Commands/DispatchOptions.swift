import ArgumentParser

/// Options of the record step (SPEC §2.2–2.3, §2.6).
public struct DispatchOptions: ParsableArguments {
    @Option(help: "Due triggers claimed per transaction.")
    public var batchSize: Int = 500

    @Option(help: "Seconds after which the cycle stops claiming work (stay under the timer's period).")
    public var maxRuntime: Double = 50

    public init() {}

    public func validate() throws {
        guard (1...10_000).contains(batchSize) else {
            throw ValidationError("--batch-size must be between 1 and 10000, got \(batchSize)")
        }
        guard maxRuntime > 0 else { throw ValidationError("--max-runtime must be positive, got \(maxRuntime)") }
    }

    public var settings: DispatchSettings { DispatchSettings(batchSize: batchSize) }
}
