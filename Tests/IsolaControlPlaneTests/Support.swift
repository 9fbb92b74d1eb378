import Foundation
import IsolaControlPlane
import IsolaStore
import LambdaAPI
import Logging
import Testing
import ZIPFoundation

/// A clock the tests move by hand.
final class TestClock: @unchecked Sendable {
    static let start = Date(timeIntervalSince1970: 1_763_719_200)  // 2025-11-21T10:00:00Z
    private let lock = NSLock()
    private var current = TestClock.start

    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
    func now() -> Date { lock.withLock { current } }
}

/// A zip holding one `app.py` with the given source.
func zip(_ source: String) throws -> Data {
    let archive = try Archive(data: Data(), accessMode: .create)
    let data = Data(source.utf8)
    try archive.addEntry(
        with: "app.py", type: .file, uncompressedSize: Int64(data.count), modificationDate: TestClock.start, compressionMethod: .deflate
    ) { position, size in data.subdata(in: Int(position)..<Int(position) + size) }
    return try #require(archive.data)
}

func decode<T: Decodable>(_ json: String) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(json.utf8))
}

/// The `LambdaError` an operation threw, or nil when it succeeded.
func lambdaError<T>(_ body: () async throws -> T) async -> LambdaError? {
    do {
        _ = try await body()
        return nil
    } catch let error as LambdaError {
        return error
    } catch {
        Issue.record("not a LambdaError: \(error)")
        return nil
    }
}

/// A control plane over a real SQLite store and code store in a temporary directory, with a hand-moved clock.
struct Harness {
    static let account = "123456789012"
    let directory: URL
    let plane: ControlPlane
    let code: CodeStore
    let clock = TestClock()

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("isola-cp-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        var logger = Logger(label: "isola-control-plane-tests")
        logger.logLevel = .critical
        let store = try SQLiteFunctionStore(path: directory.appendingPathComponent("isola.sqlite").path)
        code = try CodeStore(directory: directory.appendingPathComponent("code"), logger: logger)
        let clock = self.clock
        plane = ControlPlane(
            store: store, code: code, arns: ARNBuilder(region: "us-east-1", account: Self.account), clock: { clock.now() }, logger: logger
        )
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    func arn(_ name: String, _ qualifier: String? = nil) -> String {
        plane.arns.function(name, qualifier: qualifier)
    }

    /// The blob file names in the code directory.
    func blobs() throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("code").path))
    }

    func hasBlob(for zip: Data) -> Bool {
        FileManager.default.fileExists(atPath: code.url(for: CodeStore.digest(of: zip).hex).path)
    }

    @discardableResult
    func create(_ name: String, zip: Data, _ extra: [String: Any] = [:]) async throws -> FunctionConfiguration {
        var body: [String: Any] = [
            "FunctionName": name, "Runtime": "python3.12", "Role": "arn:aws:iam::\(Self.account):role/lambda",
            "Handler": "app.handler", "Code": ["ZipFile": zip.base64EncodedString()],
        ]
        body.merge(extra) { _, new in new }
        let request = try JSONDecoder().decode(CreateFunctionRequest.self, from: JSONSerialization.data(withJSONObject: body))
        return try await plane.createFunction(try Validation.validateCreate(request))
    }

    func update(_ name: String, _ json: String) async throws -> FunctionConfiguration {
        try await plane.updateConfiguration(FunctionReference(name: name), request: try decode(json))
    }

    func updateCode(_ name: String, zip: Data, _ extra: String = "") async throws -> FunctionConfiguration {
        try await plane.updateCode(FunctionReference(name: name), request: try decode(#"{"ZipFile":"\#(zip.base64EncodedString())"\#(extra)}"#))
    }

    func publish(_ name: String, _ json: String = "{}") async throws -> FunctionConfiguration {
        try await plane.publishVersion(FunctionReference(name: name), request: try decode(json))
    }

    func createAlias(_ name: String, _ json: String) async throws -> AliasConfiguration {
        try await plane.createAlias(FunctionReference(name: name), request: try decode(json))
    }

    func latest(_ name: String) async throws -> FunctionConfiguration {
        try await plane.resolve(FunctionReference(name: name)).version.configuration
    }
}
