/// Why a cron expression or time zone was rejected. The message names the field and the problem,
/// for example `cron field 2 (hour): 24 is out of range 0-23`.
public struct ScheduleError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}
