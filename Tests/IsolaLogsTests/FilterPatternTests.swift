import Testing

@testable import IsolaLogs

@Suite("Filter patterns, as CloudWatch Logs matches them")
struct FilterPatternTests {
    func matches(_ pattern: String, _ message: String) throws -> Bool {
        try FilterPattern(pattern).matches(message)
    }

    @Test func termsMustAllAppearCaseSensitively() throws {
        #expect(try matches("ERROR timeout", "ERROR: request timeout"))
        #expect(try !matches("ERROR timeout", "ERROR: request failed"))
        #expect(try !matches("error", "ERROR"))
        #expect(try matches("", "anything"))
        #expect(try matches("platform.initStart", #"{"type":"platform.initStart"}"#))
    }

    @Test func quotedPhrasesOptionalAndExcludedTerms() throws {
        #expect(try matches(#""request failed""#, "the request failed twice"))
        #expect(try !matches(#""request failed""#, "failed request"))
        #expect(try matches("?ERROR ?WARN", "WARN: disk"))
        #expect(try !matches("?ERROR ?WARN", "INFO: fine"))
        #expect(try matches("RequestId -START", "END RequestId: 1"))
        #expect(try !matches("RequestId -START", "START RequestId: 1"))
    }

    @Test func jsonEqualityNestedPathsAndPrefixes() throws {
        let line = #"{"tenantId": "blue", "level": "ERROR", "record": {"tenantId": "7", "metrics": {"durationMs": 12.5}}, "list": [1, 2]}"#
        #expect(try matches(#"{ $.tenantId = "blue" }"#, line))
        #expect(try !matches(#"{ $.tenantId = "green" }"#, line))
        #expect(try matches(#"{ $.record.tenantId = "7" }"#, line))
        #expect(try matches(#"{ $.record.tenantId = 7 }"#, line) == false)
        #expect(try matches(#"{ $.level = "ERR*" }"#, line))
        #expect(try matches(#"{ $.tenantId != "green" }"#, line))
        #expect(try matches(#"{ $.list[1] = 2 }"#, line))
        #expect(try !matches(#"{ $.tenantId = "blue" }"#, "not json at all"))
    }

    @Test func numericComparisonsAndBooleanOperators() throws {
        let line = #"{"latency": 150, "status": 500, "ok": false, "gone": null}"#
        #expect(try matches("{ $.latency > 100 }", line))
        #expect(try !matches("{ $.latency < 100 }", line))
        #expect(try matches("{ $.latency >= 150 && $.status = 500 }", line))
        #expect(try matches("{ $.latency < 100 || $.status = 500 }", line))
        #expect(try !matches("{ ($.latency < 100 || $.status = 404) && $.ok = false }", line))
        #expect(try matches("{ $.ok = false }", line))
        #expect(try matches("{ $.gone IS NULL }", line))
        #expect(try matches("{ $.missing NOT EXISTS }", line))
        #expect(try !matches("{ $.latency NOT EXISTS }", line))
    }

    @Test func invalidPatternsAreRefusedWithAReason() {
        for pattern in ["{ $.x = ", "{ tenant = 1 }", #""unclosed"#, "{ $.x > \"a\" }", "{ $.x = 1 } extra", "-"] {
            #expect(throws: FilterPatternError.self, "\(pattern)") { _ = try FilterPattern(pattern) }
        }
    }
}
