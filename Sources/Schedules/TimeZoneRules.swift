#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Synchronization

/// The UTC offsets of one IANA time zone, read from the system's tz database (TZif files,
/// RFC 8536, under `TZDIR` or `/usr/share/zoneinfo`). Loaded zones are cached for the process.
public final class TimeZoneRules: Sendable {
    public let name: String

    /// Transition instants, ascending, followed by transitions generated from the footer rule
    /// up to `generatedThrough`.
    let transitions: [Int64]
    /// `offsets[i]` applies from `transitions[i]` until the next transition.
    let offsets: [Int32]
    /// The offset before the first transition.
    let initialOffset: Int32
    /// Rule for instants at or after `generatedThrough` (computed on the fly).
    let rule: PosixTimeZoneRule?
    let generatedThrough: Int64
    /// Smallest and largest offsets the zone ever uses.
    let minimumOffset: Int
    let maximumOffset: Int

    /// Footer-rule transitions are precomputed up to the start of this year.
    private static let generatedYears = 2200

    init(name: String, transitions: [Int64], offsets: [Int32], initialOffset: Int32, rule: PosixTimeZoneRule?) {
        self.name = name
        var transitions = transitions
        var offsets = offsets
        var rule = rule
        if let footer = rule, footer.daylight == nil {
            // A fixed offset after the last transition.
            if Int32(footer.standardOffset) != (offsets.last ?? initialOffset) {
                transitions.append((transitions.last ?? Int64.min / 4) + 1)
                offsets.append(Int32(footer.standardOffset))
            }
            rule = nil
        }
        let end = Civil.days(year: Self.generatedYears, month: 1, day: 1) * Civil.secondsPerDay
        if let rule {
            let last = transitions.last ?? Int64.min
            let firstYear = transitions.isEmpty ? 1900 : Civil.date(days: Civil.floorDiv(last, Civil.secondsPerDay)).year
            var generated: [(at: Int64, offset: Int)] = []
            for year in firstYear..<Self.generatedYears { generated += rule.transitions(in: year) }
            var current = offsets.last ?? initialOffset
            for (index, entry) in generated.enumerated() where entry.at > last && entry.at < end {
                // Two transitions at one instant (all-year daylight rules): the later one wins.
                if index + 1 < generated.count, generated[index + 1].at == entry.at { continue }
                guard Int32(entry.offset) != current else { continue }
                transitions.append(entry.at)
                offsets.append(Int32(entry.offset))
                current = Int32(entry.offset)
            }
        }
        self.transitions = transitions
        self.offsets = offsets
        self.initialOffset = initialOffset
        self.rule = rule
        generatedThrough = rule == nil ? Int64.max : end
        var all = offsets.map(Int.init) + [Int(initialOffset)]
        if let rule {
            all.append(rule.standardOffset)
            if let daylight = rule.daylight { all.append(daylight.offset) }
        }
        minimumOffset = all.min() ?? 0
        maximumOffset = all.max() ?? 0
    }

    /// From this instant on the zone's offsets follow its footer rule alone (or stay fixed), so
    /// they repeat every 400 Gregorian years; Int64.min for a zone without clock changes.
    var periodicFrom: Int64 {
        max(rule != nil ? generatedThrough : Int64.min, transitions.last ?? Int64.min)
    }

    /// A zone with one fixed offset.
    static func fixed(name: String, offset: Int) -> TimeZoneRules {
        TimeZoneRules(name: name, transitions: [], offsets: [], initialOffset: Int32(offset), rule: nil)
    }

    /// Seconds east of UTC at `instant`.
    public func utcOffset(at instant: Instant) -> Int {
        period(containing: instant.secondsSinceEpoch).offset
    }

    /// The stretch of constant offset around an instant.
    struct Period {
        /// First instant with `offset` (Int64.min if the zone has no earlier transition).
        var start: Int64
        /// The offset before `start`.
        var previousOffset: Int
        var offset: Int
        /// First instant after the period (Int64.max if none).
        var end: Int64
    }

