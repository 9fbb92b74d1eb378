import IsolaCLI
import NIOCore
import NIOPosix

/// The `isola` executable: a thin entry point over the IsolaCLI library.
/// (Not `main.swift`: a top-level `await` there fails at run time with the argument parser.)
@main
struct Entry {
    static func main() async {
        // Swift Concurrency runs on NIO's event loops instead of its own pool: a request's task then continues on
        // the loop that read it, so an invocation does not cross threads between the HTTP front, the engine and
        // the Runtime API (each crossing is a context switch, the largest cost of a warm invoke). Must be the
        // first thing on the main thread. Nothing in Isola blocks a task on an event loop's future, and work that
        // blocks its thread (zips, fsync) runs on Dispatch workers (IsolaStore's `Blocking`).
        NIOSingletons.groupLoopCountSuggestion = IsolaCommand.eventLoopCount(arguments: CommandLine.arguments)
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await IsolaCommand.start()
    }
}
