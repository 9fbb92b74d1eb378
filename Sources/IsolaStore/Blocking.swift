import Dispatch

/// Runs work that blocks its thread (hashing and inspecting a 50 MB zip, fsync, unpacking) on a Dispatch worker
/// instead of the caller's. Async code in Isola runs on the server's event loops, where a blocked thread stalls
/// every connection that loop serves.
public enum Blocking {
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
