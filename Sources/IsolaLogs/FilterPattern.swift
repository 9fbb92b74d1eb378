import Foundation

/// CloudWatch Logs' filter pattern language, as `FilterLogEvents` applies it to each event's message.
///
/// Two forms:
/// - **Terms**: `ERROR`, `"exact phrase"`, `?ERROR ?WARN` (any of the `?` terms), `-DEBUG` (must not appear).
///   Plain terms must all appear (case-sensitive, as CloudWatch matches); an empty pattern matches everything.
/// - **JSON**: `{ $.tenantId = "blue" }`, `{ $.record.tenantId != "x" }`, `{ $.latency > 100 }`,
///   `{ $.level = "ERR*" }` (a trailing `*` is a prefix match), `{ $.x IS NULL }`, `{ $.x NOT EXISTS }`,
///   combined with `&&`, `||` and parentheses. Events whose message is not a JSON object never match.
public struct FilterPattern: Sendable {
    indirect enum JSONExpression: Sendable {
        case compare(path: [String], op: String, value: JSONLiteral)
        case isNull(path: [String])
        case notExists(path: [String])
        case and(JSONExpression, JSONExpression)
        case or(JSONExpression, JSONExpression)
    }

    enum JSONLiteral: Sendable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
    }

    enum Form: Sendable {
        case all
        case terms(required: [String], optional: [String], excluded: [String])
        case json(JSONExpression)
    }

    let form: Form

    /// Parses `text`; throws a message in CloudWatch's words when it is not a valid pattern.
    public init(_ text: String) throws(FilterPatternError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty {
            form = .all
        } else if trimmed.hasPrefix("{") {
            var parser = JSONPatternParser(Array(trimmed))
            form = .json(try parser.parseWhole())
        } else {
            form = try Self.parseTerms(trimmed)
        }
    }

    public func matches(_ message: String) -> Bool {
        switch form {
        case .all:
            return true
        case .terms(let required, let optional, let excluded):
            if excluded.contains(where: { message.contains($0) }) { return false }
            if !required.allSatisfy({ message.contains($0) }) { return false }
            return optional.isEmpty || optional.contains { message.contains($0) }
        case .json(let expression):
            guard let data = message.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data), object is [String: Any] else {
                return false
            }
            return Self.evaluate(expression, object)
        }
    }

    // MARK: - Terms

    static func parseTerms(_ text: String) throws(FilterPatternError) -> Form {
        var required: [String] = [], optional: [String] = [], excluded: [String] = []
        var characters = Array(text)[...]
        while let first = characters.first {
            if first == " " {
                characters = characters.dropFirst()
                continue
            }
            var prefix: Character?
            if first == "?" || first == "-" {
                prefix = first
                characters = characters.dropFirst()
            }
            var term = ""
            if characters.first == "\"" {
                characters = characters.dropFirst()
                guard let end = characters.firstIndex(of: "\"") else { throw FilterPatternError("Invalid filter pattern: a quoted term is not closed.") }
                term = String(characters[..<end])
                characters = characters[characters.index(after: end)...]
            } else {
                let end = characters.firstIndex(of: " ") ?? characters.endIndex
                term = String(characters[..<end])
                characters = characters[end...]
            }
            guard !term.isEmpty else { throw FilterPatternError("Invalid filter pattern: '\(prefix.map(String.init) ?? "")' must be followed by a term.") }
            switch prefix {
            case "?": optional.append(term)
            case "-": excluded.append(term)
            default: required.append(term)
            }
        }
        return .terms(required: required, optional: optional, excluded: excluded)
    }

    // MARK: - JSON

    static func evaluate(_ expression: JSONExpression, _ object: Any) -> Bool {
        switch expression {
        case .and(let a, let b): return evaluate(a, object) && evaluate(b, object)
        case .or(let a, let b): return evaluate(a, object) || evaluate(b, object)
        case .notExists(let path): return lookup(path, in: object) == nil
        case .isNull(let path):
            guard let value = lookup(path, in: object) else { return false }
            return value is NSNull
        case .compare(let path, let op, let literal):
            guard let value = lookup(path, in: object) else { return op == "!=" }
            return compare(value, op, literal)
        }
    }

    static func lookup(_ path: [String], in object: Any) -> Any? {
        var current: Any = object
        for key in path {
            if let dictionary = current as? [String: Any], let next = dictionary[key] {
                current = next
            } else if let array = current as? [Any], key.hasPrefix("["), key.hasSuffix("]"), let index = Int(key.dropFirst().dropLast()),
                array.indices.contains(index)
            {
                current = array[index]
            } else {
                return nil
            }
        }
        return current
    }

    static func compare(_ value: Any, _ op: String, _ literal: JSONLiteral) -> Bool {
        switch literal {
        case .number(let expected):
            guard let number = value as? NSNumber else { return op == "!=" }
            let actual = number.doubleValue
            switch op {
            case "=": return actual == expected
            case "!=": return actual != expected
            case ">": return actual > expected
            case ">=": return actual >= expected
            case "<": return actual < expected
            case "<=": return actual <= expected
            default: return false
            }
        case .string(let expected):
            let actual: String
            if let string = value as? String {
                actual = string
            } else if let number = value as? NSNumber {
                actual = number.stringValue
            } else {
                return op == "!="
            }
            let equal = expected.hasSuffix("*") ? actual.hasPrefix(String(expected.dropLast())) : actual == expected
            return op == "=" ? equal : (op == "!=" ? !equal : false)
        case .bool(let expected):
            guard let number = value as? NSNumber else { return op == "!=" }
            let equal = number.boolValue == expected
            return op == "=" ? equal : (op == "!=" ? !equal : false)
        case .null:
            let isNull = value is NSNull
            return op == "=" ? isNull : (op == "!=" ? !isNull : false)
        }
    }
}

