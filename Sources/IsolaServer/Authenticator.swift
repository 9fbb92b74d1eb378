import AWSSigV4
import HTTPTypes
import Foundation
import LambdaAPI

/// SigV4 checking for the API port, with AWS's error codes and texts.
struct Authenticator: Sendable {
    let verifier: SigV4Verifier
    let clock: @Sendable () -> Date

    /// The service Lambda API requests are signed for; Logs API requests (`X-Amz-Target: Logs_20140328.*`) are
    /// signed for `logs`.
    static let services: Set<String> = ["lambda"]

    func authenticate(_ request: APIRequest, services: Set<String> = Authenticator.services) throws -> String {
        var headers: [(name: String, value: String)] = request.headers.map { ($0.name.canonicalName, $0.value) }
        // HTTP/1.1's Host header arrives as the request's authority.
        if let authority = request.authority, !headers.contains(where: { $0.name == "host" }) { headers.append(("host", authority)) }
        // The payload is always hashed here: a claimed x-amz-content-sha256 must match it, or a request signed for
        // one body could carry another. Unsigned payloads are refused for the same reason.
        let bodyHash = SigV4.sha256Hex(request.body)
        if let claimed = request.header("x-amz-content-sha256"), claimed.lowercased() != bodyHash {
            throw LambdaError(
                .invalidSignature,
                claimed == "UNSIGNED-PAYLOAD"
                    ? "Isola requires signed payloads; sign the request body (the aws CLI and boto3 do)."
                    : "The provided x-amz-content-sha256 header does not match what was computed."
            )
        }
        let sigv4 = SigV4Request(
            method: request.method.rawValue, rawPath: request.rawPath, rawQuery: request.rawQuery, headers: headers,
            payloadSHA256Hex: bodyHash
        )
        do {
            return try verifier.verify(sigv4, services: services, now: clock())
        } catch {
            let code: LambdaError.Code = switch error.code {
            case .missingAuthenticationToken: .missingAuthenticationToken
            case .incompleteSignature: .incompleteSignature
            case .unrecognizedClient: .unrecognizedClient
            case .invalidSignature: .invalidSignature
            }
            throw LambdaError(code, error.message)
        }
    }
}
