import Crypto
import Foundation

/// Why a request's signature was refused, with the error code and text AWS answers with.
public struct SigV4Failure: Error, Sendable, Equatable {
    public enum Code: String, Sendable {
        case missingAuthenticationToken = "MissingAuthenticationTokenException"
        case incompleteSignature = "IncompleteSignatureException"
        case unrecognizedClient = "UnrecognizedClientException"
        case invalidSignature = "InvalidSignatureException"
    }

    public var code: Code
    public var message: String
}

/// The parsed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header.
public struct SigV4Authorization: Sendable, Equatable {
    public var accessKeyId: String
    public var date: String
    public var region: String
    public var service: String
    public var signedHeaders: [String]
    public var signature: String

    public static func parse(_ header: String) -> SigV4Authorization? {
        guard header.hasPrefix(SigV4.algorithm + " ") else { return nil }
        var fields: [String: String] = [:]
        for part in header.dropFirst(SigV4.algorithm.count + 1).split(separator: ",") {
            // Spaces only (what clients put after the commas); Foundation's trimming costs more than the rest.
            let kv = part.drop { $0 == " " }.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { return nil }
            fields[String(kv[0])] = String(kv[1])
        }
        guard let credential = fields["Credential"], let signed = fields["SignedHeaders"], let signature = fields["Signature"] else { return nil }
        let scope = credential.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard scope.count == 5, scope[4] == "aws4_request", !scope[0].isEmpty else { return nil }
        let headers = signed.split(separator: ";").map { $0.lowercased() }
        guard !headers.isEmpty, signature.count == 64 else { return nil }
        return SigV4Authorization(accessKeyId: scope[0], date: scope[1], region: scope[2], service: scope[3], signedHeaders: headers, signature: signature)
    }
}

/// Verifies SigV4-signed requests against a set of known keys.
///
/// With `secrets == nil` (no `--credentials`), any *well-formed* signed request is accepted: the structure,
/// scope, and date are checked, the signature is not. The server only allows that mode on loopback.
public struct SigV4Verifier: Sendable {
    public var secrets: [String: String]?
    public var region: String
    public var allowedSkew: TimeInterval

    public init(secrets: [String: String]?, region: String, allowedSkew: TimeInterval = 300) {
        self.secrets = secrets
        self.region = region
        self.allowedSkew = allowedSkew
    }

    /// Returns the access key that signed the request.
    public func verify(_ request: SigV4Request, services: Set<String>, now: Date) throws(SigV4Failure) -> String {
        guard let header = request.headerValues("authorization").first else {
            throw SigV4Failure(code: .missingAuthenticationToken, message: "Missing Authentication Token")
        }
        guard let auth = SigV4Authorization.parse(header) else {
            throw SigV4Failure(
                code: .incompleteSignature,
                message: "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters in the AWS4-HMAC-SHA256 form. Sign requests with SigV4 (the aws CLI and boto3 do)."
            )
        }
        guard let amzDate = request.headerValues("x-amz-date").first, let signedAt = SigV4.parseAmzDate(amzDate) else {
            throw SigV4Failure(code: .incompleteSignature, message: "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        }
        guard auth.signedHeaders.contains("host"), auth.signedHeaders.contains("x-amz-date") else {
            throw SigV4Failure(code: .incompleteSignature, message: "The request must sign the 'host' and 'x-amz-date' headers.")
        }
        guard auth.date == String(amzDate.prefix(8)) else {
            throw SigV4Failure(code: .invalidSignature, message: "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '\(auth.date)' != '\(amzDate.prefix(8))', from '\(amzDate)'.")
        }
        guard services.contains(auth.service) else {
            throw SigV4Failure(code: .invalidSignature, message: "Credential should be scoped to correct service: '\(services.sorted().joined(separator: "' or '"))'.")
        }
        guard auth.region == region else {
            throw SigV4Failure(
                code: .invalidSignature,
                message: "Credential should be scoped to a valid region, not '\(auth.region)'. This server serves region '\(region)': set AWS_DEFAULT_REGION=\(region) or pass --region \(region)."
            )
        }
        if signedAt < now.addingTimeInterval(-allowedSkew) {
            throw SigV4Failure(
                code: .invalidSignature,
                message: "Signature expired: \(amzDate) is now earlier than \(SigV4.amzDate(now.addingTimeInterval(-allowedSkew))) (\(SigV4.amzDate(now)) - 5 min.)"
            )
        }
        if signedAt > now.addingTimeInterval(allowedSkew) {
            throw SigV4Failure(
                code: .invalidSignature,
                message: "Signature not yet current: \(amzDate) is still later than \(SigV4.amzDate(now.addingTimeInterval(allowedSkew))) (\(SigV4.amzDate(now)) + 5 min.)"
            )
        }
        guard let secrets else { return auth.accessKeyId }
        guard let secret = secrets[auth.accessKeyId] else {
            throw SigV4Failure(code: .unrecognizedClient, message: "The security token included in the request is invalid.")
        }
        let canonical = SigV4.canonicalRequest(request, signedHeaders: auth.signedHeaders)
        let expected = SigV4.signature(secret: secret, amzDate: amzDate, region: auth.region, service: auth.service, canonicalRequest: canonical)
        guard constantTimeEqual(expected, auth.signature.lowercased()) else {
            throw SigV4Failure(
                code: .invalidSignature,
                message: "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
            )
        }
        return auth.accessKeyId
    }

    func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}

/// The AWS shared-credentials file: `[profile]` sections with `aws_access_key_id` / `aws_secret_access_key`.
public enum CredentialsFile {
    /// Every profile's key pair, by profile name.
    public static func parse(_ text: String) -> [String: SigV4Credentials] {
        var result: [String: SigV4Credentials] = [:]
        var section: String?
        var values: [String: String] = [:]
        func flush() {
            if let section, let id = values["aws_access_key_id"], let secret = values["aws_secret_access_key"], !id.isEmpty, !secret.isEmpty {
                result[section] = SigV4Credentials(accessKeyId: id, secretAccessKey: secret, sessionToken: values["aws_session_token"])
            }
            values = [:]
        }
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                flush()
                var name = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("profile ") { name = String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                section = name
                continue
            }
            let kv = line.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            values[kv[0].trimmingCharacters(in: .whitespaces).lowercased()] = kv[1].trimmingCharacters(in: .whitespaces)
        }
        flush()
        return result
    }
}
