import Crypto
import Foundation

/// Pre-signed download URLs for deployment packages, as GetFunction's `Code.Location` (AWS hands out a
/// pre-signed S3 URL valid for 10 minutes). The key lives in the data directory, so URLs survive a restart.
struct CodeURLSigner: Sendable {
    static let validity: TimeInterval = 600
    /// Kept as bytes: `SymmetricKey` is not `Sendable`.
    let keyBytes: Data

    var key: SymmetricKey { SymmetricKey(data: keyBytes) }

    /// Loads the key from `file`, creating it (mode 0600) on first use.
    static func load(from file: URL) throws -> CodeURLSigner {
        if let data = try? Data(contentsOf: file), data.count == 32 {
            return CodeURLSigner(keyBytes: data)
        }
        let key = SymmetricKey(size: .bits256)
        let data = key.withUnsafeBytes { Data($0) }
        guard FileManager.default.createFile(atPath: file.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw StartupError("Cannot write \(file.path): check that the data directory is writable.")
        }
        return CodeURLSigner(keyBytes: data)
    }

    func signature(digest: String, expires: Int) -> String {
        HMAC<SHA256>.authenticationCode(for: Data("\(digest)\n\(expires)".utf8), using: key).map { String(format: "%02x", $0) }.joined()
    }

    func url(authority: String, digest: String, now: Date) -> String {
        let expires = Int(now.timeIntervalSince1970 + Self.validity)
        return "http://\(authority)/isola/v1/code/\(digest)?expires=\(expires)&signature=\(signature(digest: digest, expires: expires))"
    }

    func isValid(digest: String, expires: String?, signature: String?, now: Date) -> Bool {
        guard let expires, let deadline = Int(expires), let signature, Double(deadline) >= now.timeIntervalSince1970 else { return false }
        let expected = Array(self.signature(digest: digest, expires: deadline).utf8)
        let given = Array(signature.utf8)
        guard expected.count == given.count else { return false }
        return zip(expected, given).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
