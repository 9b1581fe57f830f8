"""What a malicious pod sees when it knocks on every port: a plain TCP connection to each target,
an HTTP/1.1 request written on it, and the first answer read back. Independent of MeshLab's code.

usage: port_probe.py IP:PORT...
Prints one JSON line per target: {"target": "IP:PORT", "outcome": ...}, where outcome is
refused, unreachable (connect timed out), reset, closed (ended without a byte), silent (open, no
answer within a second), or answered: <its first line>.
"""
import concurrent.futures
import json
import socket
import sys


def probe(target):
    host, port = target.rsplit(":", 1)
    try:
        connection = socket.create_connection((host, int(port)), timeout=1)
    except ConnectionRefusedError:
        return "refused"
    except OSError:
        return "unreachable"
    with connection:
        try:
            connection.sendall(b"GET / HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
            data = connection.recv(4096)
        except ConnectionResetError:
            return "reset"
        except socket.timeout:
            return "silent"
        except OSError as error:
            return f"error: {error}"
    if not data:
        return "closed"
    return "answered: " + data.split(b"\r\n", 1)[0].decode(errors="replace")


targets = sys.argv[1:]
with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
    for target, outcome in zip(targets, pool.map(probe, targets)):
        print(json.dumps({"target": target, "outcome": outcome}), flush=True)
