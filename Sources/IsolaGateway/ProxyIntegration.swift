import Foundation
import IsolaStore
import LambdaAPI

/// An HTTP request as the gateway received it.
public struct GatewayRequest: Sendable {
    public var method: String
    /// The path without the query, as sent (percent-encoded).
    public var path: String
    public var rawQuery: String
    /// In arrival order; names as sent.
    public var headers: [(name: String, value: String)]
    public var body: Data
    public var sourceIp: String
    public var requestId: String
    public var time: Date

    public init(method: String, path: String, rawQuery: String, headers: [(name: String, value: String)], body: Data, sourceIp: String, requestId: String, time: Date) {
        self.method = method
        self.path = path
        self.rawQuery = rawQuery
        self.headers = headers
        self.body = body
        self.sourceIp = sourceIp
        self.requestId = requestId
        self.time = time
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// The query as a multi-map, decoded.
    public var query: [(String, String)] {
        rawQuery.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { (String(text).replacingOccurrences(of: "+", with: " ")).removingPercentEncoding ?? String(text) }
            return (decode(kv[0]), kv.count > 1 ? decode(kv[1]) : "")
        }
    }
}

/// Where a route finds the tenant, and the outcome.
public enum TenantMapping {
    public static let defaultHeader = "X-Tenant-ID"
    public static let defaultQuery = "tenant-id"

    /// The tenant the request names, by the route's sources in order: header, query parameter, path parameter,
    /// the Host's first label. A client's `X-Amz-Tenant-Id` is never one of them: only the gateway decides.
    public static func tenant(for request: GatewayRequest, route: GatewayRouteRecord, pathParameters: [String: String]) -> String? {
        if let value = request.header(route.tenantHeader ?? defaultHeader), !value.isEmpty { return value }
        let queryName = route.tenantQuery ?? defaultQuery
        if let value = request.query.first(where: { $0.0 == queryName })?.1, !value.isEmpty { return value }
        if let name = route.tenantPathParameter, let value = pathParameters[name], !value.isEmpty { return value }
        if route.tenantFromHostLabel, let host = request.header("Host") {
            // `blue.api.example.com:9080` -> `blue`; an address (127.0.0.1) names no tenant.
            let name = host.split(separator: ":").first.map(String.init) ?? ""
            if !name.isEmpty, !name.allSatisfy({ $0.isNumber || $0 == "." }), let label = name.split(separator: ".").first, !label.isEmpty {
                return String(label)
            }
        }
        return nil
    }
}

/// Lambda proxy integration events, as API Gateway sends them: payload format 1.0 (REST API) and 2.0 (HTTP API).
public enum ProxyEvent {
    public static func make(_ request: GatewayRequest, route: RouteKey, format: String, pathParameters: [String: String], stage: String = "$default") -> Data {
        let binary = !isText(request.header("Content-Type"), request.body)
        let body: Any = request.body.isEmpty ? NSNull() : (binary ? request.body.base64EncodedString() : String(decoding: request.body, as: UTF8.self))
        var single: [String: String] = [:]
        var multi: [String: [String]] = [:]
        for (name, value) in request.headers {
            single[name] = single[name].map { $0 + "," + value } ?? value
            multi[name, default: []].append(value)
        }
        var querySingle: [String: String] = [:]
        var queryMulti: [String: [String]] = [:]
        for (name, value) in request.query {
            querySingle[name] = value
            queryMulti[name, default: []].append(value)
        }
        let epochMs = Int64(request.time.timeIntervalSince1970 * 1000)
        let object: [String: Any]
        if format == "2.0" {
            var headers: [String: String] = [:]
            for (name, values) in multi { headers[name.lowercased()] = values.joined(separator: ",") }
            var event: [String: Any] = [
                "version": "2.0", "routeKey": route.text, "rawPath": request.path, "rawQueryString": request.rawQuery,
                "headers": headers, "isBase64Encoded": binary,
                "requestContext": [
                    "accountId": "000000000000", "apiId": "isola", "domainName": request.header("Host") ?? "localhost", "domainPrefix": "isola",
                    "http": ["method": request.method, "path": request.path, "protocol": "HTTP/1.1", "sourceIp": request.sourceIp, "userAgent": request.header("User-Agent") ?? ""],
                    "requestId": request.requestId, "routeKey": route.text, "stage": stage, "time": httpDate(request.time), "timeEpoch": epochMs,
                ] as [String: Any],
            ]
            if !request.body.isEmpty { event["body"] = body }
            if !querySingle.isEmpty { event["queryStringParameters"] = querySingle }
            if !pathParameters.isEmpty { event["pathParameters"] = pathParameters }
            if let cookies = multi.first(where: { $0.key.lowercased() == "cookie" })?.value {
                event["cookies"] = cookies.flatMap { $0.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) } }
            }
            object = event
        } else {
            object = [
                "resource": route.resource, "path": request.path, "httpMethod": request.method,
                "headers": single.isEmpty ? NSNull() : single, "multiValueHeaders": multi.isEmpty ? NSNull() : multi,
                "queryStringParameters": querySingle.isEmpty ? NSNull() : querySingle,
                "multiValueQueryStringParameters": queryMulti.isEmpty ? NSNull() : queryMulti,
                "pathParameters": pathParameters.isEmpty ? NSNull() : pathParameters, "stageVariables": NSNull(),
                "requestContext": [
                    "accountId": "000000000000", "apiId": "isola", "resourcePath": route.resource, "httpMethod": request.method, "path": request.path,
                    "protocol": "HTTP/1.1", "requestId": request.requestId, "stage": stage, "requestTimeEpoch": epochMs, "requestTime": httpDate(request.time),
                    "domainName": request.header("Host") ?? "localhost",
                    "identity": ["sourceIp": request.sourceIp, "userAgent": request.header("User-Agent") ?? NSNull()] as [String: Any],
                ] as [String: Any],
                "body": body, "isBase64Encoded": binary,
            ]
        }
        return JSONText.encode(object)
    }

    /// Text bodies go as strings; anything else (or bytes that are not UTF-8) as base64, as API Gateway does
    /// for binary media.
    static func isText(_ contentType: String?, _ body: Data) -> Bool {
        guard !body.isEmpty else { return true }
        let type = (contentType ?? "").lowercased()
        let textual = type.isEmpty || type.hasPrefix("text/") || type.contains("json") || type.contains("xml") || type.contains("javascript")
            || type.contains("x-www-form-urlencoded")
        return textual && String(data: body, encoding: .utf8) != nil
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `25/Nov/2026:10:22:56 +0000`, API Gateway's requestTime (by hand: a DateFormatter costs more than the
    /// rest of the event together).
    static func httpDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let month = months[Int(max(0, min(11, parts.tm_mon)))]
        return "\(two(parts.tm_mday))/\(month)/\(parts.tm_year + 1900):\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }
}

