"""An HTTP/1.1 client that sends one whole request, then half-closes its connection (shutdown
SHUT_WR, as `nc -N` does) and reads the answer until the server ends the connection.

usage: half_close.py HOST:PORT
Prints the answer's status line. A proxy that keeps its side open after answering leaves the
client waiting: it then times out (exit status 1).
"""
import socket
import sys

host, port = sys.argv[1].rsplit(":", 1)
sock = socket.create_connection((host, int(port)), timeout=5)
sock.sendall(f"GET /half-close HTTP/1.1\r\nHost: {sys.argv[1]}\r\n\r\n".encode())
sock.shutdown(socket.SHUT_WR)
answer = b""
while chunk := sock.recv(65536):
    answer += chunk
print(answer.split(b"\r\n", 1)[0].decode())
