// swift-tools-version: 6.1
import PackageDescription

// Strict settings for every Swift target: Swift 6 language mode plus the upcoming
// features that keep imports and existentials explicit.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "dispatch-due",
    products: [
        .executable(name: "dispatch-due", targets: ["dispatch-due"]),
        .executable(name: "agents-api-standin", targets: ["agents-api-standin"]),
        // The cron engine alone, for Benchmarks/CronBench (its own package).
        .library(name: "Schedules", targets: ["Schedules"]),
    ],
    dependencies: [
        // Pinned exactly: an application ships the dependency it was tested with (Package.resolved
        // stays ignored: the package copies on these machines carry commit ids that are not upstream's).
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
    ],
    targets: [
        // C libraries, found through pkg-config.
        .systemLibrary(
            name: "CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CCurl", pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]),

        // The build's version and commit (scripts/embed-version.sh; a fallback without it).
        .target(name: "CBuildInfo"),
        // Cron parsing, TZif time zones and next-slot computation; knows nothing of databases.
        .target(name: "Schedules", swiftSettings: strict),
        // libpq wrapper; knows nothing of cron.
        .target(name: "Postgres", dependencies: ["CLibPQ"], swiftSettings: strict),
        // The dispatcher: the cycle (heal, record, post, check), stores, policies, migrations,
        // operations. Takes settings, endpoint, clock and stop condition as values and throws
        // typed errors; knows nothing of the command line.
        .target(
            name: "DispatchCore",
            dependencies: ["Schedules", "Postgres", "CCurl", "CBuildInfo"],
            swiftSettings: strict),
        // The command line: the only target that imports ArgumentParser. Reads flags, the
        // environment and key files, and maps errors and signals to exit codes.
        .target(
            name: "DispatchDueCLI",
            dependencies: [
                "DispatchCore", "Schedules", "Postgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strict),
        // The executable is a thin shell over DispatchDueCLI.
        .executableTarget(name: "dispatch-due", dependencies: ["DispatchDueCLI"], swiftSettings: strict),
        // Stand-in for the agents execution API, for `make run`, tests and benchmarks.
        .executableTarget(name: "agents-api-standin", swiftSettings: strict),

        // Shared by the test targets: a private database per test, spawning processes.
        .target(
            name: "DispatchDueTestSupport",
            dependencies: ["Postgres", "DispatchCore"],
            swiftSettings: strict),
        .testTarget(name: "SchedulesTests", dependencies: ["Schedules"], swiftSettings: strict),
        .testTarget(
            name: "DispatchDueTests",
            dependencies: ["DispatchCore", "DispatchDueCLI", "Postgres", "Schedules", "DispatchDueTestSupport"],
            swiftSettings: strict),
    ]
)
