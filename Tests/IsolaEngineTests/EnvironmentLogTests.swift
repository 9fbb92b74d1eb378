import Foundation
import IsolaSandbox
import Testing

@testable import IsolaEngine

/// awslambdaric's framed telemetry records, as the host reads them from the sandbox's fd 4.
@Suite("Environment log: telemetry frames")
struct EnvironmentLogTests {
    func log() -> EnvironmentLog {
        EnvironmentLog(
            identity: .init(
                group: "/aws/lambda/f", stream: "s", json: false, functionName: "f", functionArn: "arn", version: "$LATEST",
                memoryMB: 128, runtimeVersion: "python:3.11.isola", runtimeVersionArn: "arn:runtime"
            ),
            tenant: "t", writer: nil
        )
    }

    func frame(_ message: [UInt8], declaredLength: Int? = nil) -> [UInt8] {
        let length = declaredLength ?? message.count
        return [0xA5, 0x5A, 0x00, 0x03] + withUnsafeBytes(of: UInt32(length).bigEndian, Array.init)
            + withUnsafeBytes(of: UInt64(1_764_000_000_000_000).bigEndian, Array.init) + message
    }

    @Test func framesSplitAcrossReadsAndGarbageBetweenThem() {
        let log = log()
        let bytes = Array("garbage".utf8) + frame(Array("first\nline two".utf8)) + frame(Array("second".utf8))
        for chunk in stride(from: 0, to: bytes.count, by: 5).map({ Array(bytes[$0..<min($0 + 5, bytes.count)]) }) {
            log.output(.telemetry, chunk)
        }
        #expect(log.tail.take() == "first\nline two\nsecond\n")
    }

    @Test func anOverLongFrameIsCutAndTheRestSkippedNotBuffered() {
        let log = log()
        let huge = [UInt8](repeating: UInt8(ascii: "x"), count: 1_000_000)
        let bytes = frame(huge) + frame(Array("after".utf8))
        for start in stride(from: 0, to: bytes.count, by: 65_536) {
            log.output(.telemetry, Array(bytes[start..<min(start + 65_536, bytes.count)]))
        }
        let text = log.tail.take()
        // The tail keeps its last 64 KB; what matters: the long one was cut and the next frame still parsed.
        #expect(text.hasSuffix("x\nafter\n"))
    }
}