    @inline(__always)
    func period(containing t: Int64) -> Period {
        if t >= generatedThrough, let rule {
            return Self.period(containing: t, rule: rule)
        }
        // Number of transitions at or before t.
        var low = 0
        var high = transitions.count
        while low < high {
            let mid = (low + high) >> 1
            if transitions[mid] <= t { low = mid + 1 } else { high = mid }
        }
        let end = low < transitions.count ? transitions[low] : generatedThrough
        if low == 0 {
            return Period(start: Int64.min, previousOffset: Int(initialOffset), offset: Int(initialOffset), end: end)
        }
        let previous = low >= 2 ? offsets[low - 2] : initialOffset
        return Period(start: transitions[low - 1], previousOffset: Int(previous), offset: Int(offsets[low - 1]), end: end)
    }

    private static func period(containing t: Int64, rule: PosixTimeZoneRule) -> Period {
        let year = Civil.date(days: Civil.floorDiv(t, Civil.secondsPerDay)).year
        var list: [(at: Int64, offset: Int)] = []
        for y in (year - 1)...(year + 1) { list += rule.transitions(in: y) }
        var index = list.count - 1
        while index > 0, list[index].at > t { index -= 1 }
        let end = index + 1 < list.count ? list[index + 1].at : Int64.max
        let previous = index > 0 ? list[index - 1].offset : rule.standardOffset
        return Period(start: list[index].at, previousOffset: previous, offset: list[index].offset, end: end)
    }

    // MARK: Loading

    private static let cache = Mutex<[String: TimeZoneRules]>([:])

    /// The rules of an IANA zone such as `Europe/Berlin`, loaded once per process.
    /// Throws `unknown time zone "X": …` (kind `.unknownZone`) for names that are not IANA zone
    /// or link names of the tz database: see `load(_:directory:)`.
    public static func named(_ name: String) throws(ScheduleError) -> TimeZoneRules {
        if let cached = cache.withLock({ $0[name] }) { return cached }
        let loaded = try load(name)
        return cache.withLock { cache in
            if let existing = cache[name] { return existing }
            cache[name] = loaded
            return loaded
        }
    }

