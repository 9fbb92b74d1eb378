import Foundation
import Logging
import Testing

@testable import IsolaSandbox

/// The real backend, on this host's kernel: these run only where crun and the static agent exist.
struct CrunBackendTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let agent = URL(fileURLWithPath: ProcessInfo.processInfo.environment["ISOLA_AGENT"] ?? repository.appendingPathComponent("runtime/agent").path)
    static var available: Bool { HostProbe.crunPath() != nil && getuid() == 0 && FileManager.default.isExecutableFile(atPath: agent.path) }

    func makeBackend() throws -> (CrunBackend, URL) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("isola-sandbox-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return (try CrunBackend(stateDirectory: root.appendingPathComponent("state"), sharedDirectory: root.appendingPathComponent("shared/root"), agent: Self.agent, instance: "test-\(UUID().uuidString.prefix(8).lowercased())", logger: logger), root)
    }

    func spec(_ root: URL, id: String, command: [String], memoryMB: Int = 128) throws -> SandboxSpec {
        for sub in ["code", "runtime"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(sub), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        return SandboxSpec(
            id: id, codeDirectory: root.appendingPathComponent("code"), runtimeDirectory: root.appendingPathComponent("runtime"),
            command: command, environment: ["HELLO": "world"],
            memoryMB: memoryMB, ephemeralStorageMB: 64, hostIDBase: 3_000_000
        )
    }

    @Test(.enabled(if: available))
    func runsAProcessAsTheSandboxUserWithNoCapabilities() async throws {
        let (backend, root) = try makeBackend()
        defer { try? FileManager.default.removeItem(at: root) }
        let output = LockedText()
        let script = "import os; s=open('/proc/self/status').read(); print(os.getuid(), os.environ['HELLO'], s.split('CapEff:')[1].split()[0], s.split('Seccomp:')[1].split()[0], sorted(os.listdir('/sys/class/net')))"
        let sandbox = try await backend.start(try spec(root, id: "t-\(UUID().uuidString.prefix(8).lowercased())", command: ["/usr/bin/python3", "-c", script])) { _, bytes in output.append(bytes) }
        let exit = await sandbox.exit()
        await sandbox.stop()
        await backend.shutdown()
        #expect(exit == .exited(0), "output: \(output.text)")
        #expect(output.text.contains("993 world 0000000000000000 2 ['lo']"), "output: \(output.text)")
    }

    @Test(.enabled(if: available))
    func theAgentHandsTheHostARuntimeAPIListenerAndKeepsItsControlSocketFromTheRuntime() async throws {
        let (backend, root) = try makeBackend()
        defer { try? FileManager.default.removeItem(at: root) }
        let output = LockedText()
        // The runtime: fd 3 (the agent's control socket) must be closed; 127.0.0.1:9001 must reach the host.
        let script = """
            import os, socket
            try:
                os.fstat(3); print("control socket visible")
            except OSError:
                print("control socket hidden")
            s = socket.create_connection(("127.0.0.1", 9001)); s.sendall(b"ping"); print("answer", s.recv(16).decode())
            """
        let sandbox = try await backend.start(try spec(root, id: "l-\(UUID().uuidString.prefix(8).lowercased())", command: ["/usr/bin/python3", "-c", script])) { _, bytes in output.append(bytes) }
        let listener = try await sandbox.runtimeAPIListener()
        let client = accept(listener, nil, nil)
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = read(client, &buffer, buffer.count)
        _ = write(client, "pong", 4)
        let exit = await sandbox.exit()
        close(client)
        close(listener)
        await sandbox.stop()
        await backend.shutdown()
        #expect(n == 4 && String(decoding: buffer[0..<4], as: UTF8.self) == "ping", "output: \(output.text)")
        #expect(exit == .exited(0), "output: \(output.text)")
        #expect(output.text.contains("control socket hidden") && output.text.contains("answer pong"), "output: \(output.text)")
        await #expect(throws: SandboxError.self) { _ = try await sandbox.runtimeAPIListener() }
    }

    @Test(.enabled(if: available))
    func refusesUnshareAndMount() async throws {
        let (backend, root) = try makeBackend()
        defer { try? FileManager.default.removeItem(at: root) }
        let output = LockedText()
        let script = "import ctypes,os; libc=ctypes.CDLL(None); print('unshare', libc.unshare(0x10000000), 'mount', libc.mount(b'none', b'/tmp', b'tmpfs', 0, None))"
        let sandbox = try await backend.start(try spec(root, id: "u-\(UUID().uuidString.prefix(8).lowercased())", command: ["/usr/bin/python3", "-c", script])) { _, bytes in output.append(bytes) }
        _ = await sandbox.exit()
        await sandbox.stop()
        await backend.shutdown()
        #expect(output.text.contains("unshare -1 mount -1"), "output: \(output.text)")
    }

    @Test(.enabled(if: available))
    func tmpIsOnDiskAndBoundedByEphemeralStorageNotMemory() async throws {
        let (backend, root) = try makeBackend()
        defer { try? FileManager.default.removeItem(at: root) }
        let output = LockedText()
        // 128 MB of memory, 256 MB of /tmp: 200 MB fit, and the 300th MB does not.
        let script = """
            import errno
            chunk = b"x" * (1 << 20)
            written = 0
            try:
                with open("/tmp/fill", "wb") as f:
                    for _ in range(300):
                        f.write(chunk); f.flush(); written += 1
            except OSError as e:
                print("stopped", errno.errorcode[e.errno])
            print("written", written)
            """
        var spec = try spec(root, id: "d-\(UUID().uuidString.prefix(8).lowercased())", command: ["/usr/bin/python3", "-c", script])
        spec.ephemeralStorageMB = 256
        let sandbox = try await backend.start(spec) { _, bytes in output.append(bytes) }
        let exit = await sandbox.exit()
        await sandbox.stop()
        await backend.shutdown()
        #expect(exit == .exited(0), "output: \(output.text)")
        #expect(output.text.contains("stopped ENOSPC"), "output: \(output.text)")
        let written = output.text.split(separator: "\n").first { $0.hasPrefix("written") }.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
        #expect(written >= 200 && written < 300, "output: \(output.text)")
    }

    @Test(.enabled(if: available))
    func reportsTheRuntimesExitStatusAndSignal() async throws {
        let (backend, root) = try makeBackend()
        defer { try? FileManager.default.removeItem(at: root) }
        let s1 = try await backend.start(try spec(root, id: "e-\(UUID().uuidString.prefix(8).lowercased())", command: ["/usr/bin/python3", "-c", "import sys; sys.exit(3)"])) { _, _ in }
        #expect(await s1.exit() == .exited(3))
        await s1.stop()
        let s2 = try await backend.start(try spec(root, id: "k-\(UUID().uuidString.prefix(8).lowercased())", command: ["/usr/bin/python3", "-c", "import os,signal; os.kill(os.getpid(), signal.SIGKILL)"])) { _, _ in }
        #expect(await s2.exit() == .signaled(9))
        await s2.stop()
        await backend.shutdown()
    }
}

final class LockedText: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    func append(_ chunk: [UInt8]) { lock.withLock { bytes += chunk } }
    var text: String { lock.withLock { String(decoding: bytes, as: UTF8.self) } }
}
