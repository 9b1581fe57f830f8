"""A slow HTTP/1.1 client: asks for /bytes/SIZE, reads the first MiB, stops reading for PAUSE
seconds, then reads the rest.

usage: slow_reader.py HOST:PORT SIZE PAUSE
Prints one JSON line: the status and how many body bytes arrived. A proxy without flow control
holds what the client does not read in its own memory meanwhile.
"""
import json
import socket
import sys
import time

address, size, pause = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
host, port = address.rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=30)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
sock.sendall(f"GET /bytes/{size} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode())
data = b""
while b"\r\n\r\n" not in data or len(data) < 1 << 20:
    data += sock.recv(65536)
head, body = data.split(b"\r\n\r\n", 1)
received = len(body)
time.sleep(pause)
while chunk := sock.recv(1 << 20):
    received += len(chunk)
print(json.dumps({"status": int(head.split()[1]), "received": received}))
