// eBPF redirection for MeshLab's ambient labs, in the shape of Istio 1.20: tc clsact
// direct-action programs on the node's pod veths and ztunnel's veth, and on ztunnel's own eth0.
// Compiled by MeshLab on first use (clang -target bpf), loaded and attached with libbpf.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define TPROXY_MARK 0x400
#define OUTBOUND_PORT 15001
#define INBOUND_PORT 15006
#define HBONE_PORT 15008

// An enrolled pod: its host-side veth on the node and its own MAC (inside the pod).
struct app_info {
    __u32 ifindex;
    __u8 mac[ETH_ALEN];
    __u8 pad[2];
};

// ztunnel: its host-side veth on the node and the MAC of its eth0.
struct ztunnel_info {
    __u32 ifindex;
    __u8 mac[ETH_ALEN];
    __u8 pad[2];
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 65536);
    __type(key, __u32);  // pod IPv4, network order
    __type(value, struct app_info);
} app_info SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct ztunnel_info);
} ztunnel_info SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);  // the node's address toward its pods, network order
} host_ip_info SEC(".maps");

// What the programs did, for path and fast-path evidence.
enum counter {
    OUTBOUND_REDIRECTED,   // app_outbound: a pod's packet sent to ztunnel
    OUTBOUND_DROPPED,      // app_outbound: no ztunnel registered, dropped (fail closed)
    INBOUND_REDIRECTED,    // app_inbound: a packet for a pod sent to ztunnel
    INBOUND_BYPASSED,      // app_inbound: from ztunnel (or the node), delivered to the pod
    HOST_REDIRECTED,       // ztunnel_host_ingress: ztunnel's packet sent straight to a pod's veth
    ESTABLISHED_ASSIGNED,  // ztunnel_tproxy: an established socket took the packet (the fast path)
    LISTENER_ASSIGNED,     // ztunnel_tproxy: a listener took the first packet (15001/15006/15008)
    NO_SOCKET,             // ztunnel_tproxy: no socket for a captured packet
    COUNTERS,
};

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, COUNTERS);
    __type(key, __u32);
    __type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 which) {
    __u64 *value = bpf_map_lookup_elem(&counters, &which);
    if (value) __sync_fetch_and_add(value, 1);
}

// The IPv4 header of a TCP packet, or NULL for anything else (ARP, UDP, ICMP pass untouched).
static __always_inline struct iphdr *tcp_ipv4(struct __sk_buff *skb) {
    void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
    struct ethhdr *eth = data;
    if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP)) return NULL;
    struct iphdr *ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP) return NULL;
    return ip;
}

static __always_inline int to_ztunnel(struct __sk_buff *skb, __u32 counted) {
    __u32 zero = 0;
    struct ztunnel_info *zi = bpf_map_lookup_elem(&ztunnel_info, &zero);
    if (!zi || zi->ifindex == 0) {
        count(OUTBOUND_DROPPED);
        return TC_ACT_SHOT;
    }
    bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), zi->mac, ETH_ALEN, 0);
    count(counted);
    return bpf_redirect(zi->ifindex, 0);
}

// On a pod's host-side veth, ingress: everything the pod sends. Its TCP goes to ztunnel.
SEC("tc")
int app_outbound(struct __sk_buff *skb) {
    if (!tcp_ipv4(skb)) return TC_ACT_OK;
    return to_ztunnel(skb, OUTBOUND_REDIRECTED);
}

// On a pod's host-side veth, egress: everything headed into the pod. TCP that did not come from
// ztunnel (or from the node itself) goes to ztunnel first.
SEC("tc")
int app_inbound(struct __sk_buff *skb) {
    struct iphdr *ip = tcp_ipv4(skb);
    if (!ip) return TC_ACT_OK;
    __u32 zero = 0;
    struct ztunnel_info *zi = bpf_map_lookup_elem(&ztunnel_info, &zero);
    __u32 *host = bpf_map_lookup_elem(&host_ip_info, &zero);
    if ((zi && skb->ingress_ifindex == zi->ifindex) || (host && ip->saddr == *host)) {
        count(INBOUND_BYPASSED);
        return TC_ACT_OK;
    }
    return to_ztunnel(skb, INBOUND_REDIRECTED);
}

// On ztunnel's host-side veth, ingress: what ztunnel sends. Packets for an enrolled pod go
// straight to that pod's veth.
SEC("tc")
int ztunnel_host_ingress(struct __sk_buff *skb) {
    struct iphdr *ip = tcp_ipv4(skb);
    if (!ip) return TC_ACT_OK;
    __u32 daddr = ip->daddr;
    struct app_info *pod = bpf_map_lookup_elem(&app_info, &daddr);
    if (!pod) return TC_ACT_OK;
    bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_dest), pod->mac, ETH_ALEN, 0);
    count(HOST_REDIRECTED);
    return bpf_redirect(pod->ifindex, 0);
}

// On ztunnel's own eth0, ingress (inside ztunnel's netns): hand captured packets to ztunnel's
// sockets. An established socket first (every packet after the first), else the listener the
// packet's direction calls for: 15001 for a local pod's outbound, 15008 for HBONE, 15006 otherwise.
SEC("tc")
int ztunnel_tproxy(struct __sk_buff *skb) {
    struct iphdr *ip = tcp_ipv4(skb);
    if (!ip) return TC_ACT_OK;
    void *end = (void *)(long)skb->data_end;
    struct tcphdr *tcp = (void *)ip + ip->ihl * 4;
    if ((void *)(tcp + 1) > end) return TC_ACT_OK;
    __u32 zero = 0;
    struct ztunnel_info *zi = bpf_map_lookup_elem(&ztunnel_info, &zero);
    (void)zi;

    struct bpf_sock_tuple tuple = {};
    tuple.ipv4.saddr = ip->saddr;
    tuple.ipv4.daddr = ip->daddr;
    tuple.ipv4.sport = tcp->source;
    tuple.ipv4.dport = tcp->dest;
    struct bpf_sock *sk = bpf_skc_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
    if (sk) {
        if (sk->state != BPF_TCP_LISTEN) {
            long rc = bpf_sk_assign(skb, sk, 0);
            bpf_sk_release(sk);
            if (rc == 0) {
                skb->mark = TPROXY_MARK;
                count(ESTABLISHED_ASSIGNED);
            }
            return TC_ACT_OK;
        }
        bpf_sk_release(sk);
    }
    if (!tcp->syn || tcp->ack) return TC_ACT_OK;  // only a SYN may start a connection on a listener

    __u32 saddr = ip->saddr;
    __u16 port = bpf_map_lookup_elem(&app_info, &saddr) ? OUTBOUND_PORT
               : tcp->dest == bpf_htons(HBONE_PORT) ? HBONE_PORT : INBOUND_PORT;
    tuple.ipv4.dport = bpf_htons(port);
    sk = bpf_skc_lookup_tcp(skb, &tuple, sizeof(tuple.ipv4), BPF_F_CURRENT_NETNS, 0);
    if (!sk) {
        count(NO_SOCKET);
        return TC_ACT_SHOT;
    }
    long rc = bpf_sk_assign(skb, sk, 0);
    bpf_sk_release(sk);
    if (rc != 0) {
        count(NO_SOCKET);
        return TC_ACT_SHOT;
    }
    skb->mark = TPROXY_MARK;
    count(LISTENER_ASSIGNED);
    return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
