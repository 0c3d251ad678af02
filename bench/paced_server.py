#!/usr/bin/env python3
"""A loopback HTTP/1.1 server for the batch bench: every request is answered
after a fixed delay with the documented success JSON, unless a token bucket
(rate per second, burst) has no token, when it answers 400 Throttling.User as
the service does. It verifies no signature: the bench measures how well a
client fills the quota at a given round trip.

    paced_server.py [--rate 10] [--burst 10]    prints the port, serves until SIGTERM
    GET /_config?delay=SECONDS                   sets the delay and zeroes the counters
    GET /_stats                                  {"served": N, "throttled": N, "max_in_flight": N}
"""
import argparse
import http.server
import json
import signal
import socketserver
import sys
import threading
import time
import urllib.parse

OK = b'{"RequestId":"16A96B9A-F203-4EC5-8E43-CB92E68D0001","RetCode":0,"Description":"OK"}'
THROTTLED = (b'{"RequestId":"16A96B9A-F203-4EC5-8E43-CB92E68D0002","Code":"Throttling.User",'
             b'"Message":"Request was denied due to user flow control."}')


class State:
    def __init__(self, rate, burst):
        self.lock = threading.Lock()
        self.rate, self.burst = rate, burst
        self.delay = 0.0
        self.reset()

    def reset(self):
        self.tokens, self.last = self.burst, time.monotonic()
        self.served = self.throttled = self.in_flight = self.max_in_flight = 0

    def admit(self):
        """One token from the bucket at the moment the request arrives."""
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
            self.last = now
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.tokens >= 1:
                self.tokens -= 1
                self.served += 1
                return True
            self.throttled += 1
            return False

    def done(self):
        with self.lock:
            self.in_flight -= 1


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def api(self):
        state = self.server.state
        ok = state.admit()
        try:
            time.sleep(state.delay)
            self.answer(200 if ok else 400, OK if ok else THROTTLED)
        finally:
            state.done()

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        state = self.server.state
        if url.path == "/_config":
            query = urllib.parse.parse_qs(url.query)
            with state.lock:
                state.delay = float(query.get("delay", ["0"])[0])
                state.reset()
            self.answer(200, b"{}")
        elif url.path == "/_stats":
            with state.lock:
                stats = {"served": state.served, "throttled": state.throttled,
                         "max_in_flight": state.max_in_flight}
            self.answer(200, json.dumps(stats).encode())
        else:
            self.api()

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.api()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    # socketserver's backlog of 5 drops the SYNs of a burst of new connections,
    # which then arrive a second late and bunch up with the paced ones.
    request_queue_size = 128


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=10)
    parser.add_argument("--burst", type=float, default=10)
    args = parser.parse_args()
    server = Server(("127.0.0.1", 0), Handler)
    server.state = State(args.rate, args.burst)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print(server.server_address[1], flush=True)
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
