#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
@testable import Schedules
import Testing

// Issue 11 item 7: only IANA zone and link names of the tz database are zones. The system
// database (Debian's tzdata, /usr/share/zoneinfo) ships tzdata.zi, whose Z (Zone) and L (Link)
// lines list every zone and link name; files such as localtime (-> /etc/localtime, the host's
// clock), posixrules, Factory (a Z line, refused by name), right/… (leap seconds) and posix/…
// (copies) are not zones of their own.
@Suite struct ZoneNames {
    static let database = "/usr/share/zoneinfo"

    @Test(arguments: [
        // Canonical zones (Z lines) ...
        "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/UTC", "Etc/GMT-14", "EST5EDT",
        // ... and links (L lines): L Etc/UTC UTC, L America/Los_Angeles US/Pacific,
        // L Etc/GMT GMT+0, L America/Argentina/Catamarca America/Argentina/ComodRivadavia.
        "UTC", "US/Pacific", "GMT+0", "America/Argentina/ComodRivadavia",
    ])
    func acceptsIANANames(_ name: String) throws {
        let zone = try TimeZoneRules.load(name, directory: Self.database)
        #expect(zone.name == name)
    }

    @Test func everyListedNameLoads() throws {
        // No false refusals: every Zone and Link name the system's tzdata.zi lists is a usable
        // zone (none of Debian's main files carries leap-second records). Skipped without it.
        guard let listed = TimeZoneRules.listedNames(directory: Self.database) else { return }
        #expect(listed.exact.count > 500)
        var refused: [String] = []
        for name in listed.exact.sorted() {
            do throws(ScheduleError) {
                _ = try TimeZoneRules.load(name, directory: Self.database)
            } catch {
                refused.append(error.message)
            }
        }
        #expect(refused == [])
    }

    @Test(arguments: [
        ("localtime", "not an IANA zone name (it is the host's local time; name the zone, e.g. Europe/Berlin)"),
        ("posixrules", "not an IANA zone name"),
        ("Factory", "not an IANA zone name"),
        ("right/Europe/Berlin", "not an IANA zone name (right/ is a copy of the database; use Europe/Berlin)"),
        ("posix/Europe/Berlin", "not an IANA zone name (posix/ is a copy of the database; use Europe/Berlin)"),
        ("right", "not an IANA zone name (right/ is a copy of the database)"),
        ("/etc/localtime", "not an IANA zone name (an absolute path)"),
        ("Europe/../../../etc/passwd", "not an IANA zone name (empty, . or .. path component)"),
        ("Europe//Berlin", "not an IANA zone name (empty, . or .. path component)"),
        ("./UTC", "not an IANA zone name (empty, . or .. path component)"),
        ("Europe/Berlin/", "not an IANA zone name (empty, . or .. path component)"),
        ("Europe/Berlin ", "not an IANA zone name"),
        ("Europe/Berlin\n", "not an IANA zone name"),
        ("Europe/Berlin\0", "not an IANA zone name"),
        ("Europe\\Berlin", "not an IANA zone name"),
        ("tzdata.zi", "not an IANA zone name"),
        ("leapseconds", "not an IANA zone name"),
        ("iso3166.tab", "not an IANA zone name"),
        ("Europe", "not an IANA zone name"),
        ("Mars/Olympus", "not an IANA zone name"),
        // Names are case-sensitive; the listing offers the right spelling.
        ("europe/berlin", "not an IANA zone name (did you mean Europe/Berlin?)"),
        ("utc", "not an IANA zone name (did you mean UTC?)"),
    ])
    func refusesOtherNames(_ name: String, _ why: String) {
        let expected = ScheduleError(.unknownZone, "unknown time zone \"\(name)\": \(why)")
        #expect(throws: expected) { try TimeZoneRules.load(name, directory: Self.database) }
    }

    @Test func zoneErrorsAreScheduleErrorsOfCronAndNamed() {
        // The same check guards the cached public entry point and CronSchedule.
        let expected = ScheduleError(.unknownZone, "unknown time zone \"localtime\": not an IANA zone name (it is the host's local time; name the zone, e.g. Europe/Berlin)")
        #expect(throws: expected) { try TimeZoneRules.named("localtime") }
        #expect(throws: expected) { try CronSchedule(expression: "0 9 * * *", timeZone: "localtime") }
    }

    @Test func listingReadsZoneAndLinkLines() {
        // zic input: keywords in full or abbreviated, any case; continuation lines start with
        // the offset; Rule lines and comments carry no names; Factory is never listed.
        let text = """
            # version test
            R d 1916 o - Jun 14 23s 1 S
            Z Test/Zone 1 - CET
            2 - CEST 2000
            Zone\tTest/Tabbed 0 - UTC
            zo Test/Lower 0 - UTC
            L Test/Zone Test/Link
            Link Test/Zone Test/Alias
            Z Factory 0 - -00
            Leap 2016 Dec 31 23:59:60 + S

            """
        let listed = TimeZoneRules.parseListing(Array(text.utf8))
        #expect(listed.exact == ["Test/Zone", "Test/Tabbed", "Test/Lower", "Test/Link", "Test/Alias"])
    }

