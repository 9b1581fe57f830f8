import NIOCore
import NIOPosix

extension ProxyInputs {
    /// A listener on a socket made in some netns (PodSockets.listen): its accepted connections start
    /// paused (Holdback) and go to `accept`, unless this process opened them itself (SelfCall).
    func listen(_ fd: CInt, accept: @escaping @Sendable (Channel) -> Void) -> EventLoopFuture<Channel> {
        ServerBootstrap(group: eventLoop)
            .serverChannelOption(.maxMessagesPerRead, value: 64)  // accept bursts in batches
            .childChannelOption(.autoRead, value: false)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.submit {
                    try channel.pipeline.syncOperations.addHandler(Holdback())
                    self.isOwn(channel).whenSuccess { own in own ? self.refuseOwn(channel) : accept(channel) }
                }
            }
            .withBoundSocket(fd)
            .always { _ in PodSockets.restoreBacklog(fd) }
    }
}
