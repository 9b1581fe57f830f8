"""HBONE CONNECTs for many ports of one address, from an independent client (python-h2 over
Python's ssl): one mutual-TLS connection to ADDRESS:15008, one CONNECT stream per port, asking for
ADDRESS:PORT, one after another.

usage: hbone_ports.py ADDRESS CERT KEY ROOT PORT...
Prints one JSON line per port: {"port": P, "status": "200"|"503"|…|"reset"|"closed"}; a refused
TLS handshake prints {"error": …} once.
"""
import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events

import mesh_tls

address, cert, key, root = sys.argv[1:5]
ports = [int(port) for port in sys.argv[5:]]
context = mesh_tls.client_context(root, cert, key)


def answer(tls, connection, stream):
    """The stream's :status, or how it ended without one."""
    while True:
        data = tls.recv(65536)
        if not data:
            return "closed"
        for event in connection.receive_data(data):
            if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                return dict(event.headers)[b":status"].decode()
            if isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                return "reset"
            if isinstance(event, h2.events.ConnectionTerminated):
                return "closed"
        tls.sendall(connection.data_to_send())


try:
    tls = context.wrap_socket(socket.create_connection((address, 15008), timeout=15))
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True, validate_outbound_headers=False))
    connection.initiate_connection()
    tls.sendall(connection.data_to_send())
    for port in ports:
        stream = connection.get_next_available_stream_id()
        connection.send_headers(stream, [(":method", "CONNECT"), (":authority", f"{address}:{port}")])
        tls.sendall(connection.data_to_send())
        status = answer(tls, connection, stream)
        print(json.dumps({"port": port, "status": status}), flush=True)
        if status == "closed":
            break
        if status == "200":
            # A tunnel that opened: end it, so the next stream is not held behind it.
            connection.reset_stream(stream)
            tls.sendall(connection.data_to_send())
except (ssl.SSLError, ConnectionError, OSError) as error:
    print(json.dumps({"error": str(error)}))
