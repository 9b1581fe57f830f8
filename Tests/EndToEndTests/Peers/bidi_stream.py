"""An independent streaming client: a request whose body goes out in parts, each sent only after the
previous part has come back (gRPC's bidirectional streaming, against MeshLab echo's /stream).

usage: bidi_stream.py HOST:PORT h2|http1 PARTS [abandon]
Prints one JSON line: the status and the parts received back in order. A proxy that holds the
request until its end never echoes the first part: the client then times out (exit status 1).
With `abandon` the client gives up after the last echo instead of ending its request: h2 resets
the stream (RST_STREAM CANCEL), http1 closes the connection.
"""
import json
import socket
import sys

import h2.config
import h2.connection
import h2.events

address, protocol, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
abandon = sys.argv[4:] == ["abandon"]
host, port = address.rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=5)
parts = [f"part-{n}".encode() for n in range(1, count + 1)]
received, status = [], None

if protocol == "h2":
    connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    connection.initiate_connection()
    connection.send_headers(1, [(":method", "PUT"), (":authority", address), (":scheme", "http"), (":path", "/stream")])
    pending = b""

    def await_bytes(wanted):
        global pending, status
        while len(pending) < wanted:
            data = sock.recv(65536)
            if not data:
                raise SystemExit("connection closed")
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[b":status"].decode()
                elif isinstance(event, h2.events.DataReceived):
                    pending += event.data
                    connection.acknowledge_received_data(event.flow_controlled_length, 1)
            sock.sendall(connection.data_to_send())
        chunk, pending = pending[:wanted], pending[wanted:]
        return chunk

    for index, part in enumerate(parts):
        connection.send_data(1, part, end_stream=index == len(parts) - 1 and not abandon)
        sock.sendall(connection.data_to_send())
        received.append(await_bytes(len(part)).decode())
    if abandon:
        connection.reset_stream(1, error_code=8)
        sock.sendall(connection.data_to_send())
else:
    sock.sendall(f"PUT /stream HTTP/1.1\r\nHost: {address}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
    stream = sock.makefile("rb")
    for index, part in enumerate(parts):
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part) + (b"0\r\n\r\n" if index == len(parts) - 1 and not abandon else b""))
        if status is None:
            status = stream.readline().split()[1].decode()
            while stream.readline() not in (b"\r\n", b""):
                pass
        size = int(stream.readline().strip(), 16)
        received.append(stream.read(size).decode())
        stream.readline()
sock.close()
print(json.dumps({"status": status, "received": received}))
