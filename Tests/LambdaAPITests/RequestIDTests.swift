import Foundation
import LambdaAPI
import Testing

@Suite struct RequestIDTests {
    @Test func isALowerCaseVersion4UUID() throws {
        for _ in 0..<500 {
            let id = RequestID.make()
            let uuid = try #require(UUID(uuidString: id), "\(id) is not a UUID")
            #expect(id == uuid.uuidString.lowercased())
            let bytes = uuid.uuid
            #expect(bytes.6 >> 4 == 4, "version nibble of \(id)")
            #expect(bytes.8 & 0xC0 == 0x80, "variant bits of \(id)")
        }
    }

    /// Many more than one 4 KB block of randomness (256 ids each), from several threads at once: never a repeat.
    @Test func neverRepeatsAcrossBlocksAndThreads() async {
        let ids = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<4 { group.addTask { (0..<2_000).map { _ in RequestID.make() } } }
            return await group.reduce(into: [String]()) { $0 += $1 }
        }
        #expect(ids.count == 8_000)
        #expect(Set(ids).count == ids.count)
    }

    @Test func randomNumbersSpreadOverTheWholeRange() {
        let values = (0..<1_000).map { _ in RandomBytes.shared.next() }
        #expect(Set(values).count == values.count)
        #expect(values.contains { $0 >> 63 == 1 } && values.contains { $0 >> 63 == 0 })
        #expect(RandomBytes.shared.take(5_000).count == 4_096, "one call hands out at most one block")
    }
}
