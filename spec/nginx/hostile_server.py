#!/usr/bin/env python3
"""hostile_server: HTTP servers on loopback that misbehave in one way each, for the nginx specs.

    hostile_server.py NAME=MODE[,cert=PEM,key=PEM] ...

prints "NAME PORT" for each listener, then "ready", and serves until killed (or 600 s pass).
Modes (each one connection at a time per client, keep-alive where the mode answers):
  ok              200 with a small JSON success; GET /_log gives the arrivals (monotonic time,
                  AccessKeyId) and forgets them
  trickle-status  the status line, one byte every 0.3 s
  trickle-headers one header line every 0.5 s, forever
  trickle-body    Content-Length: 100, then one byte every 0.3 s
  trickle-chunk   a chunked body whose first chunk's bytes come one every 0.3 s
  trickle-trailer a whole chunked body, then one trailer line every 0.5 s, forever
  spaces          four header lines of "v" + 16000 spaces + "v" (each under 16 KiB), then a success
  long-status     a status line that never ends (64 KiB writes, up to 256 MiB)
  long-header     one header line that never ends
  many-headers    short header lines, forever (up to 2 million)
  long-chunk-size a chunk-size line that never ends
  many-trailers   a chunked body, then short trailer lines forever
  huge-chunk      a chunk size of 2^64
  one-per-conn    a success kept alive; a second request on that connection is closed unanswered
  huge-length     Content-Length: 99999999999999999999
  two-lengths     two different Content-Lengths
  silent          accepts, then never sends a byte
  banner          a plain-HTTP 400 at once, before reading anything (where TLS was expected)
With cert= and key=, the listener speaks TLS with that certificate.
Every loop is bounded: at most 600 s and 256 MiB per connection.
"""

import json
import re
import socket
import ssl
import sys
import threading
import time

OK_BODY = b'{"RequestId":"HOSTILE-OK","RetCode":0,"Description":"OK"}'
LIMIT_S = 600
LIMIT_BYTES = 256 << 20
arrivals = []
lock = threading.Lock()


def head(status=200, extra=b""):
    return b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\n" % status + extra


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return None
        data += piece
        if len(data) > 1 << 20:
            return None
    return data.split(b"\r\n\r\n", 1)[0].decode("latin-1")


def success(extra=b""):
    return head(200, extra) + b"Content-Length: %d\r\n\r\n" % len(OK_BODY) + OK_BODY


def forever(conn, piece, pause=0.0, first=b""):
    conn.sendall(first)
    sent, start = 0, time.monotonic()
    while sent < LIMIT_BYTES and time.monotonic() - start < LIMIT_S:
        conn.sendall(piece)
        sent += len(piece)
        if pause:
            time.sleep(pause)


def trickle(conn, data, pause):
    for i in range(len(data)):
        conn.sendall(data[i:i + 1])
        time.sleep(pause)


def serve_ok(conn, request):
    line = request.split("\r\n", 1)[0]
    if " /_log " in line:
        with lock:
            body = json.dumps(arrivals).encode()
            arrivals.clear()
        conn.sendall(head(200) + b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return True
    key = re.search(r"Credential=([^,]*)", request) or re.search(r"[?&]AccessKeyId=([^& ]*)", line)
    with lock:
        arrivals.append({"t": time.monotonic(), "key": key.group(1) if key else ""})
    conn.sendall(success())
    return True


def chunked_success():
    return (head(200, b"Transfer-Encoding: chunked\r\n") + b"\r\n" +
            b"%x\r\n" % len(OK_BODY) + OK_BODY + b"\r\n0\r\n")


MODES = {
    "ok": serve_ok,
    "trickle-status": lambda c, r: trickle(c, b"HTTP/1.1 200 OK\r\n", 0.3),
    "trickle-headers": lambda c, r: forever(c, b"X-Slow: v\r\n", 0.5, head(200)),
    "trickle-body": lambda c, r: (c.sendall(head(200) + b"Content-Length: 100\r\n\r\n"), trickle(c, b"x" * 100, 0.3)),
    "trickle-chunk": lambda c, r: (c.sendall(head(200, b"Transfer-Encoding: chunked\r\n") + b"\r\n40\r\n"),
                                   trickle(c, b"x" * 64, 0.3)),
    "trickle-trailer": lambda c, r: forever(c, b"X-Trailer: v\r\n", 0.5, chunked_success()),
    "spaces": lambda c, r: c.sendall(success(b"".join(b"X-Pad-%d: v%sv\r\n" % (i, b" " * 16000) for i in range(4)))),
    "long-status": lambda c, r: forever(c, b"x" * 65536, 0, b"HTTP/1.1 200 "),
    "long-header": lambda c, r: forever(c, b"x" * 65536, 0, head(200) + b"X-Long: "),
    "many-headers": lambda c, r: forever(c, b"X-Many: v\r\n" * 1000, 0, head(200)),
    "long-chunk-size": lambda c, r: forever(c, b"0" * 65536, 0, head(200, b"Transfer-Encoding: chunked\r\n") + b"\r\n1"),
    "many-trailers": lambda c, r: forever(c, b"X-T: v\r\n" * 1000, 0, chunked_success()),
    "huge-length": lambda c, r: c.sendall(head(200) + b"Content-Length: 99999999999999999999\r\n\r\n" + OK_BODY),
    "two-lengths": lambda c, r: c.sendall(head(200) + b"Content-Length: %d\r\nContent-Length: 5\r\n\r\n" % len(OK_BODY) + OK_BODY),
    "banner": None,   # these three handled in handle()
    "silent": None,
    "one-per-conn": None,
    "huge-chunk": lambda c, r: c.sendall(head(200, b"Transfer-Encoding: chunked\r\n") + b"\r\n10000000000000000\r\nxx"),
}


def handle(conn, mode, context):
    try:
        if context:   # in this thread: a client stalling its handshake holds up no other
            conn.settimeout(10)
            conn = context.wrap_socket(conn, server_side=True)
        conn.settimeout(LIMIT_S)
        if mode == "banner":
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        if mode == "silent":
            time.sleep(LIMIT_S)
        if mode == "one-per-conn":
            if read_request(conn) is not None:
                conn.sendall(success())
                read_request(conn)   # then close without answering
            return
        while True:
            request = read_request(conn)
            if request is None or not MODES[mode](conn, request):
                break
    except (OSError, ssl.SSLError):
        pass   # the client gave up or refused the certificate: that is what these servers are for
    finally:
        conn.close()


def listen(name, mode, options):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    context = None
    if "cert" in options:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(options["cert"], options["key"])

    def accept():
        while True:
            conn, _ = sock.accept()
            threading.Thread(target=handle, args=(conn, mode, context), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return sock.getsockname()[1]


def main():
    for spec in sys.argv[1:]:
        name, rest = spec.split("=", 1)
        mode, *opts = rest.split(",")
        if mode not in MODES:
            sys.exit("unknown mode " + mode)
        options = dict(o.split("=", 1) for o in opts)
        print(name, listen(name, mode, options), flush=True)
    print("ready", flush=True)
    time.sleep(LIMIT_S)


if __name__ == "__main__":
    main()
