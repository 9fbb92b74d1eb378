import Foundation

/// Reads files the kernel generates (/proc, cgroupfs) to the end.
///
/// Why not `String(contentsOfFile:)`: such files report a size of 0, and Foundation then reads one page, so a
/// /proc/self/mountinfo past 4 KB (a host with a few dozen mounts) came back cut short: a mount that existed
/// was not found, and the cgroup layout could be judged from part of the table.
public enum KernelFile {
    public static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes += chunk[0..<count]
            } else if count == 0 {
                return String(decoding: bytes, as: UTF8.self)
            } else if errno != EINTR {
                return nil
            }
        }
    }
}
