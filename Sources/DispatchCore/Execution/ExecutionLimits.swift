/// What the execution stage accepts from tenants and from the endpoint. Each bound keeps one
/// row or one answer from costing memory, time or a batch for everybody else (issue 11).
public enum ExecutionLimits {
    /// `resolved_payload` as jsonb text: larger ones are never transferred by the claim
    /// (only their size), and the invocation fails.
    public static let payloadBytes = 262_144
    /// `message_template`: same treatment.
    public static let templateBytes = 65_536
    /// The rendered message: rendering stops as soon as the output passes it.
    public static let messageBytes = MessageRendering.maximumBytes
    /// `x-workflow-run-id` and `conversationId`: 1–256 bytes of printable ASCII.
    public static let identifierBytes = 256
    /// The response header section; a longer one is a transport failure (retried).
    public static let headerSectionBytes = 65_536
    /// Response body kept for `last_error`.
    public static let errorBodyBytes = 1024
    /// A status GET body read at most; longer is an unreadable status (asked again later).
    public static let statusBodyBytes = 65_536
    /// `last_error` as stored, whatever produced it.
    public static let lastErrorBytes = 2048
    /// `Retry-After` honoured up to this many seconds from now; later values are capped.
    public static let retryAfterCapSeconds = 3600.0
    /// The response headers the rules read; every other header is dropped on arrival.
    public static let keptHeaders: Set<String> = ["x-workflow-run-id", "retry-after", "location"]
}
