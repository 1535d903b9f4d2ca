import DispatchCore
import DispatchDueCLI
import Testing

/// The adaptive concurrency controller's rules (its doc comment), one table per rule, and a
/// pure in-process simulation against a server that sheds load above K requests in flight.
@Suite("AdaptiveConcurrency")
struct AdaptiveConcurrencyTests {
    /// `count` healthy answers, each to a request started at t = 0 and answered at t = 1.
    static func healthy(_ controller: inout AdaptiveConcurrency, _ count: Int) {
        for _ in 0..<count { controller.record(.healthy, sentAt: 0, now: 1) }
    }

    @Test("answers map to signals: 429/503 overload, timeouts, other 5xx and transport failures neutral", arguments: [
        (Int?.some(200), false, AdaptiveConcurrency.Signal.healthy),
        (201, false, .healthy),
        (404, false, .healthy),  // an answer about the request, not about load
        (400, false, .healthy),
        (429, false, .overloaded(retryAfterSeconds: nil)),
        (503, false, .overloaded(retryAfterSeconds: nil)),
        (500, false, .neutral),
        (502, false, .neutral),
        (nil, false, .neutral),  // connection refused, reset …
        (nil, true, .timedOut),
    ])
    func signals(status: Int?, timedOut: Bool, expected: AdaptiveConcurrency.Signal) {
        #expect(AdaptiveConcurrency.signal(status: status, timedOut: timedOut) == expected)
    }

    @Test("a 429's Retry-After travels with its signal")
    func retryAfterSignal() {
        #expect(AdaptiveConcurrency.signal(status: 429, timedOut: false, retryAfterSeconds: 7) == .overloaded(retryAfterSeconds: 7))
    }

    // Slow start: +1 per healthy answer, so 8 answers take 8 to 16, 16 more take it to 32;
    // the ceiling stops it; the initial value is capped by the ceiling.
    @Test("growth: doubling per round of healthy answers up to the ceiling", arguments: [
        (8, 1000, 0, 8),
        (8, 1000, 8, 16),
        (8, 1000, 24, 32),
        (8, 20, 100, 20),
        (8, 4, 0, 4),
        (8, 4, 10, 4),
        (1, 1000, 1, 2),
    ])
    func slowStart(initial: Int, ceiling: Int, answers: Int, expected: Int) {
        var controller = AdaptiveConcurrency(ceiling: ceiling, initial: initial)
        Self.healthy(&controller, answers)
        #expect(controller.limit == expected)
        #expect(controller.peak == expected)
        #expect(controller.decreases == 0)
    }

    // After a halving (16 -> 8), growth is additive: one step per `limit` healthy answers,
    // so 8 answers take 8 to 9, 9 more take it to 10, and 7 are not yet a round.
    @Test("growth after a halving: one step per round of healthy answers", arguments: [
        (0, 8),
        (7, 8),
        (8, 9),
        (8 + 8, 9),
        (8 + 9, 10),
        (8 + 9 + 10, 11),
    ])
    func additiveIncrease(answers: Int, expected: Int) {
        var controller = AdaptiveConcurrency(ceiling: 100, initial: 16)
        controller.record(.overloaded(retryAfterSeconds: nil), sentAt: 1, now: 2)
        #expect(controller.limit == 8)
        for _ in 0..<answers { controller.record(.healthy, sentAt: 3, now: 4) }
        #expect(controller.limit == expected)
    }

    @Test("halving on 429, 503 and timeouts; other failures change nothing", arguments: [
        (429, false, 8),
        (503, false, 8),
        (Int?.none, true, 8),
        (500, false, 16),
        (502, false, 16),
        (nil, false, 16),
    ])
    func halving(status: Int?, timedOut: Bool, expected: Int) {
        var controller = AdaptiveConcurrency(ceiling: 100, initial: 16)
        controller.record(AdaptiveConcurrency.signal(status: status, timedOut: timedOut), sentAt: 1, now: 2)
        #expect(controller.limit == expected)
        #expect(controller.decreases == (expected == 16 ? 0 : 1))
    }

    // 32 at first. The first 429 (at t = 2) halves to 16; the others of the same window were
    // started before t = 2, so they describe load the halving already answered. A 429 to a
    // request started at or after t = 2 is news: 16 -> 8.
    @Test("one halving per window: signals about requests started before the last halving are stale", arguments: [
        ([0.0], 16),
        ([0.0, 0.1, 0.5, 1.9], 16),
        ([0.0, 1.0, 2.0], 8),
        ([0.0, 1.0, 2.5, 2.6], 8),
        ([0.0, 2.5, 2.6, 3.5], 8),  // 2.5's answer (t = 4.5) halves; 2.6 and 3.5 started before that
        ([0.0, 2.5, 2.6, 3.5, 5.0], 4),
    ])
    func oneHalvingPerWindow(startedAt: [Double], expected: Int) {
        var controller = AdaptiveConcurrency(ceiling: 100, initial: 32)
        // Each answer arrives 2 s after its request started, in start order; the first at t = 2.
        for sent in startedAt {
            controller.record(.overloaded(retryAfterSeconds: nil), sentAt: sent, now: sent + 2)
        }
        #expect(controller.limit == expected)
    }

