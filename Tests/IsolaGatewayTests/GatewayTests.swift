import Foundation
import IsolaStore
import Testing

@testable import IsolaGateway

@Suite("Gateway: route keys, precedence, tenant mapping, proxy responses")
struct GatewayTests {
    func record(_ key: String, header: String? = nil, query: String? = nil, path: String? = nil, host: Bool = false) -> GatewayRouteRecord {
        GatewayRouteRecord(
            id: key, routeKey: key, functionName: "f", qualifier: nil, tenantHeader: header, tenantQuery: query, tenantPathParameter: path,
            tenantFromHostLabel: host, payloadFormat: "1.0", createdAt: Date()
        )
    }

    func request(_ path: String, query: String = "", headers: [(String, String)] = []) -> GatewayRequest {
        GatewayRequest(method: "GET", path: path, rawQuery: query, headers: headers.map { (name: $0.0, value: $0.1) }, body: Data(), sourceIp: "127.0.0.1", requestId: "r", time: Date())
    }

    @Test func routeKeysAreParsedAsApiGatewayWritesThem() throws {
        #expect(try RouteKey("ANY /dev").segments == [.literal("dev")])
        #expect(try RouteKey("GET /orders/{id}").segments == [.literal("orders"), .parameter("id")])
        #expect(try RouteKey("ANY /{proxy+}").segments == [.greedy("proxy")])
        #expect(try RouteKey("$default").isDefault)
        for bad in ["FETCH /x", "GET x", "GET /{a+}/b", "GET /a{b}", "/dev", "GET /{}"] {
            #expect(throws: RouteKeyError.self, "\(bad)") { _ = try RouteKey(bad) }
        }
    }

    @Test func theMostSpecificRouteWins() {
        let table = RouteTable([
            record("$default"), record("ANY /{proxy+}"), record("ANY /items/{id}"), record("GET /items/{id}"), record("GET /items/special"),
        ])
        #expect(table.match(method: "GET", path: "/items/special")?.0.record.routeKey == "GET /items/special")
        #expect(table.match(method: "GET", path: "/items/7")?.0.record.routeKey == "GET /items/{id}")
        #expect(table.match(method: "POST", path: "/items/7")?.0.record.routeKey == "ANY /items/{id}")
        #expect(table.match(method: "GET", path: "/a/b")?.0.record.routeKey == "ANY /{proxy+}")
        #expect(table.match(method: "GET", path: "/a/b")?.1 == ["proxy": "a/b"])
        #expect(table.match(method: "GET", path: "/")?.0.record.routeKey == "$default")
        #expect(RouteTable([record("GET /x")]).match(method: "GET", path: "/y") == nil)
    }

    @Test func theTenantComesFromTheRoutesSourcesNeverFromXAmzTenantId() {
        let plain = record("ANY /dev")
        #expect(TenantMapping.tenant(for: request("/dev", headers: [("x-tenant-id", "7")]), route: plain, pathParameters: [:]) == "7")
        #expect(TenantMapping.tenant(for: request("/dev", query: "tenant-id=8"), route: plain, pathParameters: [:]) == "8")
        #expect(TenantMapping.tenant(for: request("/dev", headers: [("X-Amz-Tenant-Id", "victim")]), route: plain, pathParameters: [:]) == nil)
        #expect(TenantMapping.tenant(for: request("/dev", headers: [("X-Customer", "c")]), route: record("ANY /dev", header: "X-Customer"), pathParameters: [:]) == "c")
        #expect(TenantMapping.tenant(for: request("/t/9"), route: record("ANY /t/{t}", path: "t"), pathParameters: ["t": "9"]) == "9")
        let host = record("ANY /h", host: true)
        #expect(TenantMapping.tenant(for: request("/h", headers: [("Host", "blue.api.example.com:9080")]), route: host, pathParameters: [:]) == "blue")
        #expect(TenantMapping.tenant(for: request("/h", headers: [("Host", "127.0.0.1:9080")]), route: host, pathParameters: [:]) == nil)
        #expect(TenantMapping.tenant(for: request("/h", headers: [("Host", ":")]), route: host, pathParameters: [:]) == nil)
    }

    @Test func proxyResponsesAreReadAsTheIntegrationReadsThem() throws {
        let ok = try #require(ProxyResponse.parse(Data(#"{"statusCode": 201, "headers": {"X-A": "1"}, "body": "hi"}"#.utf8), format: "1.0"))
        #expect(ok.status == 201 && ok.body == Data("hi".utf8) && ok.headers.contains { $0 == ("X-A", "1") })
        let binary = try #require(ProxyResponse.parse(Data(#"{"statusCode": 200, "isBase64Encoded": true, "body": "AAEC"}"#.utf8), format: "1.0"))
        #expect(binary.body == Data([0, 1, 2]))
        #expect(ProxyResponse.parse(Data(#""just a string""#.utf8), format: "1.0") == nil)
        #expect(ProxyResponse.parse(Data(#"{"statusCode": 200, "body": {"not": "a string"}}"#.utf8), format: "1.0") == nil)
        #expect(ProxyResponse.parse(Data(#"{"statusCode": 700}"#.utf8), format: "1.0") == nil)
        // HTTP API (2.0) takes a result without statusCode as a JSON body.
        #expect(ProxyResponse.parse(Data(#"{"hello": 1}"#.utf8), format: "2.0")?.status == 200)
    }
}

@Suite("Gateway: the JSON writer for events")
struct JSONTextTests {
    @Test func itWritesWhatJSONSerializationReadsBack() throws {
        let value: [String: Any] = [
            "s": "quote \" backslash \\ newline \n tab \t control \u{1} unicode é 🙂", "i": 42, "b": true, "n": NSNull(),
            "a": ["x", 1, false] as [Any], "d": ["k": "v"], "big": Int64(1_764_000_000_000),
        ]
        let data = JSONText.encode(value)
        let back = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(back["s"] as? String == value["s"] as? String)
        #expect(back["i"] as? Int == 42 && back["b"] as? Bool == true && back["n"] is NSNull)
        #expect((back["a"] as? [Any])?.count == 3 && (back["d"] as? [String: String]) == ["k": "v"])
        #expect((back["big"] as? NSNumber)?.int64Value == 1_764_000_000_000)
    }
}
