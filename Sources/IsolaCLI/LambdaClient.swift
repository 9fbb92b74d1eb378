import AWSSigV4
import Foundation
import LambdaAPI

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Options every client command shares: where the server is and how to sign.
struct ClientOptions {
    var endpoint: String
    var region: String?
    var profile: String?
}

/// A minimal Lambda API client: signs with SigV4 from the standard AWS credential sources and turns
/// error responses into readable errors.
struct LambdaClient {
    let endpoint: URL
    let region: String
    let credentials: SigV4Credentials

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: Data
    }

    init(options: ClientOptions) throws {
        guard let url = URL(string: options.endpoint), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw Failure(description: "--endpoint must be a URL like http://127.0.0.1:9000")
        }
        endpoint = url
        let environment = ProcessInfo.processInfo.environment
        let profile = options.profile ?? environment["AWS_PROFILE"] ?? "default"
        region = options.region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? Self.configuredRegion(profile: profile) ?? "us-east-1"
        if let id = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"] {
            credentials = SigV4Credentials(accessKeyId: id, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
            return
        }
        let file = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(NSHomeDirectory())/.aws/credentials"
        if let text = try? String(contentsOfFile: file, encoding: .utf8), let found = CredentialsFile.parse(text)[profile] {
            credentials = found
            return
        }
        throw Failure(description: "No AWS credentials found for profile '\(profile)'. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run 'aws configure'.")
    }

    static func configuredRegion(profile: String) -> String? {
        let file = ProcessInfo.processInfo.environment["AWS_CONFIG_FILE"] ?? "\(NSHomeDirectory())/.aws/config"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        var section = ""
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") {
                section = line.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).replacingOccurrences(of: "profile ", with: "")
            } else if section == profile, line.hasPrefix("region") {
                return line.split(separator: "=", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) }
            }
        }
        return nil
    }

    /// Sends a signed request; throws a readable error for any non-2xx answer.
    func send(_ method: String, _ path: String, query: String = "", headers: [String: String] = [:], body: Data = Data(), service: String = "lambda") async throws -> Reply {
        let base = endpoint.absoluteString.hasSuffix("/") ? String(endpoint.absoluteString.dropLast()) : endpoint.absoluteString
        guard let url = URL(string: base + path + (query.isEmpty ? "" : "?\(query)")) else {
            throw Failure(description: "Cannot form a URL from \(base + path)")
        }
        let authority = endpoint.port.map { "\(endpoint.host ?? ""):\($0)" } ?? (endpoint.host ?? "")
        var signable = headers.map { (name: $0.key, value: $0.value) }
        signable.append(("host", authority))
        let toSign = SigV4Request(method: method, rawPath: path, rawQuery: query, headers: signable, payloadSHA256Hex: SigV4.sha256Hex(body))
        let added = SigV4.sign(toSign, credentials: credentials, region: region, service: service, amzDate: SigV4.amzDate(Date()))
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.httpBody = body.isEmpty ? nil : body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        for header in added { request.setValue(header.value, forHTTPHeaderField: header.name) }
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw Failure(description: "Cannot reach Isola at \(base): \(error.localizedDescription). Is 'isola serve' running there?")
        }
        guard let http = response as? HTTPURLResponse else { throw Failure(description: "No HTTP response from \(base)") }
        var replyHeaders: [String: String] = [:]
        for (key, value) in http.allHeaderFields {
            if let key = key as? String, let value = value as? String { replyHeaders[key.lowercased()] = value }
        }
        guard (200..<300).contains(http.statusCode) else {
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            let message = object?["message"] as? String ?? object?["Message"] as? String ?? String(decoding: data, as: UTF8.self)
            let code = replyHeaders["x-amzn-errortype"] ?? "HTTP \(http.statusCode)"
            throw Failure(description: "\(code): \(message)")
        }
        return Reply(status: http.statusCode, headers: replyHeaders, body: data)
    }
}
