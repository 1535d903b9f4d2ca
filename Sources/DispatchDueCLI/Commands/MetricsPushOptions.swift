import ArgumentParser
import DispatchCore

/// `run`'s metrics push options (a Prometheus Pushgateway; docs/metrics.md).
public struct MetricsPushOptions: ParsableArguments {
    @Option(
        name: .customLong("metrics-push"),
        help: ArgumentHelp(
            "After the cycle, PUT its metrics to this Prometheus Pushgateway (job dispatch-due; env DISPATCH_DUE_METRICS_PUSH).",
            valueName: "URL"))
    var pushFlag: String?

    @Option(
        name: .customLong("metrics-instance"),
        help: ArgumentHelp(
            "The instance label of the push (default: the host name; on Kubernetes give a stable one, not the pod name; env DISPATCH_DUE_METRICS_INSTANCE).",
            valueName: "NAME"))
    var instanceFlag: String?

    public init() {}

    /// The push to make after the cycle, or nil. Throws `configuration` (exit 78) for an
    /// unusable URL or instance: checked before any work is claimed.
    public func push(caFile: String?) throws(DispatchFailure) -> MetricsPush? {
        guard let raw = Tunable.string("--metrics-push", pushFlag) else { return nil }
        let origin = pushFlag == nil ? Tunable.variable(for: "--metrics-push") : "--metrics-push"
        let url = try MetricsPush.checkURL(raw, origin: origin)
        let instance = Tunable.string("--metrics-instance", instanceFlag) ?? MetricsPush.hostName()
        try MetricsPush.checkInstance(
            instance, origin: instanceFlag == nil ? Tunable.variable(for: "--metrics-instance") : "--metrics-instance")
        return MetricsPush(baseURL: url, instance: instance, caFile: caFile)
    }
}

extension RunCommand {
    /// `--metrics-file`, else DISPATCH_DUE_METRICS_FILE.
    var metricsPath: String? { Tunable.string("--metrics-file", metricsFile) }

    /// The metrics writer of this cycle, or nil when neither a file nor a push is asked for.
    func metricsWriter(logger: Logger) -> CycleMetrics? {
        let push = try? metricsPush.push(caFile: execution.caCertificate)
        guard metricsPath != nil || push != nil else { return nil }
        return CycleMetrics(path: metricsPath, push: push, logger: logger)
    }
}
