// swift-tools-version: 6.1
import PackageDescription

// cron-bench on its own: a root `swift build` of dispatch-due does not build it, and it needs
// nothing but the cron engine (the root package's `Schedules` library). `make bench` builds it.
let package = Package(
    name: "cron-bench",
    dependencies: [.package(name: "dispatch-due", path: "../..")],
    targets: [
        // Next-slot throughput of the cron engine, with in-run baselines.
        .executableTarget(
            name: "cron-bench",
            dependencies: [.product(name: "Schedules", package: "dispatch-due")],
            swiftSettings: [.swiftLanguageMode(.v6)]),
    ]
)
