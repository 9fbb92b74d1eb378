import Testing

@testable import IsolaSandbox

/// Output fences: markers written behind a child's output are stripped and counted, even when a read splits one.
struct FenceScannerTests {
    @Test func stripsAndCountsWholeMarkers() {
        var scanner = FenceScanner()
        let (text, seen) = scanner.scan(ArraySlice(Array("hello\n".utf8) + fenceMarker + Array("after".utf8)))
        #expect(String(decoding: text, as: UTF8.self) == "hello\nafter")
        #expect(seen == 1)
    }

    @Test func aMarkerSplitAcrossReadsIsStillFound() {
        var scanner = FenceScanner()
        let bytes = Array("abc".utf8) + fenceMarker + Array("def".utf8)
        var text: [UInt8] = []
        var seen = 0
        for cut in [5, 9, bytes.count] {
            let start = [0, 5, 9][[5, 9, bytes.count].firstIndex(of: cut) ?? 0]
            let (part, count) = scanner.scan(bytes[start..<cut])
            text += part
            seen += count
        }
        #expect(String(decoding: text, as: UTF8.self) == "abcdef")
        #expect(seen == 1)
    }

    @Test func textThatOnlyLooksLikeTheStartOfAMarkerIsKept() {
        var scanner = FenceScanner()
        let (first, _) = scanner.scan(ArraySlice([0x00, 0xFF]))
        let (second, seen) = scanner.scan(ArraySlice(Array("x".utf8)))
        #expect(first + second == [0x00, 0xFF] + Array("x".utf8))
        #expect(seen == 0)
    }
}
