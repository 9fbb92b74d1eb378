import Foundation
import IsolaLogs
import IsolaSandbox
import Synchronization

/// One environment's log stream (`YYYY/MM/DD/[<version>]<32 hex>`, so one tenant's): what its runtime writes,
/// and the platform's own lines, in the function's log group, in Text or JSON format as its LoggingConfig says.
///
/// stdout and stderr become one event per line; awslambdaric's framed records (the telemetry pipe) one event
/// per record, so a multi-line message or stack trace stays whole. Everything goes to the `LogWriter`'s buffer
/// (a lock and an append); formatting platform records and reading the cgroup's peak memory for REPORT happen
/// when the writer flushes, off the invoke path. Without a writer (tests, a server without a log store) only
/// the invocation's tail is kept, for `X-Amz-Log-Type: Tail`.
final class EnvironmentLog: Sendable {
    struct Identity: Sendable {
        var group: String
        var stream: String
        var json: Bool
        var functionName: String
        var functionArn: String
        var version: String
        var memoryMB: Int
        var runtimeVersion: String
        var runtimeVersionArn: String
    }

    let identity: Identity
    let writer: LogWriter?
    /// What this invocation printed, for its log tail.
    let tail = OutputCollector()
    private let partialLines = Mutex<[SandboxStream: [UInt8]]>([:])
    /// The telemetry pipe's parse state: bytes of an incomplete frame, and how much of an over-long one to skip.
    private let frames = Mutex<(buffer: [UInt8], skipping: Int)>(([], 0))

    /// The largest event CloudWatch stores (256 KB less its 26-byte overhead); longer messages are cut.
    static let maxEventBytes = 262_118
    /// The telemetry frame's first two bytes (awslambdaric's `0xa55a00xx` frame types).
    static let frameMagic: [UInt8] = [0xA5, 0x5A]

    /// The tenant the environment serves: set at creation, or when a prewarmed environment is claimed.
    private let boundTenant: Mutex<String?>

    /// `tenant`: the one it was created for; nil for an ordinary function's, or a prewarmed one until claimed.
    init(identity: Identity, tenant: String?, writer: LogWriter?) {
        self.identity = identity
        self.writer = writer
        boundTenant = Mutex(tenant)
    }

    var tenant: String? { boundTenant.withLock { $0 } }

    /// A prewarmed environment is now this tenant's, for the rest of its life.
    func bind(tenant: String?) { boundTenant.withLock { $0 = tenant } }

    static var nowMs: Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

    // MARK: - What the runtime writes

    func output(_ stream: SandboxStream, _ bytes: [UInt8]) {
        switch stream {
        case .stdout, .stderr: lines(stream, bytes)
        case .telemetry: telemetry(bytes)
        }
    }