public struct FilterPatternError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// `{ <expression> }` with `&&`, `||`, parentheses, `$.a.b[0]` selectors, `= != > >= < <=`, `IS NULL`, `NOT EXISTS`.
struct JSONPatternParser {
    let characters: [Character]
    var position = 0

    init(_ characters: [Character]) { self.characters = characters }

    mutating func parseWhole() throws(FilterPatternError) -> FilterPattern.JSONExpression {
        skipSpaces()
        try expect("{")
        let expression = try parseOr()
        skipSpaces()
        try expect("}")
        skipSpaces()
        guard position == characters.count else { throw FilterPatternError("Invalid filter pattern: unexpected text after '}'.") }
        return expression
    }

    mutating func parseOr() throws(FilterPatternError) -> FilterPattern.JSONExpression {
        var left = try parseAnd()
        while consume("||") { left = .or(left, try parseAnd()) }
        return left
    }

    mutating func parseAnd() throws(FilterPatternError) -> FilterPattern.JSONExpression {
        var left = try parsePrimary()
        while consume("&&") { left = .and(left, try parsePrimary()) }
        return left
    }

    mutating func parsePrimary() throws(FilterPatternError) -> FilterPattern.JSONExpression {
        skipSpaces()
        if consume("(") {
            let inner = try parseOr()
            guard consume(")") else { throw FilterPatternError("Invalid filter pattern: a '(' is not closed.") }
            return inner
        }
        let path = try parseSelector()
        skipSpaces()
        if consumeWord("IS") {
            guard consumeWord("NULL") else { throw FilterPatternError("Invalid filter pattern: expected NULL after IS.") }
            return .isNull(path: path)
        }
        if consumeWord("NOT") {
            guard consumeWord("EXISTS") else { throw FilterPatternError("Invalid filter pattern: expected EXISTS after NOT.") }
            return .notExists(path: path)
        }
        var op = ""
        for candidate in ["!=", ">=", "<=", "=", ">", "<"] where consume(candidate) {
            op = candidate
            break
        }
        guard !op.isEmpty else { throw FilterPatternError("Invalid filter pattern: expected a comparison (=, !=, >, >=, <, <=) after the selector.") }
        let value = try parseLiteral()
        if case .number = value {} else if !["=", "!="].contains(op) {
            throw FilterPatternError("Invalid filter pattern: \(op) compares numbers only.")
        }
        return .compare(path: path, op: op, value: value)
    }

    mutating func parseSelector() throws(FilterPatternError) -> [String] {
        skipSpaces()
        guard consume("$") else { throw FilterPatternError("Invalid filter pattern: a JSON selector starts with '$.'.") }
        var path: [String] = []
        while position < characters.count {
            if characters[position] == "." {
                position += 1
                let start = position
                while position < characters.count, characters[position].isLetter || characters[position].isNumber || characters[position] == "_" || characters[position] == "-" {
                    position += 1
                }
                guard position > start else { throw FilterPatternError("Invalid filter pattern: a selector has an empty key.") }
                path.append(String(characters[start..<position]))
            } else if characters[position] == "[" {
                let start = position
                while position < characters.count, characters[position] != "]" { position += 1 }
                guard position < characters.count else { throw FilterPatternError("Invalid filter pattern: a '[' is not closed.") }
                position += 1
                path.append(String(characters[start..<position]))
            } else {
                break
            }
        }
        guard !path.isEmpty else { throw FilterPatternError("Invalid filter pattern: a selector needs a key, like $.tenantId.") }
        return path
    }

    mutating func parseLiteral() throws(FilterPatternError) -> FilterPattern.JSONLiteral {
        skipSpaces()
        guard position < characters.count else { throw FilterPatternError("Invalid filter pattern: a comparison has no value.") }
        if characters[position] == "\"" {
            position += 1
            let start = position
            while position < characters.count, characters[position] != "\"" { position += 1 }
            guard position < characters.count else { throw FilterPatternError("Invalid filter pattern: a quoted value is not closed.") }
            defer { position += 1 }
            return .string(String(characters[start..<position]))
        }
        let start = position
        while position < characters.count, !" )}&|".contains(characters[position]) { position += 1 }
        let word = String(characters[start..<position])
        switch word {
        case "true": return .bool(true)
        case "false": return .bool(false)
        case "NULL", "null": return .null
        default:
            if let number = Double(word) { return .number(number) }
            guard !word.isEmpty else { throw FilterPatternError("Invalid filter pattern: a comparison has no value.") }
            return .string(word)
        }
    }

    mutating func skipSpaces() {
        while position < characters.count, characters[position] == " " { position += 1 }
    }

    mutating func consume(_ token: String) -> Bool {
        skipSpaces()
        let tokenCharacters = Array(token)
        guard position + tokenCharacters.count <= characters.count, Array(characters[position..<position + tokenCharacters.count]) == tokenCharacters else {
            return false
        }
        position += tokenCharacters.count
        return true
    }

    mutating func consumeWord(_ word: String) -> Bool {
        let saved = position
        guard consume(word) else { return false }
        if position < characters.count, characters[position].isLetter {
            position = saved
            return false
        }
        return true
    }

    mutating func expect(_ token: String) throws(FilterPatternError) {
        guard consume(token) else { throw FilterPatternError("Invalid filter pattern: expected '\(token)'.") }
    }
}
