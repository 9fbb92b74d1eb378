import Foundation
import IsolaStore

/// An API Gateway route key: `$default`, or `METHOD /path` where METHOD is ANY or an HTTP method and the path's
/// segments are literals, `{name}` parameters, or a final greedy `{name+}`.
public struct RouteKey: Sendable, Equatable {
    public enum Segment: Sendable, Equatable {
        case literal(String)
        case parameter(String)
        case greedy(String)
    }

    public static let methods: Set<String> = ["ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

    public var method: String
    public var segments: [Segment]
    public var isDefault: Bool
    /// The path as written (`/orders/{id}`), API Gateway's `resource` / `routeKey`.
    public var resource: String

    public init(_ text: String) throws(RouteKeyError) {
        if text == "$default" {
            method = "ANY"
            segments = []
            isDefault = true
            resource = "$default"
            return
        }
        let parts = text.split(separator: " ", omittingEmptySubsequences: true)
        guard parts.count == 2, Self.methods.contains(String(parts[0])) else {
            throw RouteKeyError("A route key is `$default` or `METHOD /path` with METHOD one of \(Self.methods.sorted().joined(separator: ", ")) (got '\(text)').")
        }
        method = String(parts[0])
        resource = String(parts[1])
        isDefault = false
        guard resource.hasPrefix("/") else { throw RouteKeyError("A route path starts with '/' (got '\(resource)').") }
        let raw = resource.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var segments: [Segment] = []
        for (index, part) in raw.enumerated() {
            if part.hasPrefix("{"), part.hasSuffix("}") {
                var name = String(part.dropFirst().dropLast())
                let greedy = name.hasSuffix("+")
                if greedy { name.removeLast() }
                guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                    throw RouteKeyError("Path parameter '\(part)' must be {name} or {name+} with letters, digits, '_' or '-'.")
                }
                if greedy {
                    guard index == raw.count - 1 else { throw RouteKeyError("A greedy parameter {\(name)+} must be the last segment.") }
                    segments.append(.greedy(name))
                } else {
                    segments.append(.parameter(name))
                }
            } else {
                guard !part.contains("{"), !part.contains("}") else { throw RouteKeyError("Path segment '\(part)' mixes text and a parameter.") }
                segments.append(.literal(part))
            }
        }
        self.segments = segments
    }

    public var text: String { isDefault ? "$default" : "\(method) \(resource)" }

    /// The path parameters when `path` matches, else nil.
    func match(_ path: [String]) -> [String: String]? {
        guard !isDefault else { return [:] }
        var parameters: [String: String] = [:]
        for (index, segment) in segments.enumerated() {
            switch segment {
            case .literal(let literal):
                guard index < path.count, path[index] == literal else { return nil }
            case .parameter(let name):
                guard index < path.count else { return nil }
                parameters[name] = path[index]
            case .greedy(let name):
                guard index < path.count else { return nil }
                parameters[name] = path[index...].joined(separator: "/")
                return parameters
            }
        }
        return path.count == segments.count ? parameters : nil
    }

    /// Higher wins: more literal segments, then more segments, then a named method over ANY; greedy routes rank
    /// below every non-greedy one, and `$default` below all.
    var precedence: (Int, Int, Int, Int, Int) {
        if isDefault { return (0, 0, 0, 0, 0) }
        let greedy = segments.contains { if case .greedy = $0 { true } else { false } }
        let literals = segments.filter { if case .literal = $0 { true } else { false } }.count
        return (1, greedy ? 0 : 1, literals, segments.count, method == "ANY" ? 0 : 1)
    }
}

public struct RouteKeyError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// The routes, ordered so that the first match is the most specific one.
public struct RouteTable: Sendable {
    public struct Entry: Sendable {
        public var record: GatewayRouteRecord
        public var key: RouteKey
    }

    let entries: [Entry]

    public init(_ records: [GatewayRouteRecord]) {
        entries = records.compactMap { record in (try? RouteKey(record.routeKey)).map { Entry(record: record, key: $0) } }
            .sorted { $0.key.precedence > $1.key.precedence }
    }

    /// The most specific route for the request, and its path parameters.
    public func match(method: String, path: String) -> (Entry, [String: String])? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map { $0.removingPercentEncoding ?? String($0) }
        for entry in entries where entry.key.method == "ANY" || entry.key.method == method.uppercased() {
            if let parameters = entry.key.match(segments) { return (entry, parameters) }
        }
        return nil
    }
}
