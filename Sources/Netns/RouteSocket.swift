import CNetlink
import Glibc

/// A rtnetlink socket (libnl-route-3) bound to the netns of the thread that opened it.
///
/// It stays bound to that netns after the thread moves on, so one thread can hold sockets
/// for several namespaces. Not thread-safe: one owner at a time.
public final class RouteSocket {
    let handle: OpaquePointer
    private var linkIndexes: [String: Int32] = [:]

    /// Opens a socket in the calling thread's current netns.
    public init() throws {
        guard let socket = nl_socket_alloc() else { throw NetnsError("netlink: cannot allocate a socket") }
        let rc = nl_connect(socket, Int32(NETLINK_ROUTE))
        guard rc == 0 else {
            nl_socket_free(socket)
            throw NetlinkFailure.error("connect to rtnetlink", rc)
        }
        handle = socket
    }

    deinit { nl_socket_free(handle) }

    // MARK: links

    /// A veth pair, created up; the peer is created directly inside the netns open at `peerNetnsFD`
    /// and starts down (the kernel cannot open it before the pair is linked): bring it up from its netns.
    public func createVeth(_ name: String, peer: String, peerNetnsFD: Int32, master: String? = nil) throws {
        let link = rtnl_link_veth_alloc()!
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        rtnl_link_set_flags(link, UInt32(IFF_UP.rawValue))
        if let master { rtnl_link_set_master(link, try index(of: master)) }
        let peerLink = rtnl_link_veth_get_peer(link)!
        defer { rtnl_link_put(peerLink) }
        rtnl_link_set_name(peerLink, peer)
        rtnl_link_set_ns_fd(peerLink, peerNetnsFD)
        try check("create veth \(name) ↔ \(peer)", rtnl_link_add(handle, link, NLM_F_CREATE | NLM_F_EXCL))
    }

    /// A Linux bridge, up.
    public func createBridge(_ name: String) throws {
        let link = rtnl_link_alloc()!
        defer { rtnl_link_put(link) }
        try check("set link type bridge", rtnl_link_set_type(link, "bridge"))
        rtnl_link_set_name(link, name)
        rtnl_link_set_flags(link, UInt32(IFF_UP.rawValue))
        try check("create bridge \(name)", rtnl_link_add(handle, link, NLM_F_CREATE | NLM_F_EXCL))
    }

    /// A kernel Geneve device (RFC 8926) to `remote` with `vni`. Fails where the kernel has no Geneve.
    public func createGeneve(_ name: String, vni: UInt32, remote: String, port: UInt16 = 6081) throws {
        let link = rtnl_link_geneve_alloc()!
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try check("set geneve VNI", rtnl_link_geneve_set_id(link, vni))
        let address = try NetlinkAddress(remote)
        try check("set geneve remote", rtnl_link_geneve_set_remote(link, address.handle))
        try check("set geneve port", rtnl_link_geneve_set_port(link, UInt32(port)))
        try check("create geneve \(name)", rtnl_link_add(handle, link, NLM_F_CREATE | NLM_F_EXCL))
    }

    /// Changes an existing link: up/down, MTU, alias (the ownership marker).
    public func setLink(_ name: String, up: Bool? = nil, mtu: UInt32? = nil, alias: String? = nil) throws {
        let original = rtnl_link_alloc()!
        let change = rtnl_link_alloc()!
        defer { rtnl_link_put(original); rtnl_link_put(change) }
        rtnl_link_set_ifindex(original, try index(of: name))
        if let up {
            up ? rtnl_link_set_flags(change, UInt32(IFF_UP.rawValue)) : rtnl_link_unset_flags(change, UInt32(IFF_UP.rawValue))
        }
        if let mtu { rtnl_link_set_mtu(change, mtu) }
        if let alias { rtnl_link_set_ifalias(change, alias) }
        try check("change link \(name)", rtnl_link_change(handle, original, change, 0))
    }

    public func deleteLink(_ name: String) throws {
        let link = rtnl_link_alloc()!
        defer { rtnl_link_put(link) }
        rtnl_link_set_name(link, name)
        try check("delete link \(name)", rtnl_link_delete(handle, link))
        linkIndexes[name] = nil
    }

    /// Every link in this netns with its alias (the marker MeshLab leaves on what it made).
    public func links() throws -> [LinkInfo] {
        var cache: OpaquePointer?
        try check("list links", rtnl_link_alloc_cache(handle, Int32(AF_UNSPEC), &cache))
        defer { nl_cache_free(cache) }
        var result: [LinkInfo] = []
        var object = nl_cache_get_first(cache)
        while let current = object {
            let link = current
            result.append(LinkInfo(
                index: rtnl_link_get_ifindex(link),
                name: String(cString: rtnl_link_get_name(link)),
                alias: rtnl_link_get_ifalias(link).map { String(cString: $0) }))
            object = nl_cache_get_next(current)
        }
        return result
    }

    /// The hardware (MAC) address of a link in this netns.
    public func macAddress(of name: String) throws -> [UInt8] {
        var link: OpaquePointer?
        try check("find link \(name)", rtnl_link_get_kernel(handle, 0, name, &link))
        defer { rtnl_link_put(link) }
        guard let address = rtnl_link_get_addr(link), nl_addr_get_len(address) == 6, let bytes = nl_addr_get_binary_addr(address) else {
            throw NetnsError("link \(name) has no Ethernet address")
        }
        return Array(UnsafeBufferPointer(start: bytes.assumingMemoryBound(to: UInt8.self), count: 6))
    }

    /// The ifindex of a link in this netns (cached: MeshLab never renames links).
    public func index(of name: String) throws -> Int32 {
        if let known = linkIndexes[name] { return known }
        var link: OpaquePointer?
        try check("find link \(name)", rtnl_link_get_kernel(handle, 0, name, &link))
        defer { rtnl_link_put(link) }
        let index = rtnl_link_get_ifindex(link)
        linkIndexes[name] = index
        return index
    }

    func check(_ what: String, _ rc: Int32) throws {
        if rc < 0 { throw NetlinkFailure.error(what, rc) }
    }
}

public struct LinkInfo: Sendable, Hashable {
    public var index: Int32
    public var name: String
    public var alias: String?
}

enum NetlinkFailure {
    static func error(_ what: String, _ code: Int32) -> NetnsError {
        NetnsError("netlink: \(what): \(String(cString: nl_geterror(code)))")
    }
}

/// An `nl_addr` parsed from text such as `10.0.0.1/32` or `default`.
final class NetlinkAddress {
    let handle: OpaquePointer

    init(_ text: String) throws {
        var address: OpaquePointer?
        let rc = nl_addr_parse(text, Int32(AF_INET), &address)
        guard rc == 0, let address else { throw NetlinkFailure.error("parse address '\(text)'", rc) }
        handle = address
    }

    deinit { nl_addr_put(handle) }
}
