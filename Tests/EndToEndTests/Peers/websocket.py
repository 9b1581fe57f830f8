"""An independent WebSocket client (RFC 6455, by hand on a socket): the upgrade handshake with its
Sec-WebSocket-Accept checked, then masked text messages, each read back before the next, then a
close handshake.

usage: websocket.py HOST:PORT MESSAGES
Prints one JSON line: the handshake status, the first message the server sent (MeshLab echo: who
answered), the messages echoed back, and whether the server answered the close.
"""
import base64
import hashlib
import json
import os
import socket
import struct
import sys

address, count = sys.argv[1], int(sys.argv[2])
host, port = address.rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=5)
stream = sock.makefile("rb")
key = base64.b64encode(os.urandom(16)).decode()
sock.sendall((f"GET /ws HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
status = int(stream.readline().split()[1])
headers = {}
while (line := stream.readline()) not in (b"\r\n", b""):
    name, _, value = line.decode().partition(":")
    headers[name.strip().lower()] = value.strip()
expected = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
if status != 101 or headers.get("sec-websocket-accept") != expected:
    print(json.dumps({"status": status, "accept": headers.get("sec-websocket-accept") == expected}))
    sys.exit(0)


def send(opcode, payload):
    mask = os.urandom(4)
    header = bytes([0x80 | opcode, 0x80 | len(payload)]) if len(payload) < 126 else bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", len(payload))
    sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def receive():
    first, second = stream.read(2)
    size = second & 0x7F
    if size == 126:
        size = struct.unpack("!H", stream.read(2))[0]
    elif size == 127:
        size = struct.unpack("!Q", stream.read(8))[0]
    return first & 0x0F, stream.read(size)


_, hello = receive()
echoed = []
for n in range(1, count + 1):
    send(0x1, f"message-{n}".encode())
    echoed.append(receive()[1].decode())
send(0x8, struct.pack("!H", 1000))
closed = receive()[0] == 0x8
print(json.dumps({"status": status, "accept": True, "reply": json.loads(hello), "echoed": echoed, "closed": closed}))
