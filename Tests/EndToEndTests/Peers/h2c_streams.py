"""An independent h2c client (python-h2): several streams on one HTTP/2 connection, all of them
sent in the client's first write together with the preface (as python-h2 and browsers do).

usage: h2c_streams.py HOST:PORT STREAMS
Prints one JSON line per stream: its id, :status, and the body (MeshLab's echo answers JSON naming who called).
"""
import json
import socket
import sys

import h2.config
import h2.connection
import h2.events

address, count = sys.argv[1], int(sys.argv[2])
host, port = address.rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=5)
connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
connection.initiate_connection()
streams = [connection.get_next_available_stream_id() + 2 * n for n in range(count)]
for stream in streams:
    connection.send_headers(stream, [(":method", "GET"), (":authority", address), (":scheme", "http"), (":path", "/")], end_stream=True)
sock.sendall(connection.data_to_send())  # preface, SETTINGS and every stream's HEADERS in one write
status, body, done = {}, {s: b"" for s in streams}, set()
while len(done) < count:
    data = sock.recv(65536)
    if not data:
        break
    for event in connection.receive_data(data):
        if isinstance(event, h2.events.ResponseReceived):
            status[event.stream_id] = dict(event.headers).get(b":status", b"?").decode()
        elif isinstance(event, h2.events.DataReceived):
            body[event.stream_id] += event.data
            connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.StreamEnded):
            done.add(event.stream_id)
    sock.sendall(connection.data_to_send())
for stream in streams:
    print(json.dumps({"stream": stream, "status": status.get(stream), "reply": json.loads(body[stream] or b"null")}))
