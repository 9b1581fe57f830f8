import CNetlink
import Glibc

extension RouteSocket {
    /// Adds `cidr` (e.g. `10.244.0.1/32`) to a link.
    public func addAddress(_ cidr: String, device: String) throws {
        let address = rtnl_addr_alloc()!
        defer { rtnl_addr_put(address) }
        rtnl_addr_set_ifindex(address, try index(of: device))
        let local = try NetlinkAddress(cidr)
        try check("set address \(cidr)", rtnl_addr_set_local(address, local.handle))
        try check("add address \(cidr) to \(device)", rtnl_addr_add(handle, address, 0))
    }

    /// Adds a route. `destination` nil is the default route; `gateway` nil makes it on-link
    /// (scope link) through `device`. `local` adds a local-type route (`local 0.0.0.0/0 dev lo`).
    public func addRoute(
        _ destination: String?, gateway: String? = nil, device: String,
        table: UInt32 = UInt32(RT_TABLE_MAIN.rawValue), local: Bool = false
    ) throws {
        let route = try self.route(destination, gateway: gateway, device: device, table: table, local: local)
        defer { rtnl_route_put(route) }
        let what = "add route \(destination ?? "default")\(gateway.map { " via \($0)" } ?? "") dev \(device)"
        try check(what, rtnl_route_add(handle, route, NLM_F_CREATE | NLM_F_EXCL))
    }

    /// Deletes a route added with the same arguments.
    public func deleteRoute(_ destination: String?, gateway: String? = nil, device: String, table: UInt32 = UInt32(RT_TABLE_MAIN.rawValue)) throws {
        let route = try self.route(destination, gateway: gateway, device: device, table: table, local: false)
        defer { rtnl_route_put(route) }
        try check("delete route \(destination ?? "default") from table \(table)", rtnl_route_delete(handle, route, 0))
    }

    private func route(_ destination: String?, gateway: String?, device: String, table: UInt32, local: Bool) throws -> OpaquePointer {
        let route = rtnl_route_alloc()!
        rtnl_route_set_family(route, UInt8(AF_INET))
        let target = try NetlinkAddress(destination ?? "0.0.0.0/0")
        try check("set route destination", rtnl_route_set_dst(route, target.handle))
        rtnl_route_set_table(route, table)
        rtnl_route_set_protocol(route, UInt8(RTPROT_STATIC))
        let scope = local ? RT_SCOPE_HOST : gateway == nil ? RT_SCOPE_LINK : RT_SCOPE_UNIVERSE
        rtnl_route_set_scope(route, UInt8(scope.rawValue))
        if local { try check("set route type", rtnl_route_set_type(route, UInt8(RTN_LOCAL))) }
        let hop = rtnl_route_nh_alloc()!
        rtnl_route_nh_set_ifindex(hop, try index(of: device))
        if let gateway {
            let via = try NetlinkAddress(gateway)
            rtnl_route_nh_set_gateway(hop, via.handle)
        }
        rtnl_route_add_nexthop(route, hop)  // the route owns the hop from here on
        return route
    }

    /// `ip rule add prio <priority> [fwmark <mark>/<mask>] lookup <table>`.
    public func addRule(priority: UInt32, fwmark: UInt32? = nil, mask: UInt32? = nil, table: UInt32) throws {
        let rule = rtnl_rule_alloc()!
        defer { rtnl_rule_put(rule) }
        rtnl_rule_set_family(rule, Int32(AF_INET))
        rtnl_rule_set_prio(rule, priority)
        if let fwmark {
            rtnl_rule_set_mark(rule, fwmark)
            rtnl_rule_set_mask(rule, mask ?? fwmark)
        }
        rtnl_rule_set_table(rule, table)
        rtnl_rule_set_action(rule, UInt8(FR_ACT_TO_TBL))
        let what = "add rule prio \(priority)\(fwmark.map { " fwmark 0x\(String($0, radix: 16))" } ?? "") lookup \(table)"
        try check(what, rtnl_rule_add(handle, rule, NLM_F_CREATE | NLM_F_EXCL))
    }
}
