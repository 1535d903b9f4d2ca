// cron-bench: next-slot computations per second for common and rare cron expressions,
// with baselines measured in the same run so results can be compared across machines.
//
//   swift build -c release --package-path Benchmarks/CronBench   (its own package)
//   Benchmarks/CronBench/.build/release/cron-bench [--quick]

import Schedules

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Keeps results alive so the optimizer cannot drop the work.
nonisolated(unsafe) var sink: Int64 = 0

struct Row {
    var name: String
    var calls: Int
    var nanoseconds: UInt64
    var perCall: Double { Double(nanoseconds) / Double(calls) }
    var perSecond: Double { Double(calls) / (Double(nanoseconds) / 1e9) }
}

/// Runs `body(iterations)` until at least `minimum` ns have passed; returns the best of 3 rounds.
func measure(_ name: String, iterations: Int, minimum: UInt64, _ body: (Int) -> Int64) -> Row {
    var best = Row(name: name, calls: 1, nanoseconds: .max)
    for _ in 0..<3 {
        var calls = 0
        let start = monotonicNanoseconds()
        var elapsed: UInt64 = 0
        repeat {
            sink &+= body(iterations)
            calls += iterations
            elapsed = monotonicNanoseconds() - start
        } while elapsed < minimum
        let row = Row(name: name, calls: calls, nanoseconds: elapsed)
        if row.perCall < best.perCall { best = row }
    }
    return best
}

let quick = CommandLine.arguments.contains("--quick")
let minimum: UInt64 = quick ? 50_000_000 : 300_000_000
let start = Instant(year: 2026, month: 1, day: 1)

func schedule(_ expression: String, _ zone: String) -> CronSchedule {
    do {
        return try CronSchedule(expression: expression, timeZone: zone)
    } catch {
        fatalError("cron-bench: \(error)")
    }
}

/// Chained calls: each starts where the previous slot was, as a dispatcher walking forward does.
func chained(_ expression: String, _ zone: String) -> Row {
    let s = schedule(expression, zone)
    return measure("\(expression)  \(zone)  (chained)", iterations: 10_000, minimum: minimum) { n in
        var cursor = start
        var total: Int64 = 0
        for _ in 0..<n {
            guard let next = s.next(after: cursor) else {
                cursor = start
                continue
            }
            total &+= next.secondsSinceEpoch
            cursor = next
        }
        return total
    }
}

/// Independent calls from starts spread over 2026-2100 (about 2.7 days apart, odd seconds).
func scattered(_ expression: String, _ zone: String) -> Row {
    let s = schedule(expression, zone)
    return measure("\(expression)  \(zone)  (scattered)", iterations: 1_000, minimum: minimum) { n in
        var total: Int64 = 0
        for i in 0..<n {
            let after = start.adding(seconds: Int64(i % 10_000) * 234_567)
            total &+= s.next(after: after)?.secondsSinceEpoch ?? 0
        }
        return total
    }
}

var rows: [Row] = []

// Baselines: a trivial integer loop and a zone offset lookup (binary search in the zone table).
rows.append(measure("baseline: xorshift step", iterations: 100_000, minimum: minimum) { n in
    var x: UInt64 = 0x9E37_79B9_7F4A_7C15
    for _ in 0..<n {
        x ^= x << 13
        x ^= x >> 7
        x ^= x << 17
    }
    return Int64(bitPattern: x)
})
let berlin: TimeZoneRules
do { berlin = try TimeZoneRules.named("Europe/Berlin") } catch { fatalError("cron-bench: \(error)") }
rows.append(measure("baseline: utcOffset  Europe/Berlin", iterations: 100_000, minimum: minimum) { n in
    var total: Int64 = 0
    for i in 0..<n {
        total &+= Int64(berlin.utcOffset(at: start.adding(seconds: Int64(i) * 301)))
    }
    return total
})

rows.append(chained("*/5 * * * *", "Europe/Berlin"))
rows.append(chained("0 9 * * 1-5", "Europe/Berlin"))
rows.append(chained("30 2 * * *", "America/New_York"))
rows.append(chained("@hourly", "UTC"))
rows.append(scattered("*/5 * * * *", "Europe/Berlin"))
rows.append(scattered("0 9 * * 1-5", "Europe/Berlin"))
// Rare ones. `0 0 29 2 1` ORs the day fields (contract §3): February Mondays or Feb 29.
rows.append(scattered("0 0 29 2 1", "Europe/Berlin"))
rows.append(scattered("0 0 29 2 *", "Europe/Berlin"))
// Feb 29 on a Sunday (day of week */7 starts with `*`, so ANDed): 28 or 40 years apart (2088 -> 2128),
// found by one call however far (the search proves a 400-year Gregorian cycle, contract §3).
rows.append(scattered("0 0 29 2 */7", "Europe/Berlin"))
rows.append(scattered("0 0 29 2 */7", "UTC"))

let reference = rows[1].perCall
func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}
func padLeft(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : String(repeating: " ", count: width - text.count) + text
}
func fixed(_ value: Double, _ decimals: Int) -> String {
    var scale = 1.0
    for _ in 0..<decimals { scale *= 10 }
    let rounded = (value * scale).rounded() / scale
    var text = String(rounded)
    if let dot = text.firstIndex(of: ".") {
        let have = text.distance(from: dot, to: text.endIndex) - 1
        if have < decimals { text += String(repeating: "0", count: decimals - have) }
    }
    return text
}

print(pad("case", 48) + padLeft("ns/call", 10) + padLeft("µs/call", 10) + padLeft("calls/s", 14) + padLeft("× utcOffset", 13))
print(String(repeating: "-", count: 95))
for row in rows {
    print(
        pad(row.name, 48) + padLeft(fixed(row.perCall, 1), 10) + padLeft(fixed(row.perCall / 1000, 3), 10)
            + padLeft(String(Int(row.perSecond)), 14) + padLeft(fixed(row.perCall / reference, 1), 13))
}
if sink == 42 { print("") }
