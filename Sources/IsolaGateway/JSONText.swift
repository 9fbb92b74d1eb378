import Foundation

/// A small JSON writer for the proxy events (dictionaries, arrays, strings, numbers, booleans, null): Foundation's
/// `JSONSerialization` costs more than the rest of the gateway's work on a request together.
enum JSONText {
    static func encode(_ value: Any) -> Data {
        var out = ""
        out.reserveCapacity(1024)
        write(value, into: &out)
        return Data(out.utf8)
    }

    static func write(_ value: Any, into out: inout String) {
        switch value {
        case let string as String: writeString(string, into: &out)
        case let flag as Bool: out += flag ? "true" : "false"
        case let number as Int: out += String(number)
        case let number as Int64: out += String(number)
        case let number as Double: out += number.isFinite ? String(number) : "null"
        case let dictionary as [String: Any]:
            out += "{"
            var first = true
            for (key, item) in dictionary {
                if !first { out += "," }
                first = false
                writeString(key, into: &out)
                out += ":"
                write(item, into: &out)
            }
            out += "}"
        case let array as [Any]:
            out += "["
            for (index, item) in array.enumerated() {
                if index > 0 { out += "," }
                write(item, into: &out)
            }
            out += "]"
        default:
            out += "null"
        }
    }

    static func writeString(_ string: String, into out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let c where c.value < 0x20:
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