    private func lines(_ stream: SandboxStream, _ bytes: [UInt8]) {
        let complete: [[UInt8]] = partialLines.withLock { partial in
            var buffer = partial[stream, default: []] + bytes
            var out: [[UInt8]] = []
            while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                out.append(Array(buffer[...newline]))
                buffer.removeSubrange(...newline)
            }
            if buffer.count > Self.maxEventBytes {
                out.append(buffer)
                buffer = []
            }
            partial[stream] = buffer
            return out
        }
        emit(complete.map { (Self.nowMs, String(decoding: $0, as: UTF8.self)) })
    }

    /// `| type (4, 0xa55a00xx) | length (4) | timestamp µs (8) | message |`, big-endian. Bytes that do not start a
    /// frame (a runtime writing its own garbage) are skipped up to the next frame's magic. At most one event's worth
    /// of a frame is held: a longer message is cut to `maxEventBytes` and the rest skipped as it arrives, so a
    /// runtime announcing huge frames cannot make the host buffer them.
    private func telemetry(_ bytes: [UInt8]) {
        let records: [(Int64, String)] = frames.withLock { state in
            var out: [(Int64, String)] = []
            var input = bytes[...]
            while !input.isEmpty {
                if state.skipping > 0 {
                    let skipped = min(state.skipping, input.count)
                    state.skipping -= skipped
                    input = input.dropFirst(skipped)
                    continue
                }
                state.buffer += input
                input = []
                while state.buffer.count >= 16 {
                    let buffer = state.buffer
                    guard buffer[0] == 0xA5, buffer[1] == 0x5A else {
                        let next = buffer.indices.dropFirst().first { buffer[$0] == 0xA5 && $0 + 1 < buffer.count && buffer[$0 + 1] == 0x5A }
                        state.buffer.removeFirst(next ?? buffer.count)
                        continue
                    }
                    let length = buffer[4..<8].reduce(0) { $0 << 8 | Int($1) }
                    let micros = buffer[8..<16].reduce(Int64(0)) { $0 << 8 | Int64($1) }
                    let kept = min(length, Self.maxEventBytes)
                    guard buffer.count >= 16 + kept else { break }
                    var text = String(decoding: buffer[16..<16 + kept], as: UTF8.self)
                    if !text.hasSuffix("\n") { text += "\n" }
                    out.append((micros / 1000, text))
                    // What is already here of the cut part goes now; the rest is skipped as it arrives.
                    let present = min(length, buffer.count - 16)
                    state.buffer.removeFirst(16 + present)
                    state.skipping = length - present
                    if state.skipping > 0 {
                        input = state.buffer[...]
                        state.buffer = []
                        break
                    }
                }
            }
            return out
        }
        emit(records)
    }

    private func emit(_ records: [(Int64, String)]) {
        guard !records.isEmpty else { return }
        for record in records { tail.append(Array(record.1.utf8)) }
        let tenant = self.tenant
        writer?.add(records.map { LogEvent(group: identity.group, stream: identity.stream, timestamp: $0.0, message: $0.1, tenant: tenant) })
    }

    /// Lines still waiting for their newline, written out (the invocation ended).
    func flushPartialLines() {
        let rest: [[UInt8]] = partialLines.withLock { partial in
            defer { partial = [:] }
            return partial.values.filter { !$0.isEmpty }
        }
        emit(rest.map { (Self.nowMs, String(decoding: $0, as: UTF8.self) + "\n") })
    }

    // MARK: - The platform's lines

    private func platform(_ timestamp: Int64 = EnvironmentLog.nowMs, _ render: @escaping @Sendable () -> [String]) {
        writer?.add(group: identity.group, stream: identity.stream, tenant: tenant, timestamp: timestamp, render: render)
    }

    func initStart() {
        let id = identity
        platform {
            [id.json
                ? Self.json("platform.initStart", [
                    "initializationType": "on-demand", "phase": "init", "runtimeVersion": id.runtimeVersion,
                    "runtimeVersionArn": id.runtimeVersionArn, "functionName": id.functionName, "functionVersion": id.version,
                    "instanceId": id.stream, "instanceMaxMemory": id.memoryMB * 1_048_576,
                ])
                : "INIT_START Runtime Version: \(id.runtimeVersion)\tRuntime Version ARN: \(id.runtimeVersionArn)\n"]
        }
    }

    /// Init ended: JSON format records it (Text format only reports a failed or timed-out init).
    func initDone(durationMs: Double, status: String, errorType: String?) {
        let id = identity
        if id.json {
            platform {
                var done: [String: Any] = ["initializationType": "on-demand", "phase": "init", "status": status]
                if let errorType { done["errorType"] = errorType }
                var report = done
                report["metrics"] = ["durationMs": Self.round(durationMs)]
                return [Self.json("platform.initRuntimeDone", done), Self.json("platform.initReport", report)]
            }
        } else if status != "success" {
            platform { ["INIT_REPORT Init Duration: \(DecimalText.twoDecimals(durationMs)) ms\tPhase: init\tStatus: \(status)\(errorType.map { "\tError Type: \($0)" } ?? "")\n"] }
        }
    }

    func start(requestId: String) {
        let id = identity
        let tenant = self.tenant
        platform {
            if id.json {
                var record: [String: Any] = ["requestId": requestId, "version": id.version]
                if let tenant { record["tenantId"] = tenant }
                return [Self.json("platform.start", record)]
            }
            return ["START RequestId: \(requestId) Version: \(id.version)\n"]
        }
    }

    /// The cgroup's peak memory as last read, and when: REPORT lines written in one batch share one read (the
    /// peak only grows, so a read a moment later is still this invocation's peak or more).
    private let peakCache = Mutex<(at: ContinuousClock.Instant, bytes: Int)?>(nil)

    func peak(_ read: () -> Int) -> Int {
        if let cached = peakCache.withLock({ $0 }), ContinuousClock.now - cached.at < .milliseconds(100) { return cached.bytes }
        let bytes = read()
        peakCache.withLock { $0 = (.now, bytes) }
        return bytes
    }

    /// END and REPORT. `peakMemory` is read when the writer flushes (the cgroup's peak, or what it was at exit).
    func end(requestId: String, durationMs: Double, initDurationMs: Double?, status: String, errorType: String?, peakMemory: @escaping @Sendable () -> Int) {
        flushPartialLines()
        let id = identity
        let tenant = self.tenant
        let billed = Int(durationMs.rounded(.up)) + Int((initDurationMs ?? 0).rounded(.up))
        let now = Self.nowMs
        platform(now) { [weak self] in
            let maxMemoryMB = ((self?.peak(peakMemory) ?? peakMemory()) + 1_048_575) / 1_048_576
            if id.json {
                var metrics: [String: Any] = [
                    "durationMs": Self.round(durationMs), "billedDurationMs": billed, "memorySizeMB": id.memoryMB, "maxMemoryUsedMB": maxMemoryMB,
                ]
                if let initDurationMs { metrics["initDurationMs"] = Self.round(initDurationMs) }
                var done: [String: Any] = ["requestId": requestId, "status": status, "metrics": ["durationMs": Self.round(durationMs)]]
                var report: [String: Any] = ["requestId": requestId, "status": status, "metrics": metrics]
                if let errorType {
                    done["errorType"] = errorType
                    report["errorType"] = errorType
                }
                if let tenant {
                    done["tenantId"] = tenant
                    report["tenantId"] = tenant
                }
                return [Self.json("platform.runtimeDone", done), Self.json("platform.report", report)]
            }
            return ["END RequestId: \(requestId)\n", ReportLine.report(requestId: requestId, durationMs: durationMs, memoryMB: id.memoryMB, maxMemoryMB: maxMemoryMB, initDurationMs: initDurationMs, errorType: errorType) + "\n"]
        }
    }

    // MARK: - Formatting

    /// One JSON platform record, as its own event.
    static func json(_ type: String, _ record: [String: Any]) -> String {
        let object: [String: Any] = ["time": LogTime.iso(Date()), "type": type, "record": record]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func round(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

}

/// `12.30`: two decimals without `String(format:)` (which goes through NSString on Linux, on hot paths).
public enum DecimalText {
    public static func twoDecimals(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}

enum LogTime {
    /// `2026-11-25T10:22:56.123Z`.
    static func iso(_ date: Date) -> String {
        let millis = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(millis / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(millis % 1000), 3))Z"
    }
}
