"""An independent HBONE client (python-h2 over Python's ssl) used to check MeshLab's ztunnel.

usage: hbone_connect.py HOST:PORT METHOD AUTHORITY CERT KEY ROOT
Prints the response :status, or `tls-error: …` when the handshake or connection is refused.
"""
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events

import mesh_tls

address, method, authority, cert, key, root = sys.argv[1:7]
host, port = address.rsplit(":", 1)
context = mesh_tls.client_context(root, *((cert, key) if cert != "-" else ()))
try:
    tls = context.wrap_socket(socket.create_connection((host, int(port)), timeout=5))
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, validate_outbound_headers=False))
    connection.initiate_connection()
    headers = [(":method", method), (":authority", authority)]
    if method != "CONNECT":
        headers += [(":scheme", "https"), (":path", "/")]
    connection.send_headers(1, headers)
    tls.sendall(connection.data_to_send())
    while True:
        data = tls.recv(65536)
        if not data:
            print("tls-error: connection closed")
            break
        for event in connection.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived):
                print(dict(event.headers)[b":status"].decode())
                sys.exit(0)
            if isinstance(event, h2.events.StreamReset):
                print("reset")
                sys.exit(0)
        tls.sendall(connection.data_to_send())
except (ssl.SSLError, ConnectionError, OSError) as error:
    print(f"tls-error: {error}")
