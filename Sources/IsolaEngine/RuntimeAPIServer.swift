import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves the Runtime API of one environment on the listener its sandbox handed over (127.0.0.1:9001 inside that
/// sandbox's own network namespace). Only that sandbox can connect to it, so whoever speaks on it *is* that
/// environment: no request carries an identity that could be forged.
final class RuntimeAPIServer: Sendable {
    let channel: any Channel

    /// Connections one environment may hold open at once. A runtime needs one or two; the cap keeps a hostile
    /// runtime from spending the server's file descriptors, which every tenant shares.
    static let maxConnections = 8

    /// Takes ownership of `listener`.
    static func start(listener: Int32, group: any EventLoopGroup, handle: @escaping RuntimeAPIHandler.Handle) async throws -> RuntimeAPIServer {
        let open = ConnectionCounter()
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 16)
            .childChannelInitializer { channel in
                guard open.enter(limit: maxConnections) else {
                    return channel.close()
                }
                channel.closeFuture.whenComplete { _ in open.leave() }
                return channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(RuntimeAPIHandler(handle: handle))
                }
            }
            .withBoundSocket(listener)
            .get()
        return RuntimeAPIServer(channel: channel)
    }

    private init(channel: any Channel) {
        self.channel = channel
    }

    func close() async {
        try? await channel.close()
    }
}

/// Where a Runtime API answer goes: written at once when called on the connection's event loop (the common case:
/// the environment answered synchronously), else handed to that loop. Long polls simply answer late.
struct RuntimeAPIResponder: Sendable {
    private let deliver: @Sendable (RuntimeAPIResponse) -> Void

    init(_ deliver: @escaping @Sendable (RuntimeAPIResponse) -> Void) {
        self.deliver = deliver
    }

    func respond(_ response: RuntimeAPIResponse) { deliver(response) }
}

/// Collects one HTTP request (bounded), hands it to the environment with a responder, writes the answer.
final class RuntimeAPIHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    typealias Handle = @Sendable (RuntimeAPIRequest, RuntimeAPIResponder) -> Void

    let handle: Handle
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var tooLarge = false

    init(handle: @escaping Handle) {
        self.handle = handle
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
            tooLarge = false
        case .body(var buffer):
            if tooLarge { return }
            if body.count + buffer.readableBytes > RuntimeAPIContract.maxPayloadBytes {
                tooLarge = true
                body = []
            } else if let bytes = buffer.readBytes(length: buffer.readableBytes) {
                body += bytes
            }
        case .end:
            guard let head else { return }
            self.head = nil
            // The only headers the Runtime API reads (lower-cased keys), not a copy of every header on every request.
            var headers: [String: String] = [:]
            for name in RuntimeAPIRequest.readHeaders { headers[name] = head.headers.first(name: name) }
            let request = RuntimeAPIRequest(method: head.method.rawValue, path: head.uri, headers: headers, body: body, bodyTooLarge: tooLarge)
            body = []
            let keepAlive = head.isKeepAlive
            let loopBound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            let eventLoop = context.eventLoop
            handle(request, RuntimeAPIResponder { response in
                if eventLoop.inEventLoop {
                    let (handler, context) = loopBound.value
                    handler.write(response, keepAlive: keepAlive, context: context)
                } else {
                    eventLoop.execute {
                        let (handler, context) = loopBound.value
                        handler.write(response, keepAlive: keepAlive, context: context)
                    }
                }
            })
        }
    }

    private func write(_ response: RuntimeAPIResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        for (name, value) in response.headers { headers.add(name: name, value: value) }
        headers.replaceOrAdd(name: "Content-Length", value: String(response.body.count))
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        let head = HTTPResponseHead(version: .http1_1, status: HTTPResponseStatus(statusCode: response.status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: response.body)))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let bound = NIOLoopBound(context, eventLoop: context.eventLoop)
            done.whenComplete { _ in bound.value.close(promise: nil) }
        }
    }
}

final class ConnectionCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    func enter(limit: Int) -> Bool {
        lock.withLock {
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() { lock.withLock { count -= 1 } }
}
