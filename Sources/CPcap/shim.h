// libpcap's classic-BPF `struct bpf_insn` and linux/bpf.h's eBPF one (libbpf, in CBPF) would meet in
// one Swift module and clash; MeshLab uses neither directly, so libpcap's gets another name here.
#define bpf_insn pcap_bpf_insn
#include <pcap/pcap.h>
#undef bpf_insn
