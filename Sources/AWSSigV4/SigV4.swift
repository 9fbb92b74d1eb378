import Crypto
import Foundation

/// AWS Signature Version 4 for header-signed requests: the canonical request, the signing key and the
/// signature, shared by the CLI (which signs) and the server (which verifies). Pure: no clock, no I/O.
public struct SigV4Credentials: Sendable, Equatable {
    public var accessKeyId: String
    public var secretAccessKey: String
    public var sessionToken: String?

    public init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }
}

/// A request as it is on the wire: the path and query still percent-encoded as the client sent them.
public struct SigV4Request: Sendable {
    public var method: String
    public var rawPath: String
    public var rawQuery: String
    public var headers: [(name: String, value: String)]
    public var payloadSHA256Hex: String

    public init(method: String, rawPath: String, rawQuery: String, headers: [(name: String, value: String)], payloadSHA256Hex: String) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers
        self.payloadSHA256Hex = payloadSHA256Hex
    }

    public func headerValues(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.name.lowercased() == lower }.map(\.value)
    }
}

public enum SigV4 {
    public static let algorithm = "AWS4-HMAC-SHA256"

    public static func sha256Hex(_ data: some DataProtocol) -> String {
        hex(SHA256.hash(data: data))
    }

    /// RFC 3986 percent-encoding as SigV4 wants it: everything but `A-Za-z0-9-._~` (and `/` when asked).
    public static func uriEncode(_ string: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(string.utf8.count)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(byte)))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out.append("%")
                out.append(Character(UnicodeScalar(upperHexDigits[Int(byte >> 4)])))
                out.append(Character(UnicodeScalar(upperHexDigits[Int(byte & 0x0f)])))
            }
        }
        return out
    }

    /// Decodes `%XX` escapes (and nothing else; `+` stays `+`, as SigV4 clients encode spaces as `%20`).
    public static func percentDecode(_ string: String) -> String {
        guard string.utf8.contains(UInt8(ascii: "%")) else { return string }
        var bytes: [UInt8] = []
        var utf8 = Array(string.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2, let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The canonical query: each pair decoded, re-encoded the canonical way, sorted by key then value.
    public static func canonicalQuery(_ rawQuery: String) -> String {
        guard !rawQuery.isEmpty else { return "" }
        let pairs = rawQuery.split(separator: "&", omittingEmptySubsequences: true).map { pair -> (String, String) in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = uriEncode(percentDecode(String(kv[0])), keepSlash: false)
            let value = kv.count > 1 ? uriEncode(percentDecode(String(kv[1])), keepSlash: false) : ""
            return (key, value)
        }
        return pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    static func canonicalHeaderValue(_ values: [String]) -> String {
        values.map { $0.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
            .joined(separator: ",")
    }

    /// The canonical request for the given signed headers (lower-case names, sorted).
    public static func canonicalRequest(_ request: SigV4Request, signedHeaders: [String]) -> String {
        // Non-S3 services encode the already-encoded path once more (botocore does the same).
        let path = request.rawPath.isEmpty ? "/" : request.rawPath
        let headerLines = signedHeaders.map { "\($0):\(canonicalHeaderValue(request.headerValues($0)))\n" }.joined()
        return [
            request.method.uppercased(),
            uriEncode(path, keepSlash: true),
            canonicalQuery(request.rawQuery),
            headerLines,
            signedHeaders.joined(separator: ";"),
            request.payloadSHA256Hex,
        ].joined(separator: "\n")
    }

    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, amzDate, scope, sha256Hex(Data(canonicalRequest.utf8))].joined(separator: "\n")
    }

    public static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        var key = SymmetricKey(data: Data("AWS4\(secret)".utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        return key
    }

    public static func signature(secret: String, amzDate: String, region: String, service: String, canonicalRequest: String) -> String {
        let date = String(amzDate.prefix(8))
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let key = signingKey(secret: secret, date: date, region: region, service: service)
        let toSign = stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonicalRequest)
        return hex(HMAC<SHA256>.authenticationCode(for: Data(toSign.utf8), using: key))
    }

    /// Signs a request: returns the headers to add (`X-Amz-Date`, `Authorization`, and the session token if any).
    /// `request.headers` must already contain `host`.
    public static func sign(_ request: SigV4Request, credentials: SigV4Credentials, region: String, service: String, amzDate: String) -> [(name: String, value: String)] {
        var request = request
        var added: [(name: String, value: String)] = [("X-Amz-Date", amzDate)]
        if let token = credentials.sessionToken { added.append(("X-Amz-Security-Token", token)) }
        request.headers += added
        let signed = Set(request.headers.map { $0.name.lowercased() }).filter { $0 == "host" || $0.hasPrefix("x-amz-") || $0 == "content-type" }.sorted()
        let canonical = canonicalRequest(request, signedHeaders: signed)
        let signature = signature(secret: credentials.secretAccessKey, amzDate: amzDate, region: region, service: service, canonicalRequest: canonical)
        let scope = "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
        added.append(("Authorization", "\(algorithm) Credential=\(credentials.accessKeyId)/\(scope), SignedHeaders=\(signed.joined(separator: ";")), Signature=\(signature)"))
        return added
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec)
        )
    }

    /// Parses `yyyyMMdd'T'HHmmss'Z'`; nil for anything else.
    public static func parseAmzDate(_ string: String) -> Date? {
        let chars = Array(string)
        guard chars.count == 16, chars[8] == "T", chars[15] == "Z" else { return nil }
        func number(_ range: Range<Int>) -> Int32? { Int32(String(chars[range])) }
        guard let y = number(0..<4), let mo = number(4..<6), let d = number(6..<8), let h = number(9..<11),
            let mi = number(11..<13), let s = number(13..<15), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61
        else { return nil }
        var parts = tm()
        parts.tm_year = y - 1900
        parts.tm_mon = mo - 1
        parts.tm_mday = d
        parts.tm_hour = h
        parts.tm_min = mi
        parts.tm_sec = s
        return Date(timeIntervalSince1970: TimeInterval(timegm(&parts)))
    }

    /// Lower-case hex, without `String(format:)` (it is on every request's path, three times).
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in bytes {
            out.append(lowerHexDigits[Int(byte >> 4)])
            out.append(lowerHexDigits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let lowerHexDigits = Array("0123456789abcdef".utf8)
    static let upperHexDigits = Array("0123456789ABCDEF".utf8)
}
