#define _GNU_SOURCE
#include "CSyscalls.h"
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <malloc.h>

int meshlab_setns_net(int fd) { return setns(fd, CLONE_NEWNET); }

int meshlab_unshare_net(void) { return unshare(CLONE_NEWNET); }

pid_t meshlab_gettid(void) { return (pid_t)syscall(SYS_gettid); }

int meshlab_tap_open(const char *name, int persist) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETPERSIST, persist) < 0) {
        int err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

int meshlab_spawn_closefrom(void *file_actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)file_actions, lowest);
}

int meshlab_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }

int meshlab_malloc_limit_arenas(int arenas) { return mallopt(M_ARENA_MAX, arenas); }

int meshlab_malloc_release_free(void) { return malloc_trim(0); }
