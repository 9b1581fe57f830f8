import CBPF
import Foundation
import Glibc
import Netns

/// eBPF redirection (Istio 1.20's shape), loaded with libbpf: tc clsact direct-action
/// programs `app_outbound` / `app_inbound` on each enrolled pod's host-side veth,
/// `ztunnel_host_ingress` on ztunnel's host-side veth, `ztunnel_tproxy` on ztunnel's own eth0; maps
/// `app_info`, `ztunnel_info`, `host_ip_info`, and `counters` for evidence.
public final class BPFRedirector: @unchecked Sendable {
    private let object: OpaquePointer
    private let lock = NSLock()

    /// What the programs count, in the order of the C source's `enum counter`.
    public static let counterNames = [
        "outbound_redirected", "outbound_dropped", "inbound_redirected", "inbound_bypassed",
        "host_redirected", "established_assigned", "listener_assigned", "no_socket",
    ]

    public init(objectFile: String) throws {
        // Attaching a pod's second hook finds its clsact qdisc already there: expected, not worth a log line.
        libbpf_set_print { level, format, arguments in
            guard let format, let arguments else { return 0 }
            var line = [CChar](repeating: 0, count: 1024)
            vsnprintf(&line, line.count, format, arguments)
            let text = String(cString: line)
            if level != LIBBPF_DEBUG && !text.contains("Exclusivity flag on") { FileHandle.standardError.write(Data(text.utf8)) }
            return 0
        }
        guard let object = bpf_object__open_file(objectFile, nil) else {
            throw NetnsError("open the eBPF object \(objectFile): \(String(cString: strerror(errno)))")
        }
        let rc = bpf_object__load(object)
        guard rc == 0 else {
            bpf_object__close(object)
            throw NetnsError("load the eBPF programs: \(String(cString: strerror(-rc))) (the kernel log has the verifier's reasons)")
        }
        self.object = object
    }

    deinit { bpf_object__close(object) }

    /// Attaches a program to a device's tc ingress or egress hook (clsact), in the calling thread's netns.
    public func attach(_ program: String, device: String, ingress: Bool) throws {
        guard let prog = bpf_object__find_program_by_name(object, program) else { throw NetnsError("no eBPF program \(program)") }
        let ifindex = if_nametoindex(device)
        guard ifindex != 0 else { throw NetnsError("no device \(device) to attach \(program) to") }
        // libbpf's option structs must be zero beyond their fields, padding included: build them in zeroed memory.
        let hook = Self.zeroed(bpf_tc_hook.self)
        defer { free(hook) }
        hook.pointee.sz = MemoryLayout<bpf_tc_hook>.stride
        hook.pointee.ifindex = Int32(ifindex)
        hook.pointee.attach_point = ingress ? BPF_TC_INGRESS : BPF_TC_EGRESS
        let created = bpf_tc_hook_create(hook)
        guard created == 0 || created == -EEXIST else { throw NetnsError("create the clsact hook on \(device): \(String(cString: strerror(-created)))") }
        let options = Self.zeroed(bpf_tc_opts.self)
        defer { free(options) }
        options.pointee.sz = MemoryLayout<bpf_tc_opts>.stride
        options.pointee.prog_fd = bpf_program__fd(prog)
        options.pointee.handle = 1
        options.pointee.priority = 1
        let attached = bpf_tc_attach(hook, options)
        guard attached == 0 else { throw NetnsError("attach \(program) to \(device) \(ingress ? "ingress" : "egress"): \(String(cString: strerror(-attached)))") }
    }

    /// Registers ztunnel: its host-side veth (in the node netns) and its eth0's MAC. Without it,
    /// captured traffic is dropped.
    public func registerZTunnel(ifindex: Int32, mac: [UInt8]) throws {
        try update("ztunnel_info", key: UInt32(0).bytes, value: Self.endpoint(ifindex: ifindex, mac: mac))
    }

    public func unregisterZTunnel() throws {
        try update("ztunnel_info", key: UInt32(0).bytes, value: [UInt8](repeating: 0, count: 12))
    }

    /// The node's own address toward its pods: packets from it into a pod are not captured.
    public func setHostIP(_ ip: String) throws {
        try update("host_ip_info", key: UInt32(0).bytes, value: try Self.ipv4(ip))
    }

    /// Enrolls a pod: its address, host-side veth and MAC.
    public func enroll(ip: String, ifindex: Int32, mac: [UInt8]) throws {
        try update("app_info", key: try Self.ipv4(ip), value: Self.endpoint(ifindex: ifindex, mac: mac))
    }

    public func release(ip: String) throws {
        let fd = try mapFD("app_info")
        var key = try Self.ipv4(ip)
        _ = bpf_map_delete_elem(fd, &key)
    }