    private static func load(_ name: String) throws(ScheduleError) -> TimeZoneRules {
        let directory = getenv("TZDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
            ?? "/usr/share/zoneinfo"
        return try load(name, directory: directory)
    }

    /// Loads a zone from a tz database folder, without caching. Only IANA zone and link names
    /// are accepted: those listed (`Zone`/`Link` lines) in the folder's `tzdata.zi` when it has
    /// one; without it, any name but the files that are not zones of their own (`localtime`, the
    /// host's clock, so each host would compute its own schedule; `posixrules`; `Factory`; the
    /// `right/` leap-second and `posix/` copies) and anything that is not a plain relative name.
    /// A file that counts leap seconds is refused either way: slots are POSIX seconds.
    static func load(_ name: String, directory: String) throws(ScheduleError) -> TimeZoneRules {
        try checkName(name, directory: directory)
        if let bytes = readFile(directory + "/" + name) {
            guard let rules = TZif.parse(bytes, name: name) else {
                if TZif.countsLeapSeconds(bytes) {
                    throw unknownZone(name, "its tz file counts leap seconds (a right/ zone); slots use POSIX time")
                }
                throw unknownZone(name, "\(directory)/\(name) is not a readable tz file")
            }
            return rules
        }
        if name == "UTC" || name == "Etc/UTC" {
            return .fixed(name: name, offset: 0)  // usable without tzdata installed
        }
        throw unknownZone(name, "not in the tz database at \(directory)")
    }

    static func unknownZone(_ name: String, _ why: String, suggestsFix: Bool = false) -> ScheduleError {
        ScheduleError(.unknownZone, "unknown time zone \"\(name)\": \(why)", suggestsFix: suggestsFix)
    }

    /// Throws unless `name` is an IANA zone or link name (see `load(_:directory:)`).
    static func checkName(_ name: String, directory: String) throws(ScheduleError) {
        let notIANA = "not an IANA zone name"
        let utf8 = name.utf8
        // IANA names use ASCII letters, digits, '.', '_', '-', '+' and '/' (tz theory.html).
        let plain = !utf8.isEmpty && utf8.count <= 255
            && utf8.allSatisfy { c in
                (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
                    || c == 0x2E || c == 0x5F || c == 0x2D || c == 0x2B || c == 0x2F
            }
        guard plain else { throw unknownZone(name, notIANA) }
        if name.hasPrefix("/") { throw unknownZone(name, "\(notIANA) (an absolute path)") }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        if components.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            throw unknownZone(name, "\(notIANA) (empty, . or .. path component)")
        }
        switch components[0] {
        case "localtime":
            throw unknownZone(name, "\(notIANA) (it is the host's local time; name the zone, e.g. Europe/Berlin)", suggestsFix: true)
        case "posixrules", "Factory":
            throw unknownZone(name, notIANA)
        case "right", "posix":
            let rest = components.dropFirst().joined(separator: "/")
            throw unknownZone(name, "\(notIANA) (\(components[0])/ is a copy of the database\(rest.isEmpty ? "" : "; use \(rest)"))")
        default:
            break
        }
        guard let listed = listedNames(directory: directory) else { return }  // no tzdata.zi: the rules above
        guard !listed.exact.contains(name) else { return }
        if let suggestion = listed.byLowercase[name.lowercased()] {
            throw unknownZone(name, "\(notIANA) (did you mean \(suggestion)?)", suggestsFix: true)
        }
        throw unknownZone(name, notIANA)
    }

    struct ListedNames: Sendable {
        var exact: Set<String> = []
        /// For a suggestion when only the case is wrong.
        var byLowercase: [String: String] = [:]
    }

    /// The `tzdata.zi` listings read so far, by folder (nil: the folder has none).
    private static let listings = Mutex<[String: ListedNames?]>([:])

    /// The zone and link names in `directory/tzdata.zi` (read once per folder and process).
    static func listedNames(directory: String) -> ListedNames? {
        if let known = listings.withLock({ $0[directory] }) { return known }
        let names = readFile(directory + "/tzdata.zi").map(parseListing)
        return listings.withLock { listings in
            if let known = listings[directory] { return known }
            listings[directory] = .some(names)
            return names
        }
    }

    /// Names from zic input: `Zone NAME …` and `Link TARGET NAME`, keywords abbreviated to any
    /// prefix in any case (`Z`, `L` in tzdata.zi). Continuation and Rule lines are skipped.
    static func parseListing(_ bytes: [UInt8]) -> ListedNames {
        var listed = ListedNames()
        let zone = Array("zone".utf8)
        let link = Array("link".utf8)
        for line in bytes.split(separator: 0x0A) {
            // Most lines are Rule or continuation lines: skip them on their first byte.
            guard let first = line.first, first | 0x20 == 0x7A || first | 0x20 == 0x6C else { continue }
            let fields = line.split(whereSeparator: { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D })
            guard fields.count >= 2, fields[0].count <= 4 else { continue }
            let keyword = fields[0].map { $0 | 0x20 }  // ASCII letters to lower case
            let nameField: ArraySlice<UInt8>
            if zone.starts(with: keyword) {
                nameField = fields[1]
            } else if link.starts(with: keyword), fields.count >= 3 {
                nameField = fields[2]
            } else {
                continue
            }
            let name = String(decoding: nameField, as: UTF8.self)
            guard name != "Factory" else { continue }
            listed.exact.insert(name)
            listed.byLowercase[name.lowercased()] = name
        }
        return listed
    }

    private static func readFile(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size < 4 << 20 else {
            return nil
        }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if count == 0 { break }
            bytes += chunk[0..<count]
        }
        return bytes
    }
}

/// RFC 8536 TZif reader: versions 1-3 (and 4), using the 64-bit data block when present.
enum TZif {
    /// True when the file's header announces leap-second records (a `right/` zone, whose
    /// times count leap seconds): such a file is not used.
    static func countsLeapSeconds(_ bytes: [UInt8]) -> Bool {
        var reader = Reader(bytes: bytes)
        return (reader.header()?.leapcnt ?? 0) > 0
    }

