import AWSSigV4
import HTTPTypes
import Foundation
import LambdaAPI

/// SigV4 checking for the API port, with AWS's error codes and texts.
struct Authenticator: Sendable {
    let verifier: SigV4Verifier
    let clock: @Sendable () -> Date

    /// Services a request may be signed for on this endpoint (`logs` joins with the Logs API).
    static let services: Set<String> = ["lambda"]

    func authenticate(_ request: APIRequest) throws -> String {
        var headers: [(name: String, value: String)] = request.headers.map { ($0.name.canonicalName, $0.value) }
        // HTTP/1.1's Host header arrives as the request's authority.
        if let authority = request.authority, !headers.contains(where: { $0.name == "host" }) { headers.append(("host", authority)) }
        let sigv4 = SigV4Request(
            method: request.method.rawValue, rawPath: request.rawPath, rawQuery: request.rawQuery, headers: headers,
            payloadSHA256Hex: request.header("x-amz-content-sha256").flatMap { $0 == "UNSIGNED-PAYLOAD" ? nil : $0 } ?? SigV4.sha256Hex(request.body)
        )
        do {
            return try verifier.verify(sigv4, services: Self.services, now: clock())
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
