import Foundation
import LambdaAPI
import Testing

@Suite struct JSONSyntaxTests {
    static let valid = [
        "{}", "[]", "\"text\"", "42", "-0", "0.5", "-1.25e+10", "1E-2", "true", "false", "null", " \n\t{ } \r\n",
        #"{"a":1,"b":[true,false,null,{"c":"d"}],"e":{"f":[]}}"#, #"["\"\\\/\b\f\n\r\t\u00e9\uD83D\uDE00"]"#,
        #"{"ok": true, "tenant": "t1"}"#, "\"h\u{e9}llo \u{1F600}\"", "[[[[[]]]]]", #"{"":""}"#, "[1,[2,[3]],4]",
    ]
    static let invalid = [
        "", " ", "{", "}", "[", "]", "[1,]", "{,}", #"{"a"}"#, #"{"a":}"#, #"{"a":1,}"#, #"{a:1}"#, "[1 2]", "01", "1.", ".5",
        "-", "1e", "+1", "tru", "nul", "True", "\"open", "\"bad \\x escape\"", "\"\\u12G4\"", "\"tab\there\"", "{} {}",
        "[1]]", "{\"a\":1}}", "'single'", "NaN", "Infinity", "[1,2", "{\"a\" 1}",
    ]

    @Test(arguments: valid) func acceptsValid(_ text: String) {
        #expect(JSONSyntax.isValid(Data(text.utf8)))
    }

    @Test(arguments: invalid) func refusesInvalid(_ text: String) {
        #expect(!JSONSyntax.isValid(Data(text.utf8)))
    }

    /// Foundation's parser also takes trailing commas (`[1,]`); AWS's Invoke refuses them ("Could not parse request
    /// body into json"), and so does Isola. Everywhere else the two agree.
    @Test func agreesWithJSONSerializationOnTheCorpusExceptTrailingCommas() {
        for text in Self.valid + Self.invalid where !text.contains(",]") && !text.contains(",}") {
            let foundation = (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])) != nil
            #expect(JSONSyntax.isValid(Data(text.utf8)) == foundation, "\(text)")
        }
    }

    @Test func refusesInvalidUTF8AndExcessiveDepth() {
        #expect(!JSONSyntax.isValid(Data([0x22, 0xC3, 0x28, 0x22])))  // "\xC3(" : a broken two-byte sequence
        let deep = String(repeating: "[", count: JSONSyntax.maxDepth + 1) + String(repeating: "]", count: JSONSyntax.maxDepth + 1)
        #expect(!JSONSyntax.isValid(Data(deep.utf8)))
        let fine = String(repeating: "[", count: JSONSyntax.maxDepth) + String(repeating: "]", count: JSONSyntax.maxDepth)
        #expect(JSONSyntax.isValid(Data(fine.utf8)))
    }

    /// A payload near Invoke's 6 MB limit is checked without recursion or a tree.
    @Test func handlesALargePayload() {
        let item = #"{"id":12345,"name":"a fairly ordinary string","tags":["x","y"],"score":-1.5e3,"ok":true},"#
        let big = "[" + String(repeating: item, count: 60_000) + "null]"
        #expect(JSONSyntax.isValid(Data(big.utf8)))
        #expect(!JSONSyntax.isValid(Data((big + "]").utf8)))
    }
}
