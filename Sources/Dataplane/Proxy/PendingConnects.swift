import Foundation
import Glibc
import NIOConcurrencyHelpers
import NIOCore

/// Waits for non-blocking connects to finish, all on one thread with poll(2). A connect to an
/// address that never answers then costs a descriptor until its timeout, not a thread: with
/// blocking connects, eight calls from one pod to a silent address held every thread a ztunnel
/// connects with, and stalled every other pod's traffic for ten seconds.
final class PendingConnects: @unchecked Sendable {
    static let shared = PendingConnects()

    private struct Pending {
        var fd: CInt
        var deadline: NIODeadline
        var what: String
        var promise: EventLoopPromise<CInt>
    }

    private let lock = NIOLock()
    private var pending: [Pending] = []
    /// Written to when a connect is added, so poll wakes up and watches it too.
    private let wakeRead: CInt, wakeWrite: CInt

    private init() {
        var ends: [CInt] = [-1, -1]
        precondition(pipe(&ends) == 0, "pipe failed: \(errno)")
        for end in ends {
            _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
            _ = fcntl(end, F_SETFD, FD_CLOEXEC)
        }
        (wakeRead, wakeWrite) = (ends[0], ends[1])
        let thread = Thread { [unowned self] in self.run() }
        thread.name = "pending-connects"
        thread.start()
    }

    /// Succeeds with `fd` once its connect (already started) completes; fails, closing it, when the
    /// connect fails or `deadline` passes.
    func wait(for fd: CInt, until deadline: NIODeadline, what: String, promise: EventLoopPromise<CInt>) {
        lock.withLock { pending.append(Pending(fd: fd, deadline: deadline, what: what, promise: promise)) }
        var byte: UInt8 = 1
        _ = Glibc.write(wakeWrite, &byte, 1)
    }

    private func run() {
        while true {
            let watched = lock.withLock { pending }
            var polls = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
                + watched.map { pollfd(fd: $0.fd, events: Int16(POLLOUT), revents: 0) }
            let nearest = watched.map(\.deadline).min()
            let timeout = nearest.map { Int32(clamping: max(0, ($0 - .now()).nanoseconds / 1_000_000 + 1)) } ?? -1
            _ = poll(&polls, nfds_t(polls.count), timeout)
            if polls[0].revents != 0 {
                var sink = [UInt8](repeating: 0, count: 256)
                while Glibc.read(wakeRead, &sink, sink.count) > 0 {}
            }
            let now = NIODeadline.now()
            var finished: [(Pending, CInt)] = []
            for (index, entry) in watched.enumerated() {
                if polls[index + 1].revents != 0 {
                    var error: CInt = 0
                    var length = socklen_t(MemoryLayout<CInt>.size)
                    if getsockopt(entry.fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 { error = errno }
                    finished.append((entry, error))
                } else if now >= entry.deadline {
                    finished.append((entry, ETIMEDOUT))
                }
            }
            guard !finished.isEmpty else { continue }
            // Out of the list before a descriptor is closed: a new connect may get its number.
            let done = Set(finished.map(\.0.fd))
            lock.withLock { pending.removeAll { done.contains($0.fd) } }
            for (entry, error) in finished {
                if error == 0 {
                    entry.promise.succeed(entry.fd)
                } else {
                    close(entry.fd)
                    entry.promise.fail(IOError(errnoCode: error, reason: entry.what))
                }
            }
        }
    }
}
