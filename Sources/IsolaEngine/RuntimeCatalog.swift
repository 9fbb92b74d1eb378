import Crypto
import Foundation
import LambdaAPI
import Logging

/// How each Lambda runtime starts inside a sandbox, with the real runtime clients only: `python3.x` runs
/// AWS's own `awslambdaric` (so `context.tenant_id` comes from AWS's client), `provided.*` run
/// `/var/task/bootstrap`.
///
/// Python runs on Debian's `/usr/bin/python3`, which every sandbox already has in its read-only `/usr`; awslambdaric
/// lives in `<runtime-dir>/python` (a `pip --target` folder, mounted at `/var/runtime`). A Python runtime whose
/// exact version is not installed is served by that interpreter, with one warning in the log; `INIT_START` says
/// which interpreter really ran.
public struct RuntimeCatalog: Sendable {
    public struct Launch: Sendable, Equatable {
        public var command: [String]
        public var environment: [String: String]
        /// Host folder mounted at `/var/runtime`.
        public var runtimeDirectory: URL
        /// What really runs, e.g. `python3.11 (serving python3.12)`.
        public var runtimeVersion: String
    }

    public let runtimeDirectory: URL
    /// Runtime name -> interpreter path inside the sandbox (under /usr).
    public let interpreters: [String: String]
    public let defaultInterpreter: String
    let defaultVersion: String

    public init(runtimeDirectory: URL, interpreters: [String: String] = [:], defaultInterpreter: String = "/usr/bin/python3") {
        self.runtimeDirectory = runtimeDirectory
        self.defaultInterpreter = defaultInterpreter
        var found = interpreters
        // Debian ships /usr/bin/python3.N for the versions it has: use each exact match it has.
        for runtime in Runtimes.python where found[runtime] == nil {
            let path = "/usr/bin/\(runtime)"
            if FileManager.default.isExecutableFile(atPath: path) { found[runtime] = path }
        }
        self.interpreters = found
        let resolved = (try? FileManager.default.destinationOfSymbolicLink(atPath: defaultInterpreter)) ?? defaultInterpreter
        defaultVersion = URL(fileURLWithPath: resolved).lastPathComponent
    }

    public var pythonDirectory: URL { runtimeDirectory.appendingPathComponent("python") }
    public var agent: URL { runtimeDirectory.appendingPathComponent("agent") }
    var emptyDirectory: URL { runtimeDirectory.appendingPathComponent("provided") }

    public func launch(runtime: String, handler: String) -> Launch {
        if runtime.hasPrefix("python") {
            let interpreter = interpreters[runtime] ?? defaultInterpreter
            let version = interpreters[runtime] != nil ? runtime : "\(defaultVersion) (serving \(runtime))"
            return Launch(
                // -S: no site module (4 ms of every cold start); PYTHONPATH still reaches /var/runtime, and the
                // function sees the standard library, its runtime and its own code, not the host's dist-packages.
                command: [interpreter, "-S", "-m", "awslambdaric", handler],
                // fd 4 is the telemetry pipe the sandbox backend passes in: awslambdaric frames each log record there.
                environment: ["PYTHONPATH": "/var/runtime", "AWS_EXECUTION_ENV": "AWS_Lambda_\(runtime)", "_LAMBDA_TELEMETRY_LOG_FD": "4"],
                runtimeDirectory: pythonDirectory, runtimeVersion: version
            )
        }
        return Launch(command: ["/var/task/bootstrap"], environment: [:], runtimeDirectory: emptyDirectory, runtimeVersion: runtime)
    }

    /// Python runtimes that will be served by another interpreter version.
    public var substitutedRuntimes: [String] { Runtimes.python.filter { interpreters[$0] == nil } }

    /// Checks that the runtime folder holds what sandboxes need; the message says how to fix it.
    public func check() throws {
        try? FileManager.default.createDirectory(at: emptyDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        guard FileManager.default.fileExists(atPath: pythonDirectory.appendingPathComponent("awslambdaric").path) else {
            throw EngineError("awslambdaric is missing from \(pythonDirectory.path). Run scripts/setup (it installs the Python runtime there), or pass --runtime-dir.")
        }
    }
}

extension RuntimeCatalog {
    /// `python3.11` -> `python:3.11.isola`, `provided.al2023` -> `provided:al2023.isola`: INIT_START's runtime version
    /// names the interpreter that really ran.
    /// A substituted interpreter keeps its note: `python3.11 (serving python3.12)` -> `python:3.11.isola (serving python3.12)`.
    public static func displayVersion(_ runtimeVersion: String) -> String {
        let parts = runtimeVersion.split(separator: " ", maxSplits: 1)
        let base = String(parts.first ?? "")
        let note = parts.count > 1 ? " " + parts[1] : ""
        if base.hasPrefix("python") { return "python:\(base.dropFirst("python".count)).isola" + note }
        if base.hasPrefix("provided.") { return "provided:\(base.dropFirst("provided.".count)).isola" + note }
        return base + ".isola" + note
    }

    /// The hex SHA-256 that names a runtime version in its ARN.
    public static func versionDigest(_ runtimeVersion: String) -> String {
        SHA256.hash(data: Data(runtimeVersion.utf8)).map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }
}

public struct EngineError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) { self.description = description }
}