    /// The programs' counters by name.
    public func counters() -> [String: UInt64] {
        guard let fd = try? mapFD("counters") else { return [:] }
        var result: [String: UInt64] = [:]
        for (index, name) in Self.counterNames.enumerated() {
            var key = UInt32(index)
            var value: UInt64 = 0
            if bpf_map_lookup_elem(fd, &key, &value) == 0 { result[name] = value }
        }
        return result
    }

    private static func zeroed<T>(_ type: T.Type) -> UnsafeMutablePointer<T> {
        calloc(1, MemoryLayout<T>.stride)!.bindMemory(to: T.self, capacity: 1)
    }

    /// Names of the eBPF programs loaded in the kernel now (anyone's), for residue checks.
    public static func loadedProgramNames() -> [String] { loadedPrograms().map(\.name) }

    /// MeshLab's programs, by the name the kernel keeps (BPF_OBJ_NAME_LEN: 15 characters and a NUL).
    public static let programNames: Set<String> = ["app_outbound", "app_inbound", "ztunnel_host_in", "ztunnel_tproxy"]

    /// MeshLab's programs loaded now that no process holds open: left attached to devices by a
    /// redirector that died, in netns that still exist. Once those netns are deleted the kernel frees
    /// them (shortly after: netns cleanup runs in the background). A running lab's are never listed.
    public static func abandonedPrograms() -> [String] {
        let held = heldProgramIDs()
        return loadedPrograms().filter { programNames.contains($0.name) && !held.contains($0.id) }.map { "\($0.name) (id \($0.id))" }
    }

    /// Every loaded program's id and name (anyone's).
    static func loadedPrograms() -> [(id: UInt32, name: String)] {
        var programs: [(id: UInt32, name: String)] = []
        var id: UInt32 = 0
        while bpf_prog_get_next_id(id, &id) == 0 {
            let fd = bpf_prog_get_fd_by_id(id)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var info = bpf_prog_info()
            var length = UInt32(MemoryLayout<bpf_prog_info>.size)
            guard bpf_obj_get_info_by_fd(fd, &info, &length) == 0 else { continue }
            programs.append((id, withUnsafeBytes(of: info.name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }))
        }
        return programs
    }

    /// Ids of the programs some process holds a file descriptor to (its fdinfo says `prog_id:`).
    static func heldProgramIDs() -> Set<UInt32> {
        var held: Set<UInt32> = []
        for process in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] where Int32(process) != nil {
            for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(process)/fd")) ?? [] {
                guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process)/fd/\(fd)")) == "anon_inode:bpf-prog",
                      let info = try? String(contentsOfFile: "/proc/\(process)/fdinfo/\(fd)", encoding: .utf8),
                      let line = info.split(separator: "\n").first(where: { $0.hasPrefix("prog_id:") }),
                      let id = UInt32(line.dropFirst("prog_id:".count).trimmingCharacters(in: .whitespaces))
                else { continue }
                held.insert(id)
            }
        }
        return held
    }

    /// Half-compiled objects (`EBPFPrograms` compiles to `<cache>/bpf/<object>.o.<pid>`, then renames)
    /// whose redirector is gone: one killed while clang ran.
    public static func abandonedObjectFiles() -> [String] {
        let folder = EBPFPrograms.cacheDirectory + "/bpf"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return Residue.abandoned(names) { name in
            name.contains(".o.") ? name.split(separator: ".").last.flatMap { pid_t($0) } : nil
        }.map { "\(folder)/\($0)" }
    }

    private func mapFD(_ name: String) throws -> Int32 {
        guard let map = bpf_object__find_map_by_name(object, name) else { throw NetnsError("no eBPF map \(name)") }
        return bpf_map__fd(map)
    }

    private func update(_ map: String, key: [UInt8], value: [UInt8]) throws {
        let fd = try mapFD(map)
        var key = key, value = value
        let rc = lock.withLock { bpf_map_update_elem(fd, &key, &value, UInt64(BPF_ANY)) }
        guard rc == 0 else { throw NetnsError("update eBPF map \(map): \(String(cString: strerror(-rc)))") }
    }

    /// `struct app_info` / `struct ztunnel_info`: ifindex (host order), MAC, two bytes of padding.
    static func endpoint(ifindex: Int32, mac: [UInt8]) -> [UInt8] {
        UInt32(bitPattern: ifindex).bytes + mac + [0, 0]
    }

    /// An IPv4 address in network order, as the programs compare it with packet headers.
    static func ipv4(_ text: String) throws -> [UInt8] {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { throw NetnsError("not an IPv4 address: \(text)") }
        return withUnsafeBytes(of: address.s_addr) { Array($0) }
    }
}

extension UInt32 {
    /// Host byte order, as a map key or value holds it.
    var bytes: [UInt8] { withUnsafeBytes(of: self) { Array($0) } }
}
