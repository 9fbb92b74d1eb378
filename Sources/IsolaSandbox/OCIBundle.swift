import Foundation

/// The OCI runtime configuration (`config.json`) of one sandbox: every isolation setting in one place.
enum OCIBundle {
    /// AWS's sandbox user (`sbx_user1051`, uid 993 / gid 990).
    static let sandboxUID = 993
    static let sandboxGID = 990
    /// AWS's quota of processes and threads per environment.
    static let pidsLimit = 1024
    static let openFilesLimit = 1024
    static let idRangeSize: UInt32 = 65_536

    static let maskedPaths = [
        "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    ]
    static let readonlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

    /// Lambda's PATH and friends; the engine adds the per-function variables.
    static let baseEnvironment = [
        "PATH": "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LD_LIBRARY_PATH": "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    ]

    static func configuration(_ spec: SandboxSpec, rootfs: URL, etc: URL, agent: URL, scratch: URL, seccompBPF: String, cgroupParent: String) -> [String: Any] {
        let environment = baseEnvironment.merging(spec.environment) { _, function in function }
            .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        func bind(_ source: URL, _ destination: String) -> [String: Any] {
            ["destination": destination, "type": "bind", "source": source.path, "options": ["bind", "ro", "nosuid", "nodev"]]
        }
        let mounts: [[String: Any]] = [
            ["destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]],
            ["destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=64k"]],
            ["destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=16m"]],
            ["destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]],
            bind(URL(fileURLWithPath: "/usr"), "/usr"),
            bind(etc, "/etc"),
            bind(spec.runtimeDirectory, "/var/runtime"),
            bind(spec.codeDirectory, "/var/task"),
            ["destination": "/var/isola/agent", "type": "bind", "source": agent.path, "options": ["bind", "ro", "nosuid", "nodev"]],
            ["destination": "/tmp", "type": "bind", "source": scratch.path, "options": ["bind", "rw", "nosuid", "nodev"]],
        ]
        let memory = spec.memoryMB * 1_048_576
        return [
            "ociVersion": "1.0.2",
            "process": [
                "terminal": false,
                "user": ["uid": sandboxUID, "gid": sandboxGID],
                "args": ["/var/isola/agent", "--control-fd", "3", "--"] + spec.command,
                "env": environment,
                "cwd": "/var/task",
                "capabilities": ["bounding": [], "effective": [], "inheritable": [], "permitted": [], "ambient": []],
                "rlimits": [
                    ["type": "RLIMIT_NOFILE", "hard": openFilesLimit, "soft": openFilesLimit],
                    ["type": "RLIMIT_CORE", "hard": 0, "soft": 0],
                ],
                "noNewPrivileges": true,
            ] as [String: Any],
            "root": ["path": rootfs.path, "readonly": true],
            "hostname": "isola",
            "mounts": mounts,
            "annotations": ["run.oci.seccomp_bpf_data": seccompBPF],
            "linux": [
                "uidMappings": [["containerID": 0, "hostID": Int(spec.hostIDBase), "size": Int(idRangeSize)]],
                "gidMappings": [["containerID": 0, "hostID": Int(spec.hostIDBase), "size": Int(idRangeSize)]],
                "namespaces": ["pid", "network", "ipc", "uts", "mount", "user", "cgroup"].map { ["type": $0] },
                "cgroupsPath": "\(cgroupParent)/\(spec.id)",
                "resources": [
                    "devices": [["allow": false, "access": "rwm"]],
                    "memory": ["limit": memory, "swap": memory],
                    "pids": ["limit": pidsLimit],
                ] as [String: Any],
                "maskedPaths": maskedPaths,
                "readonlyPaths": readonlyPaths,
            ] as [String: Any],
        ]
    }

    /// The read-only root shared by every sandbox: mount points and the merged-/usr links, nothing else.
    static func prepareRootfs(_ rootfs: URL) throws {
        let fm = FileManager.default
        for directory in ["proc", "dev", "sys", "usr", "etc", "tmp", "var/task", "var/runtime", "var/isola", "opt"] {
            try fm.createDirectory(at: rootfs.appendingPathComponent(directory), withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        }
        let agentMountPoint = rootfs.appendingPathComponent("var/isola/agent")
        if !fm.fileExists(atPath: agentMountPoint.path) {
            _ = fm.createFile(atPath: agentMountPoint.path, contents: nil, attributes: [.posixPermissions: 0o755])
        }
        for (link, target) in [("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")] {
            let path = rootfs.appendingPathComponent(link).path
            if (try? fm.destinationOfSymbolicLink(atPath: path)) != target {
                try? fm.removeItem(atPath: path)
                try fm.createSymbolicLink(atPath: path, withDestinationPath: target)
            }
        }
        try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: rootfs.path)
    }

    /// A minimal `/etc`: the sandbox user, loopback name resolution, nothing from the host.
    static func prepareEtc(_ etc: URL) throws {
        try FileManager.default.createDirectory(at: etc, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let files = [
            "passwd": "root:x:0:0:root:/root:/sbin/nologin\nsbx_user1051:x:\(sandboxUID):\(sandboxGID)::/tmp:/sbin/nologin\n",
            "group": "root:x:0:\nsbx_user1051:x:\(sandboxGID):\n",
            "hosts": "127.0.0.1 localhost\n::1 localhost\n",
            "resolv.conf": "",
            "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
        ]
        for (name, content) in files {
            try Data(content.utf8).write(to: etc.appendingPathComponent(name))
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: etc.appendingPathComponent(name).path)
        }
    }
}
