import Foundation
import LambdaAPI
import ZIPFoundation

/// What a deployment package holds, once proven safe to unpack.
public struct ZipSummary: Sendable, Equatable {
    public var entryCount: Int
    public var unzippedBytes: Int
}

/// Checks a deployment package before anything is stored: it must be a readable zip whose entries stay inside
/// the code root (no absolute paths, no `..`, no symlink pointing out) and whose *actual* unzipped size, counted
/// while inflating, stays under the limit, so a zip bomb is stopped at the limit rather than after it.
public enum ZipInspector {
    /// Symlink targets are short paths; a larger "target" is a malformed or hostile entry.
    static let maxSymlinkTargetBytes = 4_096

    public static func inspect(_ zip: Data, unzippedLimit: Int = Limits.unzippedCodeBytes) throws(LambdaError) -> ZipSummary {
        let archive: Archive
        do {
            archive = try Archive(data: zip, accessMode: .read)
        } catch {
            throw LambdaError.cannotUnzip
        }
        var total = 0
        var count = 0
        var symlinks: [String: String] = [:]
        for entry in archive {
            count += 1
            if count > Limits.maxZipEntries {
                throw LambdaError(.invalidParameterValue, "The deployment package has more than \(Limits.maxZipEntries) entries; package fewer files.")
            }
            let path = entry.path
            try checkPath(path)
            if entry.type == .symlink, entry.compressedSize > UInt64(maxSymlinkTargetBytes) {
                throw LambdaError.cannotUnzip
            }
            var target = Data()
            var entryBytes = 0
            let checksum: CRC32
            do {
                checksum = try archive.extract(entry, skipCRC32: false) { chunk in
                    entryBytes += chunk.count
                    if total + entryBytes > unzippedLimit { throw UnzipLimitExceeded() }
                    if entry.type == .symlink { target.append(chunk) }
                }
            } catch is UnzipLimitExceeded {
                throw LambdaError.unzippedTooLarge(limit: unzippedLimit)
            } catch {
                throw LambdaError.cannotUnzip
            }
            if entry.type != .directory, checksum != entry.checksum { throw LambdaError.cannotUnzip }
            total += entryBytes
            if entry.type == .symlink {
                let text = String(decoding: target, as: UTF8.self)
                if text.isEmpty || text.hasPrefix("/") || text.contains("\0") { throw symlinkOutside(path, text) }
                symlinks[normalized(path)] = text
            }
        }
        // Each link is resolved through the others, so a chain (`a -> .`, `b -> a/..`) cannot climb out either.
        for (path, target) in symlinks where resolve(path, through: symlinks) == nil {
            throw symlinkOutside(path, target)
        }
        return ZipSummary(entryCount: count, unzippedBytes: total)
    }

    static func checkPath(_ path: String) throws(LambdaError) {
        if path.hasPrefix("/") || path.hasPrefix("\\") || path.contains("\0") {
            throw LambdaError(.invalidParameterValue, "The deployment package has an entry with an absolute path ('\(path)'); zip the files relative to the function's root.")
        }
        let components = path.split(whereSeparator: { $0 == "/" || $0 == "\\" })
        if components.contains("..") {
            throw LambdaError(.invalidParameterValue, "The deployment package has an entry that leaves the function's root ('\(path)'); remove '..' from the paths in the zip.")
        }
    }

    static func symlinkOutside(_ path: String, _ target: String) -> LambdaError {
        LambdaError(
            .invalidParameterValue,
            "The deployment package has a symbolic link that points outside the function's root ('\(path)' -> '\(target)'); replace it with the file it points to."
        )
    }

    static func normalized(_ path: String) -> String {
        path.split(separator: "/").filter { $0 != "." }.joined(separator: "/")
    }

    /// Resolves `link` (a path inside the root) to the components it finally names, following the archive's
    /// other links; nil when resolution leaves the root or loops (40 hops, like the kernel's limit).
    static func resolve(_ link: String, through links: [String: String]) -> [Substring]? {
        var hops = 0
        // Work list of components still to walk, and the resolved prefix so far.
        guard let target = links[link] else { return nil }
        var pending: [Substring] = Array(link.split(separator: "/").dropLast()) + target.split(separator: "/")
        var resolved: [Substring] = []
        while !pending.isEmpty {
            let component = pending.removeFirst()
            switch component {
            case "", ".": continue
            case "..":
                if resolved.isEmpty { return nil }
                resolved.removeLast()
            default:
                resolved.append(component)
                if let next = links[resolved.joined(separator: "/")] {
                    hops += 1
                    if hops > 40 || next.hasPrefix("/") { return nil }
                    resolved.removeLast()
                    pending = next.split(separator: "/") + pending
                }
            }
        }
        return resolved
    }
}

private struct UnzipLimitExceeded: Error {}
