/// Why a cron expression, time zone or slot was rejected. The message names the field and the problem,
/// for example `cron field 2 (hour): 24 is out of range 0-23`; `kind` says which sort of problem it is,
/// so callers branch on it instead of reading the message.
public struct ScheduleError: Error, CustomStringConvertible, Sendable, Equatable {
    /// Which sort of problem: stable for callers; the message is for people.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// The expression (or other input) cannot be read: field count, an unknown name or macro,
        /// an empty list element, a malformed value or step.
        case syntax
        /// A value outside its field's range, a reversed range, a step of 0.
        case range
        /// Recognised but not supported: seconds fields, `L`, `W`, `#`, `?`, `@reboot`.
        case unsupported
        /// A valid expression that has no slot: a day that no selected month has (`0 0 31 2 *`),
        /// or a zone whose clock changes skip every matching wall time.
        case neverFires
        /// Not an IANA zone name of the tz database, or its file cannot be used.
        case unknownZone
        /// The slot (or a one-time `run_at`) would lie outside the years 1-9999.
        case yearOutOfRange
    }

    public var kind: Kind
    public var message: String
    /// True when the message already names what to write instead (`did you mean Europe/Berlin?`,
    /// `e.g. Europe/Berlin`), so a caller adding its own example should not.
    public var suggestsFix: Bool

    public init(_ kind: Kind, _ message: String, suggestsFix: Bool = false) {
        self.kind = kind
        self.message = message
        self.suggestsFix = suggestsFix
    }

    /// An error about input that cannot be read (kind `.syntax`).
    public init(_ message: String) { self.init(.syntax, message) }

    /// Two errors are equal when they say the same thing: kind and message.
    public static func == (lhs: ScheduleError, rhs: ScheduleError) -> Bool {
        lhs.kind == rhs.kind && lhs.message == rhs.message
    }

    public var description: String { message }
}
