/// Aliases, concurrency, tags and account settings: the smaller shapes of the control plane.

public struct AliasRoutingConfiguration: Codable, Sendable, Equatable {
    public var additionalVersionWeights: [String: Double]?

    public init(additionalVersionWeights: [String: Double]?) { self.additionalVersionWeights = additionalVersionWeights }

    enum CodingKeys: String, CodingKey { case additionalVersionWeights = "AdditionalVersionWeights" }
}

public struct AliasConfiguration: Codable, Sendable, Equatable {
    public var aliasArn: String
    public var name: String
    public var functionVersion: String
    public var description: String
    public var routingConfig: AliasRoutingConfiguration?
    public var revisionId: String

    public init(aliasArn: String, name: String, functionVersion: String, description: String, routingConfig: AliasRoutingConfiguration?, revisionId: String) {
        self.aliasArn = aliasArn
        self.name = name
        self.functionVersion = functionVersion
        self.description = description
        self.routingConfig = routingConfig
        self.revisionId = revisionId
    }

    enum CodingKeys: String, CodingKey {
        case aliasArn = "AliasArn"
        case name = "Name"
        case functionVersion = "FunctionVersion"
        case description = "Description"
        case routingConfig = "RoutingConfig"
        case revisionId = "RevisionId"
    }
}

public struct ListAliasesResponse: Codable, Sendable, Equatable {
    public var aliases: [AliasConfiguration]
    public var nextMarker: String?

    public init(aliases: [AliasConfiguration], nextMarker: String?) {
        self.aliases = aliases
        self.nextMarker = nextMarker
    }

    enum CodingKeys: String, CodingKey {
        case aliases = "Aliases"
        case nextMarker = "NextMarker"
    }
}

public struct ListTagsResponse: Codable, Sendable, Equatable {
    public var tags: [String: String]

    public init(tags: [String: String]) { self.tags = tags }

    enum CodingKeys: String, CodingKey { case tags = "Tags" }
}

public struct AccountSettings: Codable, Sendable, Equatable {
    public struct Limit: Codable, Sendable, Equatable {
        public var totalCodeSize: Int
        public var codeSizeUnzipped: Int
        public var codeSizeZipped: Int
        public var concurrentExecutions: Int
        public var unreservedConcurrentExecutions: Int

        enum CodingKeys: String, CodingKey {
            case totalCodeSize = "TotalCodeSize"
            case codeSizeUnzipped = "CodeSizeUnzipped"
            case codeSizeZipped = "CodeSizeZipped"
            case concurrentExecutions = "ConcurrentExecutions"
            case unreservedConcurrentExecutions = "UnreservedConcurrentExecutions"
        }
    }

    public struct Usage: Codable, Sendable, Equatable {
        public var totalCodeSize: Int
        public var functionCount: Int

        enum CodingKeys: String, CodingKey {
            case totalCodeSize = "TotalCodeSize"
            case functionCount = "FunctionCount"
        }
    }

    public var accountLimit: Limit
    public var accountUsage: Usage

    public init(unreservedConcurrency: Int, totalCodeSize: Int, functionCount: Int) {
        accountLimit = Limit(
            totalCodeSize: Limits.totalCodeStorageBytes,
            codeSizeUnzipped: Limits.unzippedCodeBytes,
            codeSizeZipped: Limits.zippedCodeBytes,
            concurrentExecutions: Limits.accountConcurrency,
            unreservedConcurrentExecutions: unreservedConcurrency
        )
        accountUsage = Usage(totalCodeSize: totalCodeSize, functionCount: functionCount)
    }

    enum CodingKeys: String, CodingKey {
        case accountLimit = "AccountLimit"
        case accountUsage = "AccountUsage"
    }
}
