/// Waypoints and HTTPRoutes: what they name must exist, and every number must make sense.
extension Validator {
    mutating func checkWaypoints(in namespace: Namespace) {
        var served: [String: String] = [:]
        for waypoint in namespace.pods where waypoint.app == .waypoint {
            if let port = waypoint.waypointProxyPort {
                // Node-level capture would send the waypoint's own HBONE back to ztunnel.
                if !lab.settings.redirect.isInPod {
                    fail(waypoint.at, "waypoint '\(namespace.name)/\(waypoint.name)' sits behind ztunnel (PROXY protocol), which needs in-pod redirection, not '\(lab.settings.redirect.rawValue)'",
                         hint: "use LabSettings(redirect: .inpod), or drop inbound: .proxy()")
                }
                if !(1...65535).contains(port) || [15001, 15006, 15008].contains(port) {
                    fail(waypoint.at, "waypoint '\(namespace.name)/\(waypoint.name)' takes PROXY protocol on port \(port)",
                         hint: "use a free port that is not ztunnel's 15001/15006/15008, e.g. 15088")
                }
            }
            guard let account = waypoint.waypointServiceAccount else { continue }
            if let other = served[account] {
                fail(waypoint.at, "waypoints '\(other)' and '\(waypoint.name)' both serve service account '\(namespace.name)/\(account)'",
                     hint: "keep one waypoint per service account")
            }
            served[account] = waypoint.name
            if !namespace.pods.contains(where: { $0.app != .waypoint && $0.serviceAccount == account }) {
                fail(waypoint.at, "waypoint '\(namespace.name)/\(waypoint.name)' serves service account '\(account)', which no pod in '\(namespace.name)' runs as",
                     hint: "give a pod serviceAccount: \"\(account)\", or fix the name")
            }
        }
    }

    mutating func checkRoutes(in namespace: Namespace) {
        checkDeclaredOnce(namespace.routes.map { ("\(namespace.name)/\($0.name)", $0.at) }, "HTTPRoute")
        for route in namespace.routes {
            let name = "\(namespace.name)/\(route.name)"
            checkName(route.name, "HTTPRoute", at: route.at)
            if !namespace.services.contains(where: { $0.name == route.service }) {
                fail(route.at, "HTTPRoute '\(name)' is for service '\(route.service)', which namespace '\(namespace.name)' does not declare",
                     hint: "declare Service(\"\(route.service)\", …) in '\(namespace.name)'")
            } else if namespace.waypoint == nil && namespace.mode != .sidecar {
                // Calling sidecars apply routes of sidecar namespaces' services themselves.
                fail(route.at, "HTTPRoute '\(name)' needs a waypoint to apply it, and namespace '\(namespace.name)' has none",
                     hint: "add waypoint: \"waypoint\" to the Namespace and Waypoint(\"waypoint\") inside it, or make it a .sidecar namespace")
            }
            if route.rules.isEmpty { fail(route.at, "HTTPRoute '\(name)' has no rules", hint: "add a RouteRule(…)") }
            for rule in route.rules { check(rule, of: name, in: namespace) }
        }
    }

    private mutating func check(_ rule: RouteRule, of route: String, in namespace: Namespace) {
        for backend in rule.backends {
            guard let service = namespace.services.first(where: { $0.name == backend.service }) else {
                fail(rule.at, "HTTPRoute '\(route)' sends to service '\(backend.service)', which namespace '\(namespace.name)' does not declare",
                     hint: "backends are services in the route's namespace")
                continue
            }
            if let port = backend.port, !service.ports.contains(where: { $0.port == port }) {
                fail(rule.at, "HTTPRoute '\(route)' sends to port \(port) of '\(backend.service)', which it does not expose",
                     hint: "ports: \(service.ports.map { String($0.port) }.joined(separator: ", "))")
            }
            if backend.weight < 0 { fail(rule.at, "HTTPRoute '\(route)' gives '\(backend.service)' a negative weight", hint: "use 0 or more") }
        }
        if !rule.backends.isEmpty && rule.backends.allSatisfy({ $0.weight == 0 }) {
            fail(rule.at, "HTTPRoute '\(route)' has backends but every weight is 0", hint: "give at least one backend a weight")
        }
        if let fault = rule.fault {
            for percent in [fault.delayPercent, fault.abortPercent] where !(0...100).contains(percent) {
                fail(rule.at, "HTTPRoute '\(route)' injects a fault into \(percent)% of requests", hint: "use 0–100")
            }
            if let status = fault.abortStatus, !(200...599).contains(status) {
                fail(rule.at, "HTTPRoute '\(route)' aborts with status \(status)", hint: "use an HTTP status 200–599, e.g. 503")
            }
            if let delay = fault.delayMilliseconds, delay <= 0 {
                fail(rule.at, "HTTPRoute '\(route)' delays by \(delay) ms", hint: "use a positive delay, e.g. .milliseconds(100)")
            }
        }
        if let timeout = rule.timeoutMilliseconds, timeout <= 0 {
            fail(rule.at, "HTTPRoute '\(route)' has a timeout of \(timeout) ms", hint: "use a positive timeout, e.g. .milliseconds(500)")
        }
        if !(0...10).contains(rule.retries) { fail(rule.at, "HTTPRoute '\(route)' retries \(rule.retries) times", hint: "use 0–10") }
        for match in rule.matches {
            var patterns = match.headers.compactMap { header -> String? in
                if case .regex(_, let pattern) = header { return pattern }
                return nil
            }
            if case .regex(let pattern) = match.path { patterns.append(pattern) }
            for pattern in patterns where (try? Regex(pattern)) == nil {
                fail(rule.at, "HTTPRoute '\(route)' has an invalid regular expression '\(pattern)'", hint: "write it in Swift Regex syntax")
            }
            switch match.path {
            case .exact(let path), .prefix(let path):
                if !path.hasPrefix("/") { fail(rule.at, "HTTPRoute '\(route)' matches path '\(path)'", hint: "paths start with /") }
            default: break
            }
            for header in match.headers where header.name.isEmpty {
                fail(rule.at, "HTTPRoute '\(route)' matches a header with no name", hint: "name the header, e.g. .header(\"x-version\", \"v2\")")
            }
        }
    }
}
