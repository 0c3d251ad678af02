#!/usr/bin/env python3
"""A hostile stand-in for a gateway or debugging proxy, for cli_spec: it
quotes each request it gets (request line and headers, as sent, then
percent-encoded once and twice) back in the answer's Message, Recommend,
HostId and RequestId, with any --also strings, and logs the request line and
headers as JSON lines to --log so the spec knows the signature that went out.
Loopback only."""
import argparse
import http.server
import json
import signal
import sys
import urllib.parse


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--status", type=int, default=400, help="HTTP status of every answer (default 400)")
    parser.add_argument("--also", action="append", default=[], help="a string to quote as well (repeatable)")
    parser.add_argument("--log", required=True, help="file for one JSON line per request")
    opts = parser.parse_args()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            headers = "".join("%s: %s\n" % (k, v) for k, v in self.headers.items())
            quoted = " ".join([self.requestline, headers] + opts.also)
            once = urllib.parse.quote(quoted, safe="")
            twice = urllib.parse.quote(once, safe="")
            with open(opts.log, "a") as log:
                log.write(json.dumps({"path": self.path, "headers": dict(self.headers.items())}) + "\n")
            body = {"Code": "QuotedRequest", "Message": "we got: " + quoted, "Recommend": once,
                    "HostId": twice, "RequestId": once + " " + twice,
                    "TaskId": "t", "TaskInfo": {"CallbackURL": quoted}}
            data = json.dumps(body).encode("utf-8")
            self.send_response(opts.status)
            self.send_header("Content-Type", "application/json;charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET

        def log_message(self, *args):
            pass

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))   # stopped by the spec: quietly
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print("listening on http://127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
