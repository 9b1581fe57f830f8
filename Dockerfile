# MeshLab in a container. Labs need the host kernel's network namespaces:
#   docker build -t meshlab .
#   docker run --rm -it --privileged meshlab up
FROM swift:6.3-bookworm
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libnl-3-dev libnl-route-3-dev libnl-nf-3-dev libpcap-dev libbpf-dev iproute2 iptables ipset conntrack procps \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /meshlab
COPY . .
RUN swift build -c release \
 && ln -s /meshlab/.build/release/meshlab /usr/local/bin/meshlab
# /run/netns must be shared with the host's view for `ip netns` inside the container.
VOLUME ["/run/netns"]
ENTRYPOINT ["meshlab"]
CMD ["up"]
