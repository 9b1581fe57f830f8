/// What a `Lab { … }` body may contain.
public enum LabItem: Sendable {
    case node(Node)
    case namespace(Namespace)
    case check(Check)
}

/// What a `Namespace { … }` body may contain.
public enum NamespaceItem: Sendable {
    case pod(Pod)
    case service(Service)
    case policy(AuthorizationPolicy)
    case route(HTTPRoute)
}

/// Lab bodies are ordinary Swift: `for`, `if`, `switch` and helper functions all work.
@resultBuilder
public enum LabBuilder {
    public static func buildExpression(_ node: Node) -> [LabItem] { [.node(node)] }
    public static func buildExpression(_ namespace: Namespace) -> [LabItem] { [.namespace(namespace)] }
    public static func buildExpression(_ check: Check) -> [LabItem] { [.check(check)] }
    public static func buildExpression(_ items: [LabItem]) -> [LabItem] { items }
    @available(*, unavailable, message: "a Pod belongs inside a Namespace(\"name\") { … } block")
    public static func buildExpression(_ pod: Pod) -> [LabItem] { [] }
    @available(*, unavailable, message: "a Service belongs inside a Namespace(\"name\") { … } block")
    public static func buildExpression(_ service: Service) -> [LabItem] { [] }
    public static func buildBlock(_ parts: [LabItem]...) -> [LabItem] { parts.flatMap { $0 } }
    public static func buildArray(_ parts: [[LabItem]]) -> [LabItem] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [LabItem]?) -> [LabItem] { part ?? [] }
    public static func buildEither(first part: [LabItem]) -> [LabItem] { part }
    public static func buildEither(second part: [LabItem]) -> [LabItem] { part }
}

@resultBuilder
public enum NamespaceBuilder {
    public static func buildExpression(_ pod: Pod) -> [NamespaceItem] { [.pod(pod)] }
    public static func buildExpression(_ service: Service) -> [NamespaceItem] { [.service(service)] }
    public static func buildExpression(_ policy: AuthorizationPolicy) -> [NamespaceItem] { [.policy(policy)] }
    public static func buildExpression(_ route: HTTPRoute) -> [NamespaceItem] { [.route(route)] }
    public static func buildExpression(_ items: [NamespaceItem]) -> [NamespaceItem] { items }
    @available(*, unavailable, message: "a Node belongs in the Lab { … } body, not inside a Namespace")
    public static func buildExpression(_ node: Node) -> [NamespaceItem] { [] }
    @available(*, unavailable, message: "namespaces do not nest: declare it in the Lab { … } body")
    public static func buildExpression(_ namespace: Namespace) -> [NamespaceItem] { [] }
    public static func buildBlock(_ parts: [NamespaceItem]...) -> [NamespaceItem] { parts.flatMap { $0 } }
    public static func buildArray(_ parts: [[NamespaceItem]]) -> [NamespaceItem] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [NamespaceItem]?) -> [NamespaceItem] { part ?? [] }
    public static func buildEither(first part: [NamespaceItem]) -> [NamespaceItem] { part }
    public static func buildEither(second part: [NamespaceItem]) -> [NamespaceItem] { part }
}
