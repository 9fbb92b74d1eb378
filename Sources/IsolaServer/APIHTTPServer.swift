import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// The API port: HTTP/1.1 from NIO's codec straight into `APIResponder`, one handler per connection.
///
/// Why not Hummingbird here (the gateway port still uses it): every request crossed its async channel bridge
/// (an async sequence in, an async writer out, a task per connection) and a second header conversion, about a
/// sixth of the server's CPU on a warm invoke (docs/benchmarks.md). This handler collects the request on its
/// event loop, starts one task for the responder, and writes the answer back on the same loop.
struct APIHTTPService: Service {
    let host: String
    let port: Int
    let responder: APIResponder
    let onRunning: @Sendable (Int) async -> Void
    /// A connection that sends nothing for this long is closed, unless its request is being answered (an Invoke
    /// may run for 15 minutes); one stuck halfway through sending a request is closed too.
    let idleTimeout: TimeAmount
    let logger: Logger

    /// Connections the API port holds at once; beyond it new ones are closed at accept (the server's file
    /// descriptors are shared by every tenant).
    static let maxConnections = 4_096

    func run() async throws {
        let connections = OpenConnections()
        let responder = self.responder
        let idleTimeout = self.idleTimeout
        let server = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                guard connections.add(channel, limit: Self.maxConnections) else { return channel.close() }
                do {
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                } catch {
                    return channel.close()
                }
                return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMapThrowing {
                    try channel.pipeline.syncOperations.addHandler(APIChannelHandler(responder: responder))
                }
            }
            .bind(host: host, port: port)
            .get()
        await onRunning(server.localAddress?.port ?? 0)
        await withGracefulShutdownHandler {
            try? await server.closeFuture.get()
        } onGracefulShutdown: {
            server.close(promise: nil)
        }
        // No new connections; each open one closes once its current response is written (NIO's pipeline
        // handler quiesces on this event), so requests in flight still get their answers.
        await connections.quiesce()
        logger.debug("API port closed")
    }
}

/// The API port's open connections, for the connection cap and a graceful shutdown.
final class OpenConnections: Sendable {
    private let channels = Mutex<[ObjectIdentifier: any Channel]>([:])

    func add(_ channel: any Channel, limit: Int) -> Bool {
        let id = ObjectIdentifier(channel)
        let added = channels.withLock { open in
            guard open.count < limit else { return false }
            open[id] = channel
            return true
        }
        if added { channel.closeFuture.whenComplete { [self] _ in _ = channels.withLock { $0.removeValue(forKey: id) } } }
        return added
    }

    func quiesce() async {
        let open = channels.withLock { Array($0.values) }
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent()) }
        for channel in open { try? await channel.closeFuture.get() }
    }
}

/// Collects one request (the body bounded by `APIResponder.bodyLimit`, beyond which it is discarded and the
/// answer is RequestEntityTooLargeException), has the responder answer it, writes the answer. NIO's pipeline handler
/// in front keeps pipelined requests in order and answers malformed HTTP with 400.
final class APIChannelHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let responder: APIResponder
    private var head: HTTPRequestHead?
    private var body = ByteBuffer()
    private var tooLarge = false
    /// Requests read whole and not yet answered (pipelined ones wait in NIO's handler in front).
    private var answering = 0

    init(responder: APIResponder) {
        self.responder = responder
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body.clear()
            tooLarge = false
        case .body(var buffer):
            guard !tooLarge else { return }
            if body.readableBytes + buffer.readableBytes > APIResponder.bodyLimit {
                tooLarge = true
                body = ByteBuffer()
            } else {
                body.writeBuffer(&buffer)
            }
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    /// The idle read timeout: close a connection that is idle or stuck sending a request, never one whose
    /// request is being answered.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case IdleStateHandler.IdleStateEvent.read = event {
            if head != nil || answering == 0 { context.close(promise: nil) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Malformed HTTP: NIO's error handler has answered 400 with `Connection: close`; close it, as that says
    /// (NIO leaves the connection open otherwise, and a client could hold it).
    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        var fields = HTTPFields()
        fields.reserveCapacity(head.headers.count)
        for (name, value) in head.headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        let payload: Data? = tooLarge ? nil : Data(body.readableBytesView)
        body.clear()
        let method = HTTPRequest.Method(head.method.rawValue) ?? .get
        let authority = head.headers.first(name: "host")
        let responder = self.responder
        let keepAlive = head.isKeepAlive
        answering += 1
        let promise = context.eventLoop.makePromise(of: APIResponse.self)
        promise.completeWithTask {
            await responder.respond(method: method, target: head.uri, authority: authority, headers: fields, body: payload)
        }
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        promise.futureResult.whenSuccess { response in
            let (handler, context) = bound.value
            handler.write(response, keepAlive: keepAlive, context: context)
        }
    }

    private func write(_ response: APIResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        answering -= 1
        var headers = HTTPHeaders()
        headers.reserveCapacity(response.headers.count + 1)
        for field in response.headers { headers.add(name: field.name.rawName, value: field.value) }
        if !keepAlive { headers.replaceOrAdd(name: "connection", value: "close") }
        let status = HTTPResponseStatus(statusCode: response.status.code, reasonPhrase: response.status.reasonPhrase)
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        if !response.body.isEmpty {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: response.body)))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}