    static func parse(_ bytes: [UInt8], name: String) -> TimeZoneRules? {
        var reader = Reader(bytes: bytes)
        guard let header = reader.header(), header.leapcnt == 0 else { return nil }
        if header.version == 0 {
            guard let block = reader.block(header, timeSize: 4) else { return nil }
            return TimeZoneRules(
                name: name, transitions: block.transitions, offsets: block.offsets,
                initialOffset: block.initialOffset, rule: nil)
        }
        guard reader.skipBlock(header, timeSize: 4), let header2 = reader.header(), header2.leapcnt == 0,
            let block = reader.block(header2, timeSize: 8)
        else { return nil }
        var rule: PosixTimeZoneRule?
        if reader.take(1) == [0x0A], let end = bytes[reader.index...].firstIndex(of: 0x0A) {
            let footer = String(decoding: bytes[reader.index..<end], as: UTF8.self)
            if !footer.isEmpty { rule = PosixTimeZoneRule.parse(footer) }
        }
        return TimeZoneRules(
            name: name, transitions: block.transitions, offsets: block.offsets,
            initialOffset: block.initialOffset, rule: rule)
    }

    struct Header {
        var version: UInt8
        var isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt: Int
    }

    struct Block {
        var transitions: [Int64]
        var offsets: [Int32]
        var initialOffset: Int32
    }

    struct Reader {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, index + count <= bytes.count else { return nil }
            defer { index += count }
            return bytes[index..<(index + count)]
        }

        mutating func integer(_ size: Int) -> Int64? {
            guard let raw = take(size) else { return nil }
            var value: UInt64 = 0
            for byte in raw { value = value << 8 | UInt64(byte) }
            if size == 4 { return Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: value))) }
            return Int64(bitPattern: value)
        }

        mutating func header() -> Header? {
            guard let magic = take(4), magic.elementsEqual("TZif".utf8), let version = take(1)?.first,
                take(15) != nil
            else { return nil }
            var counts: [Int] = []
            for _ in 0..<6 {
                guard let count = integer(4), count >= 0, count < 1 << 20 else { return nil }
                counts.append(Int(count))
            }
            let v: UInt8 = version == 0 ? 0 : version &- 0x30
            return Header(
                version: v, isutcnt: counts[0], isstdcnt: counts[1], leapcnt: counts[2],
                timecnt: counts[3], typecnt: counts[4], charcnt: counts[5])
        }

        mutating func skipBlock(_ h: Header, timeSize: Int) -> Bool {
            let size = h.timecnt * timeSize + h.timecnt + h.typecnt * 6 + h.charcnt
                + h.leapcnt * (timeSize + 4) + h.isstdcnt + h.isutcnt
            return take(size) != nil
        }

        mutating func block(_ h: Header, timeSize: Int) -> Block? {
            guard h.typecnt >= 1 else { return nil }
            var times: [Int64] = []
            times.reserveCapacity(h.timecnt)
            for _ in 0..<h.timecnt {
                guard let t = integer(timeSize) else { return nil }
                times.append(t)
            }
            guard let indices = take(h.timecnt) else { return nil }
            var typeOffsets: [Int32] = []
            for _ in 0..<h.typecnt {
                guard let offset = integer(4), take(2) != nil, offset > -26 * 3600, offset < 26 * 3600 else {
                    return nil
                }
                typeOffsets.append(Int32(offset))
            }
            guard take(h.charcnt) != nil, take(h.leapcnt * (timeSize + 4)) != nil,
                take(h.isstdcnt) != nil, take(h.isutcnt) != nil
            else { return nil }
            var offsets: [Int32] = []
            offsets.reserveCapacity(h.timecnt)
            for i in indices {
                guard Int(i) < typeOffsets.count else { return nil }
                offsets.append(typeOffsets[Int(i)])
            }
            for i in times.indices.dropFirst() where times[i] <= times[i - 1] { return nil }
            return Block(transitions: times, offsets: offsets, initialOffset: typeOffsets[0])
        }
    }
}