    @Test("timeouts and 429s share the window")
    func timeoutInSameWindow() {
        var controller = AdaptiveConcurrency(ceiling: 100, initial: 32)
        controller.record(.overloaded(retryAfterSeconds: nil), sentAt: 10, now: 10.2)
        controller.record(.timedOut, sentAt: 0, now: 30)  // started 30 s ago: before the halving
        #expect(controller.limit == 16)
        controller.record(.timedOut, sentAt: 10.3, now: 40.3)
        #expect(controller.limit == 8)
    }

    struct PauseCase: Sendable, CustomTestStringConvertible {
        /// 429s: when each arrived and its Retry-After.
        var answers: [(at: Double, retryAfter: Double)]
        var now: Double
        var mayStart: Bool
        var testDescription: String { "\(answers) at \(now): \(mayStart)" }
    }

    // A 429 at t = 10 with Retry-After: 5 stops new starts until t = 15, whatever is in flight;
    // a later, shorter Retry-After does not shorten the pause; one over an hour is capped.
    static let pauses: [PauseCase] = [
        PauseCase(answers: [(10, 5)], now: 14.999, mayStart: false),
        PauseCase(answers: [(10, 5)], now: 15, mayStart: true),
        PauseCase(answers: [(10, 5), (11, 1)], now: 14, mayStart: false),
        PauseCase(answers: [(10, 5), (11, 9)], now: 19, mayStart: false),
        PauseCase(answers: [(10, 5), (11, 9)], now: 20, mayStart: true),
        PauseCase(answers: [(10, 86_400)], now: 10 + 3599, mayStart: false),
        PauseCase(answers: [(10, 86_400)], now: 10 + 3600, mayStart: true),
        PauseCase(answers: [(10, 0)], now: 10, mayStart: true),
    ]

    @Test("Retry-After pauses new starts until then", arguments: pauses)
    func retryAfterPause(_ example: PauseCase) {
        var controller = AdaptiveConcurrency(ceiling: 100, initial: 16)
        for answer in example.answers {
            controller.record(.overloaded(retryAfterSeconds: answer.retryAfter), sentAt: answer.at - 0.2, now: answer.at)
        }
        #expect(controller.mayStart(inFlight: 0, now: example.now) == example.mayStart)
    }

    @Test("a stale 429 still honours its Retry-After (without halving again)")
    func stalePauseStillHonoured() {
        var controller = AdaptiveConcurrency(ceiling: 100, initial: 16)
        controller.record(.overloaded(retryAfterSeconds: nil), sentAt: 1, now: 2)
        controller.record(.overloaded(retryAfterSeconds: 30), sentAt: 1.5, now: 2.1)
        #expect(controller.limit == 8)
        #expect(controller.mayStart(inFlight: 0, now: 32) == false)
        #expect(controller.mayStart(inFlight: 0, now: 32.1) == true)
    }

    @Test("the ceiling: in flight may reach the limit, never pass it", arguments: [
        (5, 4, true),
        (5, 5, false),
        (5, 6, false),
    ])
    func ceiling(ceiling: Int, inFlight: Int, mayStart: Bool) {
        var controller = AdaptiveConcurrency(ceiling: ceiling, initial: 8)
        Self.healthy(&controller, 1000)
        #expect(controller.limit == ceiling)
        #expect(controller.mayStart(inFlight: inFlight, now: 0) == mayStart)
    }

    // 4 -> 2 -> 1 -> 1: each overload about a request started after the previous halving.
    @Test("the floor: never below one request in flight", arguments: [1, 2, 3, 10])
    func floor(overloads: Int) {
        var controller = AdaptiveConcurrency(ceiling: 100, initial: 4)
        for index in 0..<overloads {
            let sent = Double(index) * 10
            controller.record(.timedOut, sentAt: sent, now: sent + 1)
        }
        #expect(controller.limit == max(1, 4 >> overloads))
        #expect(controller.mayStart(inFlight: 0, now: 1000))
        #expect(!controller.mayStart(inFlight: controller.limit, now: 1000))
    }

    @Test("ceiling below one still allows one request")
    func degenerateCeiling() {
        let controller = AdaptiveConcurrency(ceiling: 0, initial: 8)
        #expect(controller.limit == 1)
        #expect(controller.mayStart(inFlight: 0, now: 0))
    }

    // MARK: simulation

    /// The controller driving `jobs` requests against a model server that answers after
    /// 150–250 ms and sheds with an immediate 429 (5 ms) whatever arrives while `capacity`
    /// are in flight. A shed job goes back to the end of the queue. Pure: time is simulated.
    struct Simulation {
        var controller: AdaptiveConcurrency
        let capacity: Int
        let retryAfter: Double?
        var queue: Int
        var now = 0.0
        /// In flight: (answer time, start time, shed?).
        var inFlight: [(due: Double, sent: Double, shed: Bool)] = []
        var serverInFlight = 0
        var accepted = 0
        var shed = 0
        var startsWhilePaused = 0
        var maxServerInFlight = 0
        /// Time-weighted sums over the second half of the run.
        var limitSamples: [(time: Double, limit: Int, serverInFlight: Int)] = []
        var random: UInt64 = 0x9E37_79B9_7F4A_7C15

