"""The TLS side of an independent HBONE client: TLS 1.3, ALPN h2, the lab's root, and a workload
certificate when one is given. SPIFFE identities are URI SANs, not host names, so host names are
not checked."""
import ssl


def client_context(root, cert=None, key=None):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.check_hostname = False
    context.load_verify_locations(root)
    if cert:
        context.load_cert_chain(cert, key)
    context.set_alpn_protocols(["h2"])
    return context
