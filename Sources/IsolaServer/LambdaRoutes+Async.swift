import Foundation
import HTTPTypes
import IsolaControlPlane
import IsolaEngine
import IsolaStore
import LambdaAPI

/// Asynchronous invocation: the event invoke configuration (Lambda's API) and the failed-event records (Isola's).
extension LambdaRoutes {
    var asyncRoutes: [Route] {
        [
            Route(.put, "2019-09-25/functions/{F}/event-invoke-config", "PutFunctionEventInvokeConfig") { request, p in
                let input = try request.decode(PutEventInvokeConfigRequest.self)
                return try .json(try await controlPlane.putEventInvokeConfig(try functionReference(p, request), input, merge: false, now: clock()))
            },
            Route(.post, "2019-09-25/functions/{F}/event-invoke-config", "UpdateFunctionEventInvokeConfig") { request, p in
                let input = try request.decode(PutEventInvokeConfigRequest.self)
                return try .json(try await controlPlane.putEventInvokeConfig(try functionReference(p, request), input, merge: true, now: clock()))
            },
            Route(.get, "2019-09-25/functions/{F}/event-invoke-config", "GetFunctionEventInvokeConfig") { request, p in
                try .json(try await controlPlane.getEventInvokeConfig(try functionReference(p, request)))
            },
            Route(.delete, "2019-09-25/functions/{F}/event-invoke-config", "DeleteFunctionEventInvokeConfig") { request, p in
                try await controlPlane.deleteEventInvokeConfig(try functionReference(p, request))
                return .empty()
            },
            Route(.get, "2019-09-25/functions/{F}/event-invoke-config/list", "ListFunctionEventInvokeConfigs") { request, p in
                try .json(
                    try await controlPlane.listEventInvokeConfigs(
                        try functionReference(p, request), marker: request.queryValue("Marker"),
                        maxItems: try request.intQuery("MaxItems", field: "maxItems")
                    )
                )
            },
            Route(.get, "isola/v1/usage", "GetUsage") { request, _ in
                func time(_ name: String) throws -> Date? {
                    guard let text = request.queryValue(name) else { return nil }
                    guard let date = ISO8601DateFormatter().date(from: text) ?? ISO8601DateFormatter.dateOnly.date(from: text) else {
                        throw LambdaError.validation([ConstraintViolation(value: text, field: name, constraint: "Member must be an ISO 8601 time, like 2026-11-25T10:00:00Z or 2026-11-25")])
                    }
                    return date
                }
                let rows = try await usage.report(
                    function: request.queryValue("function"), tenant: request.queryValue("tenant"), since: try time("since"), until: try time("until"), prices: prices
                )
                return try .json(UsageResponse(usage: rows, prices: prices))
            },
            Route(.get, "isola/v1/failed-events", "ListFailedEvents") { request, _ in
                let limit = try request.intQuery("MaxItems", field: "maxItems") ?? 50
                guard (1...1_000).contains(limit) else {
                    throw LambdaError.validation([ConstraintViolation(value: "\(limit)", field: "maxItems", constraint: "Member must have value between 1 and 1000")])
                }
                let function = request.queryValue("FunctionName")
                let failed = try await events.failedEvents(function: function, limit: limit)
                return try .json(FailedEventsResponse(failedEvents: failed.map(FailedEventShape.init)))
            },
        ]
    }
}

/// `GET /isola/v1/usage`: per (function, tenant), priced; most expensive first. Hourly resolution.
struct UsageResponse: Encodable {
    var usage: [UsageRow]
    var prices: PriceTable
}

extension ISO8601DateFormatter {
    static var dateOnly: ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        return formatter
    }
}

/// `GET /isola/v1/failed-events`: asynchronous invocations that ran out of attempts or age, newest first.
struct FailedEventsResponse: Encodable {
    var failedEvents: [FailedEventShape]

    enum CodingKeys: String, CodingKey { case failedEvents = "FailedEvents" }
}

struct FailedEventShape: Encodable {
    var requestId: String
    var functionName: String
    var qualifier: String
    var tenantId: String?
    /// The event as sent (UTF-8 JSON).
    var payload: String
    var enqueuedAt: String
    var failedAt: String
    var attempts: Int
    /// `RetriesExhausted`, `EventAgeExceeded` or `FunctionNotFound`.
    var reason: String
    var lastErrorType: String?

    init(_ failed: FailedEvent) {
        requestId = failed.event.id
        functionName = failed.event.functionName
        qualifier = failed.event.qualifier
        tenantId = failed.event.tenantId
        payload = String(decoding: failed.event.payload, as: UTF8.self)
        enqueuedAt = LambdaTimestamp.string(from: failed.event.enqueuedAt)
        failedAt = LambdaTimestamp.string(from: failed.failedAt)
        attempts = failed.event.attempts
        reason = failed.reason
        lastErrorType = failed.event.lastErrorType
    }

    enum CodingKeys: String, CodingKey {
        case requestId = "RequestId"
        case functionName = "FunctionName"
        case qualifier = "Qualifier"
        case tenantId = "TenantId"
        case payload = "Payload"
        case enqueuedAt = "EnqueuedAt"
        case failedAt = "FailedAt"
        case attempts = "Attempts"
        case reason = "Reason"
        case lastErrorType = "LastErrorType"
    }
}
