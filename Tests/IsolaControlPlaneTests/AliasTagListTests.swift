import Foundation
import IsolaControlPlane
import IsolaStore
import LambdaAPI
import Testing

@Suite("ControlPlane: aliases")
struct AliasTests {
    /// A function with published versions 1 and 2 (and 3 when asked).
    func withVersions(_ count: Int = 2) async throws -> Harness {
        let h = try Harness()
        try await h.create("demo", zip: try zip("v1"))
        for n in 1...count {
            if n > 1 { _ = try await h.update("demo", #"{"Timeout":\#(n + 2)}"#) }
            #expect(try await h.publish("demo").version == String(n))
        }
        return h
    }

    @Test func createGetAndResolveThroughAnAlias() async throws {
        let h = try await withVersions()
        defer { h.remove() }
        let live = try await h.createAlias("demo", #"{"Name":"live","FunctionVersion":"1","Description":"prod"}"#)
        #expect(live.aliasArn == h.arn("demo", "live"))
        #expect(live.functionVersion == "1")
        #expect(live.description == "prod")
        #expect(live.routingConfig == nil)
        #expect(!live.revisionId.isEmpty)
        #expect(try await h.plane.getAlias(FunctionReference(name: "demo"), name: "live") == live)
        let resolved = try await h.plane.resolve(FunctionReference(name: "demo", qualifier: "live"))
        #expect(resolved.version.version == "1")
        #expect(resolved.alias?.configuration == live)

        #expect(await lambdaError { try await h.createAlias("demo", #"{"Name":"live","FunctionVersion":"2"}"#) }
            == LambdaError(.resourceConflict, "Alias already exists: \(h.arn("demo", "live"))"))
        #expect(await lambdaError { try await h.plane.getAlias(FunctionReference(name: "demo"), name: "nope") }
            == LambdaError.aliasNotFound(h.arn("demo", "nope")))
    }

    @Test func aliasTargetsAreValidated() async throws {
        let h = try await withVersions()
        defer { h.remove() }
        #expect(await lambdaError { try await h.createAlias("demo", #"{"Name":"x","FunctionVersion":"9"}"#) } == LambdaError.functionNotFound(h.arn("demo", "9")))
        #expect(await lambdaError { try await h.createAlias("demo", #"{"Name":"x","FunctionVersion":"beta"}"#) }?.code == .validation)
        #expect(await lambdaError { try await h.createAlias("demo", #"{"Name":"123","FunctionVersion":"1"}"#) }?.code == .validation)
        #expect(await lambdaError { try await h.createAlias("demo", #"{"FunctionVersion":"1"}"#) }?.code == .validation)
        #expect(await lambdaError { try await h.createAlias("demo", #"{"Name":"x"}"#) }?.code == .validation)
        #expect(await lambdaError { try await h.createAlias("ghost", #"{"Name":"x","FunctionVersion":"1"}"#) }?.code == .resourceNotFound)
        #expect(try await h.createAlias("demo", #"{"Name":"dev","FunctionVersion":"$LATEST"}"#).functionVersion == "$LATEST")
    }

    @Test func routingConfigIsValidated() async throws {
        let h = try await withVersions(3)
        defer { h.remove() }
        let canary = try await h.createAlias("demo", #"{"Name":"canary","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.25}}}"#)
        #expect(canary.routingConfig == AliasRoutingConfiguration(additionalVersionWeights: ["2": 0.25]))
        // An empty map means no routing.
        #expect(try await h.createAlias("demo", #"{"Name":"plain","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{}}}"#).routingConfig == nil)

        let tooHeavy = await lambdaError { try await h.createAlias("demo", #"{"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":1.5}}}"#) }
        #expect(tooHeavy?.code == .validation)
        let two = await lambdaError { try await h.createAlias("demo", #"{"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"2":0.1,"3":0.1}}}"#) }
        #expect(two?.code == .invalidParameterValue)
        let latest = await lambdaError { try await h.createAlias("demo", #"{"Name":"a","FunctionVersion":"$LATEST","RoutingConfig":{"AdditionalVersionWeights":{"2":0.1}}}"#) }
        #expect(latest?.code == .invalidParameterValue)
        let same = await lambdaError { try await h.createAlias("demo", #"{"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"1":0.1}}}"#) }
        #expect(same == LambdaError(.invalidParameterValue, "The additional version (1) must differ from the alias's primary version (1)."))
        let missing = await lambdaError { try await h.createAlias("demo", #"{"Name":"a","FunctionVersion":"1","RoutingConfig":{"AdditionalVersionWeights":{"8":0.1}}}"#) }
        #expect(missing == LambdaError.functionNotFound(h.arn("demo", "8")))
    }

    @Test func updateAliasChecksRevisionAndTargets() async throws {
        let h = try await withVersions()
        defer { h.remove() }
        let live = try await h.createAlias("demo", #"{"Name":"live","FunctionVersion":"1"}"#)
        let reference = FunctionReference(name: "demo")
        #expect(await lambdaError { try await h.plane.updateAlias(reference, name: "live", request: try decode(#"{"FunctionVersion":"2","RevisionId":"stale"}"#)) }
            == LambdaError.revisionMismatch)
        #expect(await lambdaError { try await h.plane.updateAlias(reference, name: "live", request: try decode(#"{"FunctionVersion":"5"}"#)) }?.code == .resourceNotFound)
        #expect(await lambdaError { try await h.plane.updateAlias(reference, name: "gone", request: try decode(#"{"FunctionVersion":"1"}"#)) }
            == LambdaError.aliasNotFound(h.arn("demo", "gone")))
        let updated = try await h.plane.updateAlias(reference, name: "live", request: try decode(#"{"FunctionVersion":"2","RevisionId":"\#(live.revisionId)"}"#))
        #expect(updated.functionVersion == "2")
        #expect(updated.revisionId != live.revisionId)
        #expect(try await h.plane.resolve(FunctionReference(name: "demo", qualifier: "live")).version.version == "2")
    }

    @Test func versionsReferencedByAnAliasCannotBeDeleted() async throws {
        let h = try await withVersions(3)
        defer { h.remove() }
        _ = try await h.createAlias("demo", #"{"Name":"live","FunctionVersion":"1"}"#)
        _ = try await h.createAlias("demo", #"{"Name":"canary","FunctionVersion":"3","RoutingConfig":{"AdditionalVersionWeights":{"2":0.5}}}"#)
        let primary = await lambdaError { try await h.plane.deleteFunction(FunctionReference(name: "demo", qualifier: "1")) }
        #expect(primary?.code == .resourceConflict)
        #expect(primary?.message.hasPrefix("Unable to delete version because the following aliases reference it: [live].") == true)
        let weighted = await lambdaError { try await h.plane.deleteFunction(FunctionReference(name: "demo", qualifier: "2")) }
        #expect(weighted?.code == .resourceConflict)
        #expect(weighted?.message.contains("[canary]") == true)

        try await h.plane.deleteAlias(FunctionReference(name: "demo"), name: "live")
        try await h.plane.deleteAlias(FunctionReference(name: "demo"), name: "live")  // deleting twice is fine
        try await h.plane.deleteFunction(FunctionReference(name: "demo", qualifier: "1"))
        let versions = try await h.plane.listVersions(FunctionReference(name: "demo"), marker: nil, maxItems: nil)
        #expect(versions.versions.map(\.version) == ["$LATEST", "2", "3"])
    }

    @Test func versionPagingSurvivesDeletingTheMarkerVersion() async throws {
        let h = try await withVersions(3)
        defer { h.remove() }
        let reference = FunctionReference(name: "demo")
        let first = try await h.plane.listVersions(reference, marker: nil, maxItems: 2)
        #expect(first.versions.map(\.version) == ["$LATEST", "1"])
        // The version the marker names goes away between the two pages; the versions after it must still come.
        try await h.plane.deleteFunction(FunctionReference(name: "demo", qualifier: "1"))
        let second = try await h.plane.listVersions(reference, marker: first.nextMarker, maxItems: 2)
        #expect(second.versions.map(\.version) == ["2", "3"])
    }

    @Test func listAliasesFiltersAndPages() async throws {
        let h = try await withVersions()
        defer { h.remove() }
        for (name, version) in [("c", "1"), ("a", "2"), ("b", "1"), ("d", "$LATEST")] {
            _ = try await h.createAlias("demo", #"{"Name":"\#(name)","FunctionVersion":"\#(version)"}"#)
        }
        let reference = FunctionReference(name: "demo")
        #expect(try await h.plane.listAliases(reference, functionVersion: nil, marker: nil, maxItems: nil).aliases.map(\.name) == ["a", "b", "c", "d"])
        #expect(try await h.plane.listAliases(reference, functionVersion: "1", marker: nil, maxItems: nil).aliases.map(\.name) == ["b", "c"])
        let first = try await h.plane.listAliases(reference, functionVersion: nil, marker: nil, maxItems: 3)
        let second = try await h.plane.listAliases(reference, functionVersion: nil, marker: first.nextMarker, maxItems: 3)
        #expect(first.aliases.map(\.name) == ["a", "b", "c"])
        #expect(second.aliases.map(\.name) == ["d"])
        #expect(second.nextMarker == nil)
    }
}

@Suite("ControlPlane: tags, concurrency, listing, account")
struct TagListAccountTests {
    @Test func tagsMergeAndUntag() async throws {
        let h = try Harness()
        defer { h.remove() }
        try await h.create("demo", zip: try zip("v1"), ["Tags": ["a": "1", "b": "2"]])
        let arn = h.arn("demo")
        try await h.plane.tagResource(arn, tags: ["b": "20", "c": "3"])
        #expect(try await h.plane.listTags(arn).tags == ["a": "1", "b": "20", "c": "3"])
        try await h.plane.untagResource(arn, keys: ["a", "missing"])
        #expect(try await h.plane.listTags(arn).tags == ["b": "20", "c": "3"])
        #expect(try await h.plane.getFunction(FunctionReference(name: "demo")) { $0 }.tags == ["b": "20", "c": "3"])
    }

    @Test func tagsNeedAnUnqualifiedFunctionARN() async throws {
        let h = try Harness()
        defer { h.remove() }
        try await h.create("demo", zip: try zip("v1"))
        #expect(await lambdaError { try await h.plane.tagResource(h.arn("demo", "1"), tags: ["a": "1"]) }
            == LambdaError(.invalidParameterValue, "Tags on function aliases and versions are not supported. Please specify a function ARN."))
        #expect(await lambdaError { try await h.plane.listTags("demo") }?.code == .validation)
        #expect(await lambdaError { try await h.plane.tagResource(h.arn("ghost"), tags: ["a": "1"]) }?.code == .resourceNotFound)
        #expect(await lambdaError { try await h.plane.tagResource("arn:aws:lambda:eu-west-1:123456789012:function:demo", tags: ["a": "1"]) }?.code == .resourceNotFound)
        #expect(await lambdaError { try await h.plane.tagResource(h.arn("demo"), tags: ["aws:x": "1"]) }?.code == .invalidParameterValue)
        #expect(await lambdaError { try await h.plane.untagResource(h.arn("demo"), keys: []) }?.code == .validation)
    }

    @Test func mergedTagsCountTowardsTheLimit() async throws {
        let h = try Harness()
        defer { h.remove() }
        let forty = Dictionary(uniqueKeysWithValues: (1...40).map { ("old\($0)", "v") })
        try await h.create("demo", zip: try zip("v1"), ["Tags": forty])
        let eleven = Dictionary(uniqueKeysWithValues: (1...11).map { ("new\($0)", "v") })
        #expect(await lambdaError { try await h.plane.tagResource(h.arn("demo"), tags: eleven) }?.code == .invalidParameterValue)
        #expect(try await h.plane.listTags(h.arn("demo")).tags.count == 40)
    }

    @Test func reservedConcurrencyKeepsTheUnreservedMinimum() async throws {
        let h = try Harness()
        defer { h.remove() }
        try await h.create("one", zip: try zip("v1"))
        try await h.create("two", zip: try zip("v1"))
        let one = FunctionReference(name: "one"), two = FunctionReference(name: "two")
        let message = "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100]."
        #expect(await lambdaError { try await h.plane.putConcurrency(one, reserved: 901) } == LambdaError(.invalidParameterValue, message))
        #expect(try await h.plane.putConcurrency(one, reserved: 900).reservedConcurrentExecutions == 900)
        #expect(try await h.plane.accountSettings().accountLimit.unreservedConcurrentExecutions == 100)
        #expect(await lambdaError { try await h.plane.putConcurrency(two, reserved: 1) } == LambdaError(.invalidParameterValue, message))
        // A function's own reservation is replaced, not added to.
        _ = try await h.plane.putConcurrency(one, reserved: 800)
        _ = try await h.plane.putConcurrency(two, reserved: 100)
        #expect(try await h.plane.getConcurrency(two).reservedConcurrentExecutions == 100)
        #expect(try await h.plane.getFunction(one) { $0 }.concurrency == Concurrency(reservedConcurrentExecutions: 800))
        try await h.plane.deleteConcurrency(one)
        #expect(try await h.plane.getConcurrency(one).reservedConcurrentExecutions == nil)
        #expect(try await h.plane.accountSettings().accountLimit.unreservedConcurrentExecutions == 900)

        #expect(await lambdaError { try await h.plane.putConcurrency(one, reserved: nil) }?.code == .validation)
        #expect(await lambdaError { try await h.plane.putConcurrency(one, reserved: -1) }?.code == .validation)
        #expect(await lambdaError { try await h.plane.putConcurrency(FunctionReference(name: "one", qualifier: "1"), reserved: 1) }?.code == .invalidParameterValue)
    }

    @Test func listFunctionsPagesEveryFunctionOnce() async throws {
        let h = try Harness()
        defer { h.remove() }
        let names = ["echo", "alpha", "delta", "bravo", "charlie"]
        for name in names { try await h.create(name, zip: try zip("shared")) }
        var seen: [String] = []
        var sizes: [Int] = []
        var marker: String?
        repeat {
            let page = try await h.plane.listFunctions(marker: marker, maxItems: 2, allVersions: false)
            seen += page.functions.map(\.functionName)
            sizes.append(page.functions.count)
            marker = page.nextMarker
        } while marker != nil && sizes.count < 10
        #expect(seen == names.sorted())
        #expect(sizes == [2, 2, 1])
        #expect(try await h.plane.listFunctions(marker: nil, maxItems: nil, allVersions: false).functions.count == 5)
        #expect(await lambdaError { try await h.plane.listFunctions(marker: nil, maxItems: 0, allVersions: false) }?.code == .validation)
        #expect(await lambdaError { try await h.plane.listFunctions(marker: nil, maxItems: 10_001, allVersions: false) }?.code == .validation)
        #expect(await lambdaError { try await h.plane.listFunctions(marker: "%%%", maxItems: nil, allVersions: false) }?.code == .invalidParameterValue)
    }

    @Test(arguments: [1, 2, 4, 50])
    func listAllVersionsPagesEveryVersionOnce(_ pageSize: Int) async throws {
        let h = try Harness()
        defer { h.remove() }
        try await h.create("a", zip: try zip("a"))
        _ = try await h.publish("a")
        _ = try await h.update("a", #"{"Timeout":9}"#)
        _ = try await h.publish("a")
        try await h.create("b", zip: try zip("b"))
        try await h.create("c", zip: try zip("c"), ["Publish": true])
        var seen: [String] = []
        var marker: String?
        var pages = 0
        repeat {
            let page = try await h.plane.listFunctions(marker: marker, maxItems: pageSize, allVersions: true)
            #expect(page.functions.count <= pageSize)
            seen += page.functions.map { "\($0.functionName):\($0.version)" }
            #expect(page.functions.allSatisfy { $0.functionArn == h.arn($0.functionName, $0.version) })
            marker = page.nextMarker
            pages += 1
        } while marker != nil && pages < 20
        #expect(seen == ["a:$LATEST", "a:1", "a:2", "b:$LATEST", "c:$LATEST", "c:1"])
        #expect(pages == (6 + pageSize - 1) / pageSize)
    }

    @Test func allVersionsPagingSurvivesDeletingTheMarkerVersion() async throws {
        let h = try Harness()
        defer { h.remove() }
        try await h.create("a", zip: try zip("a"), ["Publish": true])
        _ = try await h.update("a", #"{"Timeout":9}"#)
        _ = try await h.publish("a")
        try await h.create("b", zip: try zip("b"))
        let first = try await h.plane.listFunctions(marker: nil, maxItems: 2, allVersions: true)
        #expect(first.functions.map(\.version) == ["$LATEST", "1"])
        try await h.plane.deleteFunction(FunctionReference(name: "a", qualifier: "1"))
        let rest = try await h.plane.listFunctions(marker: first.nextMarker, maxItems: 10, allVersions: true)
        #expect(rest.functions.map { "\($0.functionName):\($0.version)" } == ["a:2", "b:$LATEST"])
    }

    @Test func accountSettingsCountFunctionsAndCode() async throws {
        let h = try Harness()
        defer { h.remove() }
        let empty = try await h.plane.accountSettings()
        #expect(empty.accountUsage.functionCount == 0)
        #expect(empty.accountUsage.totalCodeSize == 0)
        #expect(empty.accountLimit.unreservedConcurrentExecutions == 1000)
        let a = try zip("aaaa"), b = try zip("bbbbbbbbbb")
        try await h.create("one", zip: a, ["Publish": true])  // $LATEST and version 1
        try await h.create("two", zip: b)
        _ = try await h.plane.putConcurrency(FunctionReference(name: "two"), reserved: 50)
        let settings = try await h.plane.accountSettings()
        #expect(settings.accountUsage.functionCount == 2)
        #expect(settings.accountUsage.totalCodeSize == 2 * a.count + b.count)
        #expect(settings.accountLimit.unreservedConcurrentExecutions == 950)
        #expect(settings.accountLimit.concurrentExecutions == 1000)
    }
}
