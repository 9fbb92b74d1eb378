import Foundation

/// Whether bytes are one JSON value (RFC 8259; any value at the top, as Invoke payloads may be `"text"` or `42`),
/// checked without building it.
///
/// Why not JSONSerialization: Invoke only needs yes or no, and building the object tree allocated for every
/// member of every payload (up to 6 MB synchronously, 1 MB for events) on the event loop.
public enum JSONSyntax {
    /// Deeper nesting is refused, as parsers commonly do, so a hostile payload cannot make the check expensive.
    public static let maxDepth = 512

    public static func isValid(_ data: Data) -> Bool {
        guard String(validating: data, as: UTF8.self) != nil else { return false }
        return data.withUnsafeBytes { raw in
            var scanner = Scanner(bytes: raw.bindMemory(to: UInt8.self))
            return scanner.document()
        }
    }

    private struct Scanner {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) {
            self.bytes = bytes
        }

        var current: UInt8? { index < bytes.count ? bytes[index] : nil }

        mutating func skipWhitespace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { index += 1 }
        }

        mutating func document() -> Bool {
            skipWhitespace()
            guard value() else { return false }
            skipWhitespace()
            return index == bytes.count
        }

        /// One value; containers are walked with an explicit stack of what is open (no recursion).
        mutating func value() -> Bool {
            var open: [UInt8] = []  // "{" or "["
            while true {
                skipWhitespace()
                guard let byte = current else { return false }
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard open.count < JSONSyntax.maxDepth else { return false }
                    index += 1
                    skipWhitespace()
                    let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                    if current == close {  // empty container: a complete value
                        index += 1
                    } else {
                        open.append(byte)
                        if byte == UInt8(ascii: "{"), !memberName() { return false }
                        continue
                    }
                case UInt8(ascii: "\""):
                    guard string() else { return false }
                case UInt8(ascii: "t"): guard literal("true") else { return false }
                case UInt8(ascii: "f"): guard literal("false") else { return false }
                case UInt8(ascii: "n"): guard literal("null") else { return false }
                default: guard number() else { return false }
                }
                // A value is complete: close containers, or move to the next element.
                while let container = open.last {
                    skipWhitespace()
                    let close = container == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                    if current == close {
                        index += 1
                        open.removeLast()
                    } else if current == UInt8(ascii: ",") {
                        index += 1
                        if container == UInt8(ascii: "{"), !memberName() { return false }
                        break
                    } else {
                        return false
                    }
                }
                if open.isEmpty { return true }
            }
        }

        /// `"name" :` inside an object.
        mutating func memberName() -> Bool {
            skipWhitespace()
            guard current == UInt8(ascii: "\""), string() else { return false }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { return false }
            index += 1
            return true
        }

        mutating func string() -> Bool {
            index += 1  // the opening quote
            while let byte = current {
                index += 1
                switch byte {
                case UInt8(ascii: "\""): return true
                case UInt8(ascii: "\\"):
                    guard let escaped = current else { return false }
                    index += 1
                    switch escaped {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        continue
                    case UInt8(ascii: "u"):
                        for _ in 0..<4 {
                            guard let hex = current, isHexDigit(hex) else { return false }
                            index += 1
                        }
                    default: return false
                    }
                case 0x00..<0x20: return false  // control characters must be escaped
                default: continue
                }
            }
            return false
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
            index += count
            return true
        }

        /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
        mutating func number() -> Bool {
            if current == UInt8(ascii: "-") { index += 1 }
            guard let first = current, isDigit(first) else { return false }
            index += 1
            if first != UInt8(ascii: "0") { skipDigits() }
            if current == UInt8(ascii: ".") {
                index += 1
                guard let digit = current, isDigit(digit) else { return false }
                skipDigits()
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                index += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
                guard let digit = current, isDigit(digit) else { return false }
                skipDigits()
            }
            return true
        }

        mutating func skipDigits() {
            while let byte = current, isDigit(byte) { index += 1 }
        }

        func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

        func isHexDigit(_ byte: UInt8) -> Bool {
            isDigit(byte) || (byte | 0x20 >= UInt8(ascii: "a") && byte | 0x20 <= UInt8(ascii: "f"))
        }
    }
}
