#if canImport(Glibc)
import Glibc
#endif

// A stand-in for the agents execution API (shared/agents-api/executions.openapi.json) on
// loopback, for `make run`, the tests and the benchmark. It records every request as a JSON
// line and answers as told; the first line on stdout is the port it listens on.
//
//   agents-api-standin [--port N] [--record FILE] [--post-answer LIST] [--get-status LIST] [--api-key KEY]
//                      [--latency-ms N] [--max-in-flight K] [--retry-after S]
//
// POST answers: accept, accept-no-run-id, status:NNN (or 500, 401, 403, 400, 404, 408, 302, 503),
//   429[:S], 429-date[:S], 400-echo, slow[:MS], hang, close.
// GET answers: running, suspended, completed, failed, hang, or a status code (404, 500, 401 …).
//   Poison answers: run-id-long:N, run-id-late:N, run-id-control, run-id-utf8, run-id-echo:ENC, echo:ENC,
//   headers-huge, 429-year-9999; GET: conversation-long:N, conversation-echo:ENC (Answers.swift).
// A list is comma-separated, one entry per request, the last repeating; `LIST;TENANT=LIST`
// gives one tenant's requests their own list.
// `POST /_standin/mode?post=LIST&get=LIST` switches answers while it runs.
// --latency-ms N: every answer starts N ms after the request was read (a remote API's latency;
//   connections do not wait for each other). --max-in-flight K: a request that arrives while K
//   are waiting is answered 429 at once with `Retry-After: S` (--retry-after, default 1), and
//   recorded with "shed":true. A request's recorded `time` is when its answer starts.

let usage = "usage: agents-api-standin [--port N] [--record FILE] [--post-answer LIST] [--get-status LIST] [--api-key KEY]"
    + " [--latency-ms N] [--max-in-flight K] [--retry-after S]"

func fail(_ message: String) -> Never {
    writeAll(2, Array((message + "\n").utf8))
    exit(64)
}

var port = 0
var recordPath: String?
var postText = "accept"
var getText = "completed"
var apiKey: String?
var pacing = Pacer.Settings()
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    func value() -> String {
        guard let value = arguments.popFirst() else { fail("\(argument) needs a value\n\(usage)") }
        return value
    }
    switch argument {
    case "--port": port = Int(value()) ?? -1
    case "--record": recordPath = value()
    case "--post-answer": postText = value()
    case "--get-status": getText = value()
    case "--api-key": apiKey = value()
    case "--latency-ms":
        guard let milliseconds = Int(value()), (0...600_000).contains(milliseconds) else { fail("--latency-ms must be 0-600000") }
        pacing.latencyMilliseconds = milliseconds
    case "--max-in-flight":
        guard let limit = Int(value()), limit >= 1 else { fail("--max-in-flight must be at least 1") }
        pacing.maxInFlight = limit
    case "--retry-after":
        guard let seconds = Int(value()), seconds >= 0 else { fail("--retry-after must be 0 or more seconds") }
        pacing.retryAfterSeconds = seconds
    case "--help", "-h":
        print(usage)
        exit(0)
    default: fail("unknown argument \(argument)\n\(usage)")
    }
}
guard (0...65535).contains(port) else { fail("--port must be 0-65535") }
guard let post = AnswerSequence.parse(postText, PostAnswer.parse) else { fail("unknown --post-answer \(postText)") }
guard let get = AnswerSequence.parse(getText, GetAnswer.parse) else { fail("unknown --get-status \(getText)") }

signal(SIGPIPE, SIG_IGN)
var recordDescriptor: Int32 = -1
if let recordPath {
    recordDescriptor = open(recordPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
    guard recordDescriptor >= 0 else { fail("cannot open \(recordPath): \(String(cString: strerror(errno)))") }
}
guard let listener = listenLoopback(port: port) else {
    fail("cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
}
writeAll(1, Array("\(listener.port)\n".utf8))
let shared = StandInState(post: post, get: get, recordDescriptor: recordDescriptor, apiKey: apiKey)
shared.pacer.configure(pacing)
acceptLoop(listener: listener.descriptor, shared: shared)
