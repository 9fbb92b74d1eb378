import Foundation
import Logging
import Testing

@testable import IsolaLogs

@Suite("Log store: groups, streams, events, retention")
struct SQLiteLogStoreTests {
    func store() throws -> (SQLiteLogStore, URL) {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("isola-logs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        return (try SQLiteLogStore(path: root.appendingPathComponent("logs.sqlite").path), root)
    }

    func event(_ stream: String, _ timestamp: Int64, _ message: String, group: String = "/aws/lambda/f") -> IsolaLogs.LogEvent {
        IsolaLogs.LogEvent(group: group, stream: stream, timestamp: timestamp, message: message)
    }

    @Test func appendCreatesGroupsAndStreamsAndKeepsTheirFigures() async throws {
        let (store, root) = try store()
        defer { try? FileManager.default.removeItem(at: root) }
        try await store.append([event("a", 10, "one\n"), event("a", 20, "two\n"), event("b", 15, "three\n")], now: 100)
        let streams = try await store.streams(group: "/aws/lambda/f", prefix: nil, orderByLastEvent: false, descending: false, offset: 0, limit: 10)
        #expect(streams.map(\.name) == ["a", "b"])
        #expect(streams[0].firstEventTimestamp == 10 && streams[0].lastEventTimestamp == 20 && streams[0].storedBytes == 8)
        #expect(try await store.group("/aws/lambda/f")?.storedBytes == 14)
        let byLast = try await store.streams(group: "/aws/lambda/f", prefix: nil, orderByLastEvent: true, descending: true, offset: 0, limit: 10)
        #expect(byLast.map(\.name) == ["a", "b"])
    }

    @Test func getEventsPagesForwardAndBackward() async throws {
        let (store, root) = try store()
        defer { try? FileManager.default.removeItem(at: root) }
        try await store.append((1...5).map { event("s", Int64($0), "e\($0)") }, now: 100)
        let head = try await store.events(group: "/aws/lambda/f", stream: "s", start: nil, end: nil, after: nil, before: nil, fromHead: true, limit: 2)
        #expect(head.map(\.message) == ["e1", "e2"])
        let next = try await store.events(group: "/aws/lambda/f", stream: "s", start: nil, end: nil, after: head.last?.id, before: nil, fromHead: true, limit: 2)
        #expect(next.map(\.message) == ["e3", "e4"])
        let tail = try await store.events(group: "/aws/lambda/f", stream: "s", start: nil, end: nil, after: nil, before: nil, fromHead: false, limit: 2)
        #expect(tail.map(\.message) == ["e4", "e5"])
        let window = try await store.events(group: "/aws/lambda/f", stream: "s", start: 2, end: 4, after: nil, before: nil, fromHead: true, limit: 10)
        #expect(window.map(\.message) == ["e2", "e3"])
        await #expect(throws: LogsError.streamNotFound) {
            _ = try await store.events(group: "/aws/lambda/f", stream: "nope", start: nil, end: nil, after: nil, before: nil, fromHead: true, limit: 1)
        }
    }

    @Test func filterScansInOrderAndResumesFromItsToken() async throws {
        let (store, root) = try store()
        defer { try? FileManager.default.removeItem(at: root) }
        try await store.append((1...10).map { event($0 % 2 == 0 ? "even" : "odd", Int64($0), "n\($0)") }, now: 100)
        let first = try await store.filter(group: "/aws/lambda/f", streams: nil, streamPrefix: nil, tenant: nil, start: nil, end: nil, after: nil, limit: 3, scanLimit: 100) { _ in true }
        #expect(first.events.map(\.message) == ["n1", "n2", "n3"] && first.next != nil)
        let rest = try await store.filter(group: "/aws/lambda/f", streams: ["even"], streamPrefix: nil, tenant: nil, start: nil, end: nil, after: first.next, limit: 10, scanLimit: 100) { _ in true }
        #expect(rest.events.map(\.message) == ["n4", "n6", "n8", "n10"] && rest.next == nil)
        let matched = try await store.filter(group: "/aws/lambda/f", streams: nil, streamPrefix: "od", tenant: nil, start: nil, end: nil, after: nil, limit: 10, scanLimit: 100) { $0.message.hasSuffix("5") }
        #expect(matched.events.map(\.message) == ["n5"])
    }

    @Test func retentionRemovesOldEventsPerGroupAndEverywhere() async throws {
        let (store, root) = try store()
        defer { try? FileManager.default.removeItem(at: root) }
        let day: Int64 = 86_400_000
        let now = 100 * day
        try await store.append([event("s", now - 20 * day, "old"), event("s", now - 2 * day, "recent"), event("s", now, "new")], now: now)
        try await store.append([event("s", now - 2 * day, "recent elsewhere", group: "g2")], now: now)
        try await store.setRetention("/aws/lambda/f", days: 1)
        #expect(try await store.enforceRetention(now: now, maximumAgeDays: 7) == 2)
        let left = try await store.filter(group: "/aws/lambda/f", streams: nil, streamPrefix: nil, tenant: nil, start: nil, end: nil, after: nil, limit: 10, scanLimit: 100) { _ in true }
        #expect(left.events.map(\.message) == ["new"])
        #expect(try await store.group("/aws/lambda/f")?.storedBytes == 3)
        let other = try await store.filter(group: "g2", streams: nil, streamPrefix: nil, tenant: nil, start: nil, end: nil, after: nil, limit: 10, scanLimit: 100) { _ in true }
        #expect(other.events.count == 1)
    }

    @Test func aBatchedWriterWritesEverythingAndRendersDeferredLinesLate() async throws {
        let (store, root) = try store()
        defer { try? FileManager.default.removeItem(at: root) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let writer = LogWriter(store: store, interval: .milliseconds(10), logger: logger)
        writer.add([event("s", 1, "line\n")])
        writer.add(group: "/aws/lambda/f", stream: "s", timestamp: 2) { ["END\n", "REPORT\n"] }
        #expect(writer.pending == 2)
        await writer.flush()
        let all = try await store.filter(group: "/aws/lambda/f", streams: nil, streamPrefix: nil, tenant: nil, start: nil, end: nil, after: nil, limit: 10, scanLimit: 100) { _ in true }
        #expect(all.events.map(\.message) == ["line\n", "END\n", "REPORT\n"])
    }

    @Test func aFloodBeyondTheWritersMemoryCapIsDroppedNotBuffered() async throws {
        let (store, root) = try store()
        defer { try? FileManager.default.removeItem(at: root) }
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let writer = LogWriter(store: store, capacity: 1_000, logger: logger)
        for i in 0..<10 { writer.add([event("s", Int64(i), String(repeating: "x", count: 300))]) }
        #expect(writer.pending == 2)
        await writer.flush()
        #expect(writer.pending == 0 && writer.lag == .zero)
        writer.add([event("s", 11, "after the flush there is room again")])
        #expect(writer.pending == 1)
    }
}