        init(ceiling: Int, capacity: Int, jobs: Int, retryAfter: Double?) {
            controller = AdaptiveConcurrency(ceiling: ceiling)
            self.capacity = capacity
            self.retryAfter = retryAfter
            queue = jobs
        }

        mutating func latency() -> Double {
            random ^= random << 13
            random ^= random >> 7
            random ^= random << 17
            return 0.150 + Double(random % 101) / 1000
        }

        mutating func run() {
            while queue > 0 || !inFlight.isEmpty {
                while queue > 0, controller.mayStart(inFlight: inFlight.count, now: now) {
                    if let paused = controller.pausedUntil, now < paused { startsWhilePaused += 1 }
                    queue -= 1
                    if serverInFlight >= capacity {
                        inFlight.append((now + 0.005, now, true))
                    } else {
                        serverInFlight += 1
                        maxServerInFlight = max(maxServerInFlight, serverInFlight)
                        inFlight.append((now + latency(), now, false))
                    }
                }
                limitSamples.append((now, controller.limit, serverInFlight))
                // Next event: the earliest answer, or the end of a pause when nothing is in flight.
                guard let next = inFlight.indices.min(by: { inFlight[$0].due < inFlight[$1].due }) else {
                    now = max(now, controller.pausedUntil ?? now)
                    continue
                }
                let answer = inFlight.remove(at: next)
                now = answer.due
                if answer.shed {
                    shed += 1
                    queue += 1
                    controller.record(.overloaded(retryAfterSeconds: retryAfter), sentAt: answer.sent, now: now)
                } else {
                    serverInFlight -= 1
                    accepted += 1
                    controller.record(.healthy, sentAt: answer.sent, now: now)
                }
            }
        }

        /// Time-weighted means of the limit and of the server's in-flight count over [from, end].
        func means(from: Double) -> (limit: Double, serverInFlight: Double) {
            var limit = 0.0
            var busy = 0.0
            var span = 0.0
            for index in limitSamples.indices.dropLast() where limitSamples[index].time >= from {
                let width = limitSamples[index + 1].time - limitSamples[index].time
                limit += Double(limitSamples[index].limit) * width
                busy += Double(limitSamples[index].serverInFlight) * width
                span += width
            }
            return (limit / span, busy / span)
        }
    }

    // AIMD between K/2 and K keeps the mean near 3K/4; each sawtooth (K/2 rounds of ~3K/4
    // requests) ends with a few 429s, and slow start overshoots once, so 429s stay far below 5%.
    // With Retry-After: 1 each sawtooth (K = 64: 32 rounds of 0.2 s) also idles ~0.85 s, so
    // the server's mean in flight drops to about 0.66K; the bound is 0.5K there.
    @Test("simulation: settles near K with at most 5% of POSTs answered 429", arguments: [
        (256, 64, 20_000, Double?.none, 0.6),
        (256, 64, 20_000, 1.0, 0.5),
        (1000, 200, 40_000, Double?.none, 0.6),
        (256, 16, 5_000, Double?.none, 0.6),
    ])
    func settlesNearCapacity(ceiling: Int, capacity: Int, jobs: Int, retryAfter: Double?, busyFraction: Double) {
        var simulation = Simulation(ceiling: ceiling, capacity: capacity, jobs: jobs, retryAfter: retryAfter)
        simulation.run()
        #expect(simulation.accepted == jobs)
        let posts = simulation.accepted + simulation.shed
        #expect(Double(simulation.shed) <= 0.05 * Double(posts), "\(simulation.shed) of \(posts) answered 429")
        #expect(simulation.shed > 0, "the limit found the capacity")
        #expect(simulation.maxServerInFlight <= capacity)
        #expect(simulation.startsWhilePaused == 0)
        let steady = simulation.means(from: simulation.now / 2)
        // Near K: the sawtooth's mean is 3K/4; allow from 0.6K. Never more than K accepted at once.
        #expect(steady.serverInFlight >= busyFraction * Double(capacity), "mean in flight \(steady.serverInFlight)")
        #expect(steady.limit >= 0.6 * Double(capacity), "mean limit \(steady.limit)")
        #expect(steady.limit <= Double(capacity) + 2, "mean limit \(steady.limit)")
        #expect(simulation.controller.peak < ceiling)
    }

    // Without a capacity below the ceiling the limit climbs to the ceiling and stays there:
    // 10,000 requests at 200 ms with ceiling 256 take about 10,000 × 0.2 / 256 ≈ 7.8 s plus
    // the slow start (8 -> 256 in five rounds, ~1 s).
    @Test("simulation: no shedding, the limit reaches the ceiling and drains at N·L/C")
    func reachesCeiling() {
        var simulation = Simulation(ceiling: 256, capacity: 100_000, jobs: 10_000, retryAfter: nil)
        simulation.run()
        #expect(simulation.shed == 0)
        #expect(simulation.controller.limit == 256)
        #expect(simulation.now < 10_000 * 0.25 / 256 + 2)
    }
}
