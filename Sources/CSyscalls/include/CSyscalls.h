#ifndef MESHLAB_CSYSCALLS_H
#define MESHLAB_CSYSCALLS_H
// Thin wrappers for syscalls Swift's Glibc module does not expose. No logic lives here.
#include <sys/types.h>

/// setns(2) for a network namespace fd. Affects only the calling thread.
int meshlab_setns_net(int fd);
/// unshare(CLONE_NEWNET): the calling thread moves into a fresh network namespace.
int meshlab_unshare_net(void);
/// The kernel thread id of the caller (for /proc/self/task/<tid>/ns/net).
pid_t meshlab_gettid(void);
/// Create or attach a persistent TAP device named `name` in the caller's netns. Returns an fd or -errno.
int meshlab_tap_open(const char *name, int persist);
/// Close every fd >= `lowest` in the spawned child, so lab processes inherit nothing by accident.
int meshlab_spawn_closefrom(void *file_actions, int lowest);
/// posix_spawn flag that makes the child a session leader (glibc extension).
int meshlab_spawn_setsid_flag(void);
/// glibc malloc: at most `arenas` arenas (mallopt M_ARENA_MAX).
int meshlab_malloc_limit_arenas(int arenas);
/// glibc malloc: give freed memory back to the kernel (malloc_trim).
int meshlab_malloc_release_free(void);

#endif
