/// Every default and limit of the control plane, named once. Values are AWS's unless a comment says otherwise.
public enum Limits {
    public static let defaultTimeoutSeconds = 3
    public static let maxTimeoutSeconds = 900
    public static let defaultMemoryMB = 128
    public static let minMemoryMB = 128
    public static let maxMemoryMB = 10_240
    public static let defaultEphemeralStorageMB = 512
    public static let minEphemeralStorageMB = 512
    public static let maxEphemeralStorageMB = 10_240

    /// 50 MB zipped, 250 MB unzipped (AWS's deployment-package quotas).
    public static let zippedCodeBytes = 52_428_800
    public static let unzippedCodeBytes = 262_144_000
    /// A CreateFunction request carries the zip as base64: 4/3 of 50 MB, rounded up, as AWS states it.
    public static let createFunctionRequestBytes = 69_905_067
    /// A zip with more entries than this is refused before any is read (no real function comes close).
    public static let maxZipEntries = 100_000

    public static let environmentBytes = 4_096
    public static let maxTags = 50
    public static let maxTagKeyLength = 128
    public static let maxTagValueLength = 256
    public static let maxDescriptionLength = 256
    public static let maxHandlerLength = 128
    public static let maxFunctionNameLength = 64
    public static let maxAliasNameLength = 128

    /// Account concurrency (AWS's default quota) and the part of it that must stay unreserved.
    public static let accountConcurrency = 1_000
    public static let minimumUnreservedConcurrency = 100
    /// AWS's default code storage quota per account (75 GB).
    public static let totalCodeStorageBytes = 80_530_636_800

    public static let defaultListPageSize = 50
    public static let maxListPageSize = 10_000

    /// Invoke payloads (used by the engine): 6 MB synchronous, 1 MB asynchronous.
    public static let syncPayloadBytes = 6_291_456
    public static let asyncPayloadBytes = 1_048_576
    /// Asynchronous invocation retries (PutFunctionEventInvokeConfig): 0...2, Lambda's default 2.
    public static let asyncRetryAttemptsRange = 0...2
    public static let asyncDefaultRetryAttempts = 2
    /// How long an asynchronous event may wait for a successful attempt: 60 s ... 6 h, Lambda's default 6 h.
    public static let asyncEventAgeRange = 60...21_600
    public static let asyncDefaultEventAgeSeconds = 21_600
}

/// The runtimes Isola accepts. Unknown ones get an error that lists these.
public enum Runtimes {
    public static let python = ["python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14"]
    public static let osOnly = ["provided.al2", "provided.al2023"]
    public static let all = python + osOnly

    public static func isSupported(_ runtime: String) -> Bool { all.contains(runtime) }
}
