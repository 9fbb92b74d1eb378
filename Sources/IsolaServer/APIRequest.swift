import AWSSigV4
import Foundation
import HTTPTypes
import LambdaAPI

/// An HTTP request reduced to what the API adapters need: the raw path split into decoded segments,
/// the query as a multi-map, the headers and the whole body.
struct APIRequest: Sendable {
    var method: HTTPRequest.Method
    var rawPath: String
    var rawQuery: String
    var segments: [String]
    var query: [String: [String]]
    var headers: HTTPFields
    var body: Data
    var requestId: String
    /// The Host the client addressed (HTTP/1.1's Host header arrives as the authority).
    var authority: String?

    init(method: HTTPRequest.Method, target: String, authority: String?, headers: HTTPFields, body: Data, requestId: String) {
        self.method = method
        self.authority = authority
        let parts = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        rawPath = parts.isEmpty ? "/" : String(parts[0])
        rawQuery = parts.count > 1 ? String(parts[1]) : ""
        segments = rawPath.split(separator: "/", omittingEmptySubsequences: true).map { SigV4.percentDecode(String($0)) }
        var query: [String: [String]] = [:]
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = SigV4.percentDecode(String(kv[0]))
            query[key, default: []].append(kv.count > 1 ? SigV4.percentDecode(String(kv[1])) : "")
        }
        self.query = query
        self.headers = headers
        self.body = body
        self.requestId = requestId
    }

    func queryValue(_ name: String) -> String? { query[name]?.first }

    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { headers[$0] }
    }

    /// `MaxItems` and friends: an integer query parameter, or AWS's validation error.
    func intQuery(_ name: String, field: String) throws -> Int? {
        guard let raw = queryValue(name) else { return nil }
        guard let value = Int(raw) else {
            throw LambdaError.validation([ConstraintViolation(value: raw, field: field, constraint: "Member must be an integer")])
        }
        return value
    }

    /// Decodes the JSON body (an empty body counts as `{}`), turning decoding failures into AWS's error.
    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let data = body.isEmpty ? Data("{}".utf8) : body
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw LambdaError.malformedJSON(Self.describe(error))
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let names = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return names.isEmpty ? "the body" : "'\(names.joined(separator: "."))'"
        }
        switch error {
        case .typeMismatch(let type, let context): return "Unexpected value for \(path(context)): expected \(Self.jsonName(type))."
        case .valueNotFound(let type, let context): return "Missing value for \(path(context)): expected \(Self.jsonName(type))."
        case .keyNotFound(let key, _): return "Missing member '\(key.stringValue)'."
        case .dataCorrupted(let context):
            return context.codingPath.isEmpty ? "The body is not valid JSON." : "Invalid value for \(path(context))."
        @unknown default: return "The body is not valid JSON."
        }
    }

    static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type, is Double.Type: "a number"
        case is Bool.Type: "a boolean"
        case is [Any].Type: "a list"
        default: "an object"
        }
    }
}

/// What an adapter answers: status, extra headers and a body (JSON unless a header says otherwise).
struct APIResponse: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields = [:]
    var body: Data = Data()

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> APIResponse {
        APIResponse(status: status, body: try encoder.encode(value))
    }

    static func empty(_ status: HTTPResponse.Status = .noContent) -> APIResponse {
        APIResponse(status: status)
    }

    static func error(_ error: LambdaError) -> APIResponse {
        var headers = HTTPFields()
        if let name = HTTPField.Name("x-amzn-ErrorType") { headers[name] = error.code.rawValue }
        if error.code == .tooManyRequests, let name = HTTPField.Name("Retry-After") { headers[name] = "1" }
        let body = (try? encoder.encode(error.body)) ?? Data()
        return APIResponse(status: HTTPResponse.Status(code: error.code.httpStatus), headers: headers, body: body)
    }
}
