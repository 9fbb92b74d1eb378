import Foundation
import IsolaServer
import IsolaStore
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The API port's own HTTP/1.1 transport (APIHTTPService) over a real socket: keep-alive and pipelining, HTTP/1.0,
/// malformed requests, and a graceful shutdown that lets nothing linger.
@Suite struct APIPortTests {
    /// Runs the API service of a fresh server on a free port, gives `body` that port, then shuts the service down
    /// gracefully and checks the port is closed.
    func withAPIPort(idleTimeout: TimeAmount = .seconds(60), _ body: @escaping @Sendable (UInt16) throws -> Void) async throws {
        let harness = try await ServerHarness.open()
        defer { harness.remove() }
        let port = Mutex<Int?>(nil)
        let service = harness.server.apiService(idleTimeout: idleTimeout) { bound in port.withLock { $0 = bound } }
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [], cancellationSignals: [], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var bound: Int?
            for _ in 0..<500 where bound == nil {
                try await Task.sleep(for: .milliseconds(10))
                bound = port.withLock { $0 }
            }
            var failure: (any Error)?
            if let bound {
                // Its blocking socket calls run on a Dispatch worker: on Swift's cooperative threads (two on a
                // two-CPU machine) they would starve the server tasks that must answer them.
                do { try await Blocking.run { try body(UInt16(bound)) } } catch { failure = error }
            } else {
                failure = RawHTTP.Failure(what: "the API port never came up")
            }
            // Shut down whatever the body did, so a failed expectation ends the test instead of hanging it.
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            if let failure { throw failure }
            if let bound {
                #expect(throws: RawHTTP.Failure.self, "the port still accepts connections after shutdown") { _ = try RawHTTP(port: UInt16(bound)) }
            }
        }
    }

    @Test func pipelinedRequestsOnOneConnectionAreAnsweredInOrder() async throws {
        try await withAPIPort { port in
            let connection = try RawHTTP(port: port)
            defer { connection.close() }
            // The second is unsigned, so the API refuses it (403) after the first's 200.
            try connection.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /2015-03-31/functions HTTP/1.1\r\nHost: x\r\n\r\n")
            let text = try connection.read(until: { $0.components(separatedBy: "HTTP/1.1 ").count == 3 && $0.hasSuffix("}") })
            let answers = text.components(separatedBy: "HTTP/1.1 ").dropFirst()
            #expect(answers.first?.hasPrefix("200") == true, "\(text)")
            #expect(answers.last?.hasPrefix("403") == true, "\(text)")
            #expect(answers.allSatisfy { $0.lowercased().contains("x-amzn-requestid: ") })
        }
    }

    @Test func http10RequestGetsItsAnswerAndTheConnectionCloses() async throws {
        try await withAPIPort { port in
            let connection = try RawHTTP(port: port)
            defer { connection.close() }
            try connection.send("GET /health HTTP/1.0\r\n\r\n")
            let text = try connection.readToEnd()
            #expect(text.hasPrefix("HTTP/1.0 200") || text.hasPrefix("HTTP/1.1 200"), "\(text)")
            #expect(text.lowercased().contains("connection: close"), "\(text)")
            #expect(text.contains("\"status\":\"ok\""))
        }
    }

    /// A connection that sends nothing, or stops halfway through a request, is closed after the idle timeout (no
    /// answer is written to either), and the port goes on serving.
    @Test func idleAndHalfSentConnectionsAreClosed() async throws {
        try await withAPIPort(idleTimeout: .milliseconds(500)) { port in
            let idle = try RawHTTP(port: port)
            defer { idle.close() }
            let halfSent = try RawHTTP(port: port)
            defer { halfSent.close() }
            try halfSent.send("GET /health HTTP/1.1\r\nHost: x\r\n")  // no blank line: the head never ends
            #expect(try idle.readToEnd() == "", "an idle connection is closed without an answer")
            #expect(try halfSent.readToEnd() == "", "a half-sent request's connection is closed")
            let fresh = try RawHTTP(port: port)
            defer { fresh.close() }
            try fresh.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try fresh.read(until: { $0.contains("\"status\":\"ok\"") }).hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func malformedRequestGets400AndTheServerGoesOn() async throws {
        try await withAPIPort { port in
            let bad = try RawHTTP(port: port)
            defer { bad.close() }
            try bad.send("THIS IS NOT HTTP\r\n\r\n")
            #expect(try bad.readToEnd().hasPrefix("HTTP/1.1 400"))
            let good = try RawHTTP(port: port)
            defer { good.close() }
            try good.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try good.read(until: { $0.contains("\"status\":\"ok\"") }).hasPrefix("HTTP/1.1 200"))
        }
    }
}

/// A blocking loopback TCP connection with a 10-second receive timeout: just enough HTTP for the tests above.
final class RawHTTP: Sendable {
    struct Failure: Error { let what: String }
    let fd: Int32

    init(port: UInt16) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Failure(what: "socket") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(fd)
            throw Failure(what: "connect")
        }
    }

    func send(_ text: String) throws {
        let bytes = Array(text.utf8)
        guard Glibc.send(fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw Failure(what: "send") }
    }

    /// Reads until `done` holds for everything read so far.
    func read(until done: (String) -> Bool) throws -> String {
        var received = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while !done(String(decoding: received, as: UTF8.self)) {
            let n = recv(fd, &chunk, chunk.count, 0)
            guard n > 0 else { throw Failure(what: "connection ended or timed out after \(String(decoding: received, as: UTF8.self))") }
            received += chunk[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// Reads until the server closes the connection.
    func readToEnd() throws -> String {
        var received = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4_096)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n == 0 { return String(decoding: received, as: UTF8.self) }
            guard n > 0 else { throw Failure(what: "no close within the timeout after \(String(decoding: received, as: UTF8.self))") }
            received += chunk[0..<n]
        }
    }

    func close() { Glibc.close(fd) }
}
