import AWSSigV4
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import IsolaServer
import Logging
import NIOCore
import Testing
import ZIPFoundation

/// What a test needs from one response, read out of the client's callback.
struct Reply: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: Data

    init(_ response: TestResponse) {
        status = response.status
        headers = response.headers
        body = Data(response.body.readableBytesView)
    }

    func header(_ name: String) -> String? { HTTPField.Name(name).flatMap { headers[$0] } }

    var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] }
    var errorType: String? { header("x-amzn-ErrorType") }
    var requestId: String? { header("x-amzn-RequestId") }
}

/// An Isola server over a temporary data directory, its clock fixed, driven in-process through the router.
struct ServerHarness {
    static let now = Date(timeIntervalSince1970: 1_763_719_200)  // 2025-11-21T10:00:00Z
    static let key = SigV4Credentials(accessKeyId: "AKIDISOLATEST", secretAccessKey: "isola/test+secret")
    /// The authority the router test client gives every request; the server takes it as the Host header.
    static let host = "localhost"

    let directory: URL
    let server: IsolaServer

    static var logger: Logger {
        var logger = Logger(label: "isola-server-tests")
        logger.logLevel = .critical
        return logger
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("isola-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func configuration(_ directory: URL) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configuration.gatewayPort = 0
        configuration.dataDirectory = directory.appendingPathComponent("data")
        return configuration
    }

    /// Opens a server; with `credentials`, a shared-credentials file holding `key` is configured.
    static func open(credentials: Bool = false) async throws -> ServerHarness {
        let directory = try temporaryDirectory()
        var configuration = configuration(directory)
        if credentials {
            let file = directory.appendingPathComponent("credentials")
            try "[test]\naws_access_key_id = \(key.accessKeyId)\naws_secret_access_key = \(key.secretAccessKey)\n".write(to: file, atomically: true, encoding: .utf8)
            configuration.credentialsFile = file
        }
        let server = try await IsolaServer.open(configuration, logger: logger, clock: { now })
        return ServerHarness(directory: directory, server: server)
    }

    func remove() { try? FileManager.default.removeItem(at: directory) }

    /// Runs `body` with a client of the API application.
    func withClient(_ body: @escaping @Sendable (Client) async throws -> Void) async throws {
        try await server.apiApplication().test(.router) { client in try await body(Client(client: client)) }
    }
}

/// The router test client plus SigV4 signing as the aws CLI does it.
struct Client: Sendable {
    let client: any TestClientProtocol

    func send(_ method: HTTPRequest.Method, _ uri: String, body: Data = Data(), headers: HTTPFields = [:]) async throws -> Reply {
        try await client.execute(uri: uri, method: method, headers: headers, body: body.isEmpty ? nil : ByteBuffer(bytes: body)) { Reply($0) }
    }

    /// Signs for service `lambda` in us-east-1 at the server's clock, with the host the server sees.
    func signed(
        _ method: HTTPRequest.Method, _ uri: String, body: Data = Data(), credentials: SigV4Credentials = ServerHarness.key,
        amzDate: String = SigV4.amzDate(ServerHarness.now), extra: [(name: String, value: String)] = []
    ) async throws -> Reply {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        var signedHeaders: [(name: String, value: String)] = [("host", ServerHarness.host)]
        if !body.isEmpty { signedHeaders.append(("content-type", "application/json")) }
        signedHeaders += extra
        let request = SigV4Request(
            method: method.rawValue, rawPath: String(parts[0]), rawQuery: parts.count > 1 ? String(parts[1]) : "",
            headers: signedHeaders, payloadSHA256Hex: SigV4.sha256Hex(body)
        )
        let added = SigV4.sign(request, credentials: credentials, region: "us-east-1", service: "lambda", amzDate: amzDate)
        var headers = HTTPFields()
        for (name, value) in signedHeaders.dropFirst() + added { headers[try #require(HTTPField.Name(name))] = value }
        return try await send(method, uri, body: body, headers: headers)
    }
}

/// A zip holding one `app.py`.
func zip(_ source: String) throws -> Data {
    let archive = try Archive(data: Data(), accessMode: .create)
    let data = Data(source.utf8)
    try archive.addEntry(with: "app.py", type: .file, uncompressedSize: Int64(data.count), compressionMethod: .deflate) { position, size in
        data.subdata(in: Int(position)..<Int(position) + size)
    }
    return try #require(archive.data)
}

func createBody(_ name: String, zip: Data, extra: String = "") -> Data {
    Data(#"{"FunctionName":"\#(name)","Runtime":"python3.12","Role":"arn:aws:iam::000000000000:role/lambda","Handler":"app.handler","Code":{"ZipFile":"\#(zip.base64EncodedString())"}\#(extra)}"#.utf8)
}
