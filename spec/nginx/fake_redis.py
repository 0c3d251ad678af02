#!/usr/bin/env python3
"""fake_redis: a Redis stand-in on loopback that misbehaves in one way, for nginx_redis_spec and rate_store_spec.

    fake_redis.py MODE LOGFILE

prints its port, then serves until killed (or 600 s pass). Every command it reads is appended to
LOGFILE as one line (its name, upper case), so a spec can count what a client sent.
Modes:
  mute     reads commands and never answers (a reply lost: the client must not send it again)
  garbage  answers every command with a bulk length that is not a number ("$x")
  huge     answers every command with an array header of 2^31 elements, then nothing
  long     answers every command with an error line that never ends (64 KiB writes, up to 64 MiB)
  array    answers every command with an array header of 2e9 elements, then sends them (":1", 16 MiB of them)
  nested   answers every command with arrays of 8 items nested 7 deep: 8^7 integers (8 MiB), each array small
  drip     answers every command with a well-formed {1, 0} one byte every 50 ms (0.65 s in all; native only:
           nginx's cosockets time each read alone, so there it stretches the exchange)
  twice    answers every command with a granted {1, 0} twice in one write: the second was never asked for
  loading  answers every command "-LOADING Redis is loading the dataset in memory" (a pause, not a refusal)
"""

import socket
import sys
import threading
import time

LIMIT_S = 600


def commands(conn):
    """Yields each RESP command's name (arrays of bulk strings, as clients send)."""
    data = b""
    while True:
        while b"\r\n" not in data:
            piece = conn.recv(65536)
            if not piece:
                return
            data += piece
        line, data = data.split(b"\r\n", 1)
        if not line.startswith(b"*"):
            continue
        parts = []
        for _ in range(int(line[1:])):
            while b"\r\n" not in data:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            size_line, data = data.split(b"\r\n", 1)
            size = int(size_line[1:])
            while len(data) < size + 2:
                piece = conn.recv(65536)
                if not piece:
                    return
                data += piece
            parts.append(data[:size])
            data = data[size + 2:]
        yield parts[0].upper().decode("latin-1") if parts else ""


def nested(depth):
    """Arrays of 8 nested depth deep, integers at the bottom."""
    return b"*8\r\n" + nested(depth - 1) * 8 if depth else b":1\r\n"


NESTED = nested(7)


def serve(conn, mode, log_path):
    with conn:
        try:
            for name in commands(conn):
                with open(log_path, "a") as log:
                    log.write(name + "\n")
                if mode == "garbage":
                    conn.sendall(b"$x\r\n")
                elif mode == "loading":
                    conn.sendall(b"-LOADING Redis is loading the dataset in memory\r\n")
                elif mode == "huge":
                    conn.sendall(b"*2147483648\r\n")
                elif mode == "long":
                    conn.sendall(b"-ERR ")
                    for _ in range(1024):
                        conn.sendall(b"x" * 65536)
                elif mode == "array":
                    conn.sendall(b"*2000000000\r\n")
                    for _ in range(256):
                        conn.sendall(b":1\r\n" * 16384)
                elif mode == "nested":
                    conn.sendall(NESTED)
                elif mode == "twice":
                    conn.sendall(b"*2\r\n:1\r\n:0\r\n" * 2)
                elif mode == "drip":
                    for byte in b"*2\r\n:1\r\n:0\r\n":
                        conn.sendall(bytes([byte]))
                        time.sleep(0.05)
        except OSError:
            pass


def main():
    mode, log_path = sys.argv[1], sys.argv[2]
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    started = time.monotonic()
    listener.settimeout(1)
    while time.monotonic() - started < LIMIT_S:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(conn, mode, log_path), daemon=True).start()


if __name__ == "__main__":
    main()
