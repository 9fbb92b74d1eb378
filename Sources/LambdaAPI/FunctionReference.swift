/// How a caller names a function: a plain name, `name:qualifier`, a partial ARN `123456789012:function:name`
/// or a full ARN, each optionally qualified by a version or an alias.
public struct FunctionReference: Sendable, Hashable {
    public var name: String
    public var qualifier: String?
    /// Account and region when the caller gave an ARN; a mismatch with the server's means "not here".
    public var account: String?
    public var region: String?

    public init(name: String, qualifier: String? = nil, account: String? = nil, region: String? = nil) {
        self.name = name
        self.qualifier = qualifier
        self.account = account
        self.region = region
    }

    /// The model's pattern for function names, quoted in validation errors as AWS quotes it.
    public static let namePattern =
        "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"

    /// Parses any accepted form; throws AWS's ValidationException for anything else.
    public static func parse(_ raw: String, field: String = "functionName", maxLength: Int = 140) throws(LambdaError) -> FunctionReference {
        // Built only when needed: every Invoke parses a reference, and the message is long.
        var invalid: LambdaError {
            LambdaError.validation([
                ConstraintViolation(value: raw, field: field, constraint: "Member must satisfy regular expression pattern: \(namePattern)")
            ])
        }
        guard !raw.isEmpty else {
            throw .validation([ConstraintViolation(value: raw, field: field, constraint: "Member must have length greater than or equal to 1")])
        }
        guard raw.count <= maxLength else {
            throw .validation([ConstraintViolation(value: raw, field: field, constraint: "Member must have length less than or equal to \(maxLength)")])
        }
        let parts = raw.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        var reference: FunctionReference
        if parts.first == "arn" {
            guard parts.count == 7 || parts.count == 8, parts[1].hasPrefix("aws"), parts[2] == "lambda",
                isRegion(parts[3]), isAccount(parts[4]), parts[5] == "function"
            else { throw invalid }
            reference = FunctionReference(name: parts[6], qualifier: parts.count == 8 ? parts[7] : nil, account: parts[4], region: parts[3])
        } else if parts.count >= 3, parts[1] == "function" {
            guard parts.count <= 4, isAccount(parts[0]) else { throw invalid }
            reference = FunctionReference(name: parts[2], qualifier: parts.count == 4 ? parts[3] : nil, account: parts[0])
        } else {
            guard parts.count <= 2 else { throw invalid }
            reference = FunctionReference(name: parts[0], qualifier: parts.count == 2 ? parts[1] : nil)
        }
        guard isFunctionName(reference.name) else { throw invalid }
        if let q = reference.qualifier, !isQualifier(q) { throw invalid }
        return reference
    }

    /// Combines the qualifier inside the name with the `Qualifier` query parameter, as AWS does.
    public func qualified(by parameter: String?) throws(LambdaError) -> FunctionReference {
        guard let parameter else { return self }
        guard Self.isQualifier(parameter) else {
            throw .validation([ConstraintViolation(value: parameter, field: "qualifier", constraint: "Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")])
        }
        if let qualifier, qualifier != parameter { throw LambdaError.qualifierMismatch }
        var copy = self
        copy.qualifier = parameter
        return copy
    }

    public static func isFunctionName(_ s: String) -> Bool {
        !s.isEmpty && s.count <= Limits.maxFunctionNameLength && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }

    public static func isQualifier(_ s: String) -> Bool {
        s == "$LATEST" || (!s.isEmpty && s.count <= 128 && s.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
    }

    static func isAccount(_ s: String) -> Bool { s.count == 12 && s.allSatisfy { $0.isASCII && $0.isNumber } }

    /// `[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}`, written out.
    static func isRegion(_ s: String) -> Bool {
        let parts = s.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count >= 3, parts.count <= 4 else { return false }
        let lower: (Substring) -> Bool = { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isLowercase } }
        guard parts[0].count == 2, lower(parts[0]), lower(parts[parts.count - 2]) else { return false }
        guard let last = parts.last, last.count == 1, last.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
        if parts.count == 4 { return parts[1] == "gov" || (parts[1].hasPrefix("iso") && parts[1].count <= 4) }
        return true
    }
}

/// ARNs of this server's account and region.
public struct ARNBuilder: Sendable, Equatable {
    public var partition: String
    public var region: String
    public var account: String

    public init(region: String, account: String, partition: String = "aws") {
        self.partition = partition
        self.region = region
        self.account = account
    }

    public func function(_ name: String, qualifier: String? = nil) -> String {
        let base = "arn:\(partition):lambda:\(region):\(account):function:\(name)"
        return qualifier.map { "\(base):\($0)" } ?? base
    }

    public func runtimeVersion(_ digestHex: String) -> String {
        "arn:\(partition):lambda:\(region)::runtime:\(digestHex)"
    }

    /// Whether an ARN-form reference points into this account and region.
    public func owns(_ reference: FunctionReference) -> Bool {
        (reference.account == nil || reference.account == account) && (reference.region == nil || reference.region == region)
    }
}
