@testable import DispatchCore
import Testing

/// `Retry-After` (RFC 9110 §10.2.3), as contract §4.2 honours it on a 429: delay-seconds or an
/// HTTP date, counted from the claim's database time, at most one hour. In-process.
@Suite("Execution Retry-After: seconds or an HTTP date, capped at an hour")
struct ExecutionRetryAfterTests {
    @Test(
        "parsing",
        arguments: [
            ("120", RetryAfter.seconds(120)),
            ("0", .seconds(0)),
            (" 7 ", .seconds(7)),
            // Leading zeros do not shift digits out; many digits saturate instead of wrapping.
            ("000000000000001234", .seconds(1234)),
            ("99999999999999999999999", .seconds(1e12)),
            ("-5", nil),
            ("1.5", nil),
            ("", nil),
            ("soon", nil),
            ("12 s", nil),
            // The RFC's example instant, and the last second of year 9999.
            ("Sun, 06 Nov 1994 08:49:37 GMT", .date(784_111_777)),
            ("Fri, 31 Dec 9999 23:59:59 GMT", .date(253_402_300_799)),
            // 2024 is a leap year: 1,704,067,200 (2024-01-01) + 59 days.
            ("Thu, 29 Feb 2024 00:00:00 GMT", .date(1_709_164_800)),
            ("Wed, 29 Feb 2023 00:00:00 GMT", nil),
            ("Tue, 31 Feb 2026 00:00:00 GMT", nil),
            ("Sat, 01 Jan 0000 00:00:00 GMT", nil),
            ("Sun, 06 Nov 1994 24:00:00 GMT", nil),
            ("Sun, 06 Nov 1994 08:49:37 UTC", nil),
            // The obsolete RFC 850 and asctime forms are not read (servers must send IMF-fixdate).
            ("Sunday, 06-Nov-94 08:49:37 GMT", nil),
            ("Sun Nov  6 08:49:37 1994", nil),
            ("Sun, 06 Nov 19945 08:49:37 GMT", nil),
        ] as [(String, RetryAfter?)])
    func parsing(header: String, expected: RetryAfter?) {
        #expect(RetryAfter.parse(header) == expected)
    }

    @Test(
        "the delay from the claim's database time, at most 3,600 s",
        arguments: [
            // (value, now, delay, capped)
            (RetryAfter.seconds(0), 0.0, 0.0, false),
            (.seconds(3600), 0, 3600, false),
            (.seconds(3601), 0, 3600, true),
            (.seconds(1e12), 0, 3600, true),
            (.date(1900), 1000, 900, false),
            (.date(500), 1000, 0, false),
            (.date(4600), 1000, 3600, false),
            (.date(4601), 1000, 3600, true),
            (.date(253_402_300_799), RuleFixture.claimedAt, 3600, true),
        ])
    func cap(value: RetryAfter, now: Double, delay: Double, capped: Bool) {
        let wait = value.delay(now: now)
        #expect(wait.seconds == delay)
        #expect(wait.capped == capped)
    }

    @Test(
        "a 429's Retry-After against the backoff (10 s on attempt 1)",
        arguments: [
            // (header, delay, error suffix)
            ("120", 120.0, ""),
            ("10", 10, ""),
            ("3", 10, ""),
            ("3600", 3600, ""),
            ("3601", 3600, " (Retry-After of 3601 s capped at 3600 s)"),
            ("99999999999999999999999", 3600, " (Retry-After of 1000000000000 s capped at 3600 s)"),
            // 2026-01-01T00:15:00Z is 900 s after the claim; a date in the past asks for no wait.
            ("Thu, 01 Jan 2026 00:15:00 GMT", 900, ""),
            ("Sun, 06 Nov 1994 08:49:37 GMT", 10, ""),
            ("Fri, 31 Dec 9999 23:59:59 GMT", 3600,
             " (Retry-After of 251635075199 s capped at 3600 s)"),
            ("garbage", 10, ""),
        ])
    func againstBackoff(header: String, delay: Double, suffix: String) {
        let outcome = RuleFixture.rules.outcome(
            for: RuleFixture.run(), RuleFixture.response(429, [("retry-after", header)]))
        #expect(outcome.action == .retry)
        #expect(outcome.delaySeconds == delay)
        #expect(outcome.error == "HTTP 429: " + RuleFixture.body + suffix)
    }
}
