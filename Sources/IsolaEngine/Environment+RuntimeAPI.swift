import Foundation
import IsolaSandbox
import NIOCore
import Synchronization

/// The Runtime API as one environment answers it. Everything here runs synchronously on the socket's event loop
/// and holds the environment's lock only to read or change its state; responses are written outside the lock.
extension Environment {
    func handle(_ request: RuntimeAPIRequest, responder: RuntimeAPIResponder) {
        let path = request.path.split(separator: "?").first.map(String.init) ?? request.path
        switch (request.method, path) {
        case ("GET", RuntimeAPIContract.nextPath):
            return next(responder)
        case ("POST", RuntimeAPIContract.initErrorPath):
            let type = RuntimeAPIContract.validErrorType(request.headers["lambda-runtime-function-error-type"]) ?? "Runtime.Unknown"
            let accepted = state.withLock {
                guard $0.phase == .initializing else { return false }
                $0.initError = (Data(request.body), type)
                return true
            }
            return responder.respond(accepted ? .json(202, RuntimeAPIContract.accepted) : .json(403, RuntimeAPIContract.invalidStateTransition))
        case ("POST", _) where path.hasPrefix("\(RuntimeAPIContract.prefix)/invocation/"):
            let parts = path.dropFirst(RuntimeAPIContract.prefix.count + "/invocation/".count).split(separator: "/")
            guard parts.count == 2, parts[1] == "response" || parts[1] == "error" else { break }
            return responder.respond(post(requestId: String(parts[0]), isError: parts[1] == "error", request: request))
        default:
            break
        }
        responder.respond(.json(404, RuntimeAPIContract.errorBody("NotFound", "No Runtime API route for \(request.method) \(path)")))
    }

    /// `GET /next`: the first one ends init; later ones take the pending invocation or wait for one.
    private func next(_ responder: RuntimeAPIResponder) {
        enum Decision { case refuse, park, deliver(Assignment) }
        var becameReady = false
        var abandoned: Assignment?
        let decision: Decision = state.withLock {
            switch $0.phase {
            case .initializing:
                transition(&$0, to: .idle)
                becameReady = true
            case .busy, .idle:
                if let current = $0.current, !current.latch.isFulfilled {
                    // Asked for the next event before answering this one: the invocation fails, the environment goes.
                    abandoned = current
                    return .refuse
                }
                $0.current = nil
            default:
                return .refuse
            }
            if let pending = $0.pending {
                $0.pending = nil
                $0.current = pending
                return .deliver(pending)
            }
            if $0.parkedNext != nil { return .refuse }
            $0.parkedNext = responder
            return .park
        }
        if becameReady { ready.fulfil(nil) }
        abandoned?.latch.fulfil(.platformError(errorType: "Runtime.InvalidStateTransition", message: "Runtime asked for the next invocation before answering this one"))
        switch decision {
        case .refuse: responder.respond(.json(403, RuntimeAPIContract.invalidStateTransition))
        case .deliver(let assignment): responder.respond(Self.eventResponse(assignment))
        case .park: break
        }
    }

    /// `POST /invocation/{id}/response` and `/error`: settles the invocation the runtime holds, once.
    private func post(requestId: String, isError: Bool, request: RuntimeAPIRequest) -> RuntimeAPIResponse {
        guard let current = state.withLock({ $0.current }), current.input.requestId == requestId else {
            return .json(400, RuntimeAPIContract.invalidRequestId)
        }
        guard !current.latch.isFulfilled else { return .json(403, RuntimeAPIContract.invalidStateTransition) }
        if request.bodyTooLarge {
            current.latch.fulfil(.error(
                Data(#"{"errorMessage":"Response payload size exceeded maximum allowed payload size (\#(RuntimeAPIContract.maxPayloadBytes) bytes).","errorType":"Function.ResponseSizeTooLarge"}"#.utf8),
                errorType: "Function.ResponseSizeTooLarge"
            ))
            return .json(413, RuntimeAPIContract.payloadTooLarge)
        }
        let body = Data(request.body)
        let settled: Bool
        if isError {
            let declared = RuntimeAPIContract.validErrorType(request.headers["lambda-runtime-function-error-type"])
            let bodyType = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["errorType"] as? String
            settled = current.latch.fulfil(.error(body, errorType: declared ?? bodyType ?? "Function.Unknown"))
        } else {
            settled = current.latch.fulfil(.response(body, contentType: request.headers["content-type"] ?? "application/json"))
        }
        // Lost the race to a timeout or a crash: the invocation was already answered.
        return settled ? .json(202, RuntimeAPIContract.accepted) : .json(403, RuntimeAPIContract.invalidStateTransition)
    }

    static func eventResponse(_ assignment: Assignment) -> RuntimeAPIResponse {
        let input = assignment.input
        var headers: [(String, String)] = [
            ("Content-Type", "application/json"),
            (RuntimeAPIContract.Header.requestId, input.requestId),
            (RuntimeAPIContract.Header.deadline, String(Int64(assignment.deadline.timeIntervalSince1970 * 1000))),
            (RuntimeAPIContract.Header.functionArn, input.functionArn),
            (RuntimeAPIContract.Header.traceId, TraceID.make()),
        ]
        if let context = input.clientContext { headers.append((RuntimeAPIContract.Header.clientContext, context)) }
        if let tenant = input.tenantId { headers.append((RuntimeAPIContract.Header.tenantId, tenant)) }
        return RuntimeAPIResponse(status: 200, headers: headers, body: Array(input.payload))
    }
}
