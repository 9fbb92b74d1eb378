import Foundation

/// How the host's cgroups are laid out, which decides how crun must be run.
public enum CgroupLayout: String, Sendable {
    /// Pure cgroup v2 (most systemd distributions): crun works as is.
    case v2 = "cgroup v2"
    /// v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified: Debian's crun 1.8 refuses to start unless it
    /// runs in a private mount namespace where `cgroup.controllers` of that mount reads empty.
    case hybrid = "cgroup v1 (hybrid: crun runs in a private mount namespace)"
    /// v1 only.
    case v1 = "cgroup v1"
}

public enum HostProbe {
    public static func cgroupLayout(mountInfo: String? = KernelFile.read("/proc/self/mountinfo")) -> CgroupLayout {
        let types = mountTypes(mountInfo ?? "")
        if types["/sys/fs/cgroup"] == "cgroup2" { return .v2 }
        if types["/sys/fs/cgroup/unified"] == "cgroup2" { return .hybrid }
        return .v1
    }

    /// Mount point -> filesystem type, from `/proc/self/mountinfo` (fields: ... mountpoint ... - fstype source opts).
    static func mountTypes(_ mountInfo: String) -> [String: String] {
        var types: [String: String] = [:]
        for line in mountInfo.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 5, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            types[String(fields[4])] = String(fields[dash + 1])
        }
        return types
    }

    /// The crun binary: `$ISOLA_CRUN`, else the first `crun` on the usual paths.
    public static func crunPath() -> String? {
        if let path = ProcessInfo.processInfo.environment["ISOLA_CRUN"], FileManager.default.isExecutableFile(atPath: path) { return path }
        return ["/usr/bin/crun", "/usr/local/bin/crun", "/usr/sbin/crun"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
