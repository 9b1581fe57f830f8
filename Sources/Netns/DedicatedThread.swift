import Foundation

/// Kernel plumbing runs on threads MeshLab owns, never on Swift concurrency's pool: `setns`
/// changes only the calling thread, and the pool would carry that netns into unrelated work.
public enum DedicatedThread {
    /// Runs `body` on a new thread and waits for its result.
    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        try parallel([()], threads: 1) { _ in try body() }[0]
    }

    /// Runs `body` for every item on up to `threads` new threads; results keep the items' order.
    /// Every item runs even if one fails; the first error (in item order) is thrown.
    public static func parallel<Item: Sendable, T: Sendable>(
        _ items: [Item], threads: Int = ProcessInfo.processInfo.activeProcessorCount,
        _ body: @escaping @Sendable (Item) throws -> T
    ) throws -> [T] {
        let results = ResultSlots<T>(count: items.count)
        let workers = max(1, min(threads, items.count))
        let group = DispatchGroup()
        for _ in 0..<workers {
            group.enter()
            let thread = Thread {
                while let index = results.claimNext() {
                    results.store(index, Result { try body(items[index]) })
                }
                group.leave()
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
        group.wait()
        return try results.values()
    }
}

/// Shared between worker threads: the next item to claim and each item's result.
private final class ResultSlots<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var slots: [Result<T, Error>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func claimNext() -> Int? {
        lock.withLock {
            guard next < slots.count else { return nil }
            defer { next += 1 }
            return next
        }
    }

    func store(_ index: Int, _ result: Result<T, Error>) { lock.withLock { slots[index] = result } }

    func values() throws -> [T] { try lock.withLock { try slots.map { try $0!.get() } } }
}
