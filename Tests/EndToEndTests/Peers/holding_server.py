"""A server that takes one upload but reads none of it for HOLD seconds, then reads it all and
answers with how many bytes it got.

usage: holding_server.py PORT HOLD tcp|http
Prints "ready" once listening, then the byte count. tcp: reads to EOF, answers the count, closes.
http: reads one request head, then its Content-Length body, answers 200 with the count.
Meanwhile the upload piles up wherever the path has no flow control.
"""
import signal
import socket
import sys
import time

signal.alarm(120)  # a peer ends itself, so an upload that never comes fails the test instead of hanging it

port, hold, mode = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("0.0.0.0", port))
listener.listen(1)
print("ready", flush=True)
conn, _ = listener.accept()
data, length = b"", None
if mode == "http":
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            sys.exit("the connection closed before a whole request head came")
        data += chunk
    head, data = data.split(b"\r\n\r\n", 1)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))
time.sleep(hold)
received = len(data)
while length is None or received < length:
    chunk = conn.recv(1 << 20)
    if not chunk:
        break
    received += len(chunk)
answer = str(received).encode()
if mode == "http":
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(answer) + answer
conn.sendall(answer)
conn.close()
print(received, flush=True)
