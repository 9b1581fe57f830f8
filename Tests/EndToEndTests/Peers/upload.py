"""An upload of SIZE bytes as fast as the path takes it, then the server's answer.

usage: upload.py HOST:PORT SIZE tcp|http
tcp: sends the bytes, half-closes, reads the answer to EOF. http: one PUT with Content-Length.
Prints one JSON line: the HTTP status (http) and the byte count the server answered with.
"""
import json
import signal
import socket
import sys

signal.alarm(120)  # a peer ends itself, so a proxy that never answers fails the test instead of hanging it


def receive(sock):
    data = sock.recv(65536)
    if not data:
        sys.exit("the connection closed before the whole answer came")
    return data


address, size, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
host, port = address.rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=60)
if mode == "http":
    sock.sendall(f"PUT /upload HTTP/1.1\r\nHost: {address}\r\nContent-Length: {size}\r\n\r\n".encode())
chunk = b"x" * (1 << 20)
left = size
while left > 0:
    sock.sendall(chunk[:left])
    left -= min(left, len(chunk))
result = {}
if mode == "http":
    data = b""
    while b"\r\n\r\n" not in data:
        data += receive(sock)
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += receive(sock)
    result["status"] = int(head.split()[1])
else:
    sock.shutdown(socket.SHUT_WR)
    body = b""
    while chunk := sock.recv(65536):
        body += chunk
result["stored"] = int(body)
print(json.dumps(result))