    @Test func listingDecidesWhenPresent() throws {
        // A database whose tzdata.zi lists Test/Zone and its link Test/Link. Unlisted is a valid
        // TZif file in the same folder, but not a listed name: refused.
        let folder = try TemporaryFolder()
        try folder.writeFile("tzdata.zi", "Z Test/Zone 1 - CET\nL Test/Zone Test/Link\n")
        try folder.link("Test/Zone", to: Self.database + "/Europe/Berlin")
        try folder.link("Test/Link", to: Self.database + "/Europe/Berlin")
        try folder.link("Unlisted", to: Self.database + "/Europe/Berlin")
        // Berlin is UTC+2 in July.
        #expect(try TimeZoneRules.load("Test/Zone", directory: folder.path).utcOffset(at: instant("2026-07-01T00:00:00Z")) == 7200)
        #expect(try TimeZoneRules.load("Test/Link", directory: folder.path).utcOffset(at: instant("2026-07-01T00:00:00Z")) == 7200)
        #expect(throws: ScheduleError(.unknownZone, "unknown time zone \"Unlisted\": not an IANA zone name")) {
            try TimeZoneRules.load("Unlisted", directory: folder.path)
        }
    }

    @Test func fallbackRulesWithoutListing() throws {
        // No tzdata.zi (a TZDIR built by hand): any plain relative name with a TZif file is a zone,
        // except the deny-list, and a file with leap-second records is refused whatever its name.
        let folder = try TemporaryFolder()
        try folder.link("Europe/Berlin", to: Self.database + "/Europe/Berlin")
        try folder.link("localtime", to: Self.database + "/Europe/Berlin")
        try folder.link("posixrules", to: Self.database + "/America/New_York")
        try folder.link("Factory", to: Self.database + "/Factory")
        try folder.link("right/Europe/Berlin", to: Self.database + "/right/Europe/Berlin")
        try folder.link("Leapy", to: Self.database + "/right/Europe/Berlin")
        try folder.writeFile("zone.tab", "# not a tz file\n")
        #expect(try TimeZoneRules.load("Europe/Berlin", directory: folder.path).utcOffset(at: instant("2026-01-01T00:00:00Z")) == 3600)
        for (name, why) in [
            ("localtime", "not an IANA zone name (it is the host's local time; name the zone, e.g. Europe/Berlin)"),
            ("posixrules", "not an IANA zone name"),
            ("Factory", "not an IANA zone name"),
            ("right/Europe/Berlin", "not an IANA zone name (right/ is a copy of the database; use Europe/Berlin)"),
            ("Leapy", "its tz file counts leap seconds (a right/ zone); slots use POSIX time"),
            ("zone.tab", "\(folder.path)/zone.tab is not a readable tz file"),
            ("Missing/Zone", "not in the tz database at \(folder.path)"),
        ] {
            #expect(throws: ScheduleError(.unknownZone, "unknown time zone \"\(name)\": \(why)")) {
                try TimeZoneRules.load(name, directory: folder.path)
            }
        }
    }
}

/// A fresh folder under /tmp, removed with what the test put in it when the value goes away.
final class TemporaryFolder {
    let path: String
    /// Files and folders made inside, in order; removed in reverse.
    private var made: [String] = []

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    init() throws {
        var template = Array("/tmp/schedules-test-XXXXXX".utf8CString)
        guard let folder = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw Failure(description: "mkdtemp failed")
        }
        path = String(cString: folder)
    }

    deinit {
        for entry in made.reversed() where unlink(entry) != 0 { rmdir(entry) }
        rmdir(path)
    }

    /// Creates the parent folders of `relative`.
    private func parents(of relative: String) {
        var current = path
        for component in relative.split(separator: "/").dropLast() {
            current += "/" + component
            if mkdir(current, 0o755) == 0 { made.append(current) }
        }
    }

    func link(_ relative: String, to target: String) throws {
        parents(of: relative)
        guard symlink(target, path + "/" + relative) == 0 else { throw Failure(description: "symlink \(relative) failed") }
        made.append(path + "/" + relative)
    }

    func writeFile(_ relative: String, _ text: String) throws {
        parents(of: relative)
        let descriptor = open(path + "/" + relative, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw Failure(description: "open \(relative) failed") }
        made.append(path + "/" + relative)
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ write(descriptor, $0.baseAddress, $0.count) }) == bytes.count else {
            throw Failure(description: "write \(relative) failed")
        }
    }
}
