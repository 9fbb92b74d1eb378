import Foundation
import IsolaSandbox
import Testing

@Suite struct KernelFileTests {
    /// /proc files report a size of 0; this one is far past a page in any Swift process, and must come back whole.
    @Test func readsAProcFilePastOnePage() throws {
        let maps = try #require(KernelFile.read("/proc/self/maps"))
        #expect(maps.utf8.count > 4_096)
        #expect(maps.hasSuffix("\n"))
        #expect(maps.split(separator: "\n").allSatisfy { $0.split(separator: " ", omittingEmptySubsequences: true).count >= 5 }, "whole lines only")
    }

    @Test func readsARegularFileAndRefusesAMissingOne() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("kernelfile-\(getpid())")
        let text = String(repeating: "0123456789abcdef\n", count: 5_000)
        try text.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(KernelFile.read(url.path) == text)
        #expect(KernelFile.read("/nonexistent/\(getpid())") == nil)
    }
}