/// The function's answer turned into the HTTP response, as the proxy integration reads it.
public struct ProxyResponse: Sendable, Equatable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public static func == (a: ProxyResponse, b: ProxyResponse) -> Bool {
        a.status == b.status && a.body == b.body && a.headers.map { "\($0.0):\($0.1)" } == b.headers.map { "\($0.0):\($0.1)" }
    }

    /// nil when the result is not a valid proxy response (API Gateway answers 502 then). Format 2.0 also takes a
    /// result without `statusCode` as a JSON body with status 200.
    public static func parse(_ payload: Data, format: String) -> ProxyResponse? {
        let object = try? JSONSerialization.jsonObject(with: payload, options: [.fragmentsAllowed])
        guard let dictionary = object as? [String: Any], dictionary["statusCode"] != nil else {
            guard format == "2.0", object != nil else { return nil }
            return ProxyResponse(status: 200, headers: [("Content-Type", "application/json")], body: payload)
        }
        guard let status = (dictionary["statusCode"] as? NSNumber)?.intValue ?? (dictionary["statusCode"] as? String).flatMap(Int.init),
            (100...599).contains(status)
        else { return nil }
        var headers: [(String, String)] = []
        if let single = dictionary["headers"] as? [String: Any] {
            for (name, value) in single.sorted(by: { $0.key < $1.key }) { headers.append((name, "\(value)")) }
        } else if dictionary["headers"] != nil, !(dictionary["headers"] is NSNull) {
            return nil
        }
        if let multi = dictionary["multiValueHeaders"] as? [String: [Any]] {
            for (name, values) in multi.sorted(by: { $0.key < $1.key }) {
                headers.removeAll { $0.0.caseInsensitiveCompare(name) == .orderedSame }
                for value in values { headers.append((name, "\(value)")) }
            }
        }
        if format == "2.0", let cookies = dictionary["cookies"] as? [String] {
            for cookie in cookies { headers.append(("Set-Cookie", cookie)) }
        }
        var body = Data()
        switch dictionary["body"] {
        case nil, is NSNull: break
        case let text as String:
            if (dictionary["isBase64Encoded"] as? Bool) == true {
                guard let decoded = Data(base64Encoded: text) else { return nil }
                body = decoded
            } else {
                body = Data(text.utf8)
            }
        default:
            return nil  // the body must be a string
        }
        if !headers.contains(where: { $0.0.caseInsensitiveCompare("Content-Type") == .orderedSame }) {
            headers.append(("Content-Type", "application/json"))
        }
        return ProxyResponse(status: status, headers: headers, body: body)
    }
}
