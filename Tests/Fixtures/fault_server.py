#!/usr/bin/env python3
"""A small HTTP server that misbehaves on purpose, for vmprov's download tests.

Serves files from a folder (argv[1]) on 127.0.0.1, on a free port it prints as "PORT n". Paths:
  /ok/NAME            the file, with ETag, Range and If-Range handled properly
  /truncated/NAME     the first request stops halfway (Content-Length promises more); later ones are proper
  /reset/NAME         the first request sends a little then resets the connection; later ones are proper
  /stall/NAME         the first request sends half, then stalls; later ones are proper
  /flaky500/NAME      the first request gets 500; later ones are proper
  /busy429/NAME       the first request gets 429 with Retry-After: 1; later ones are proper
  /ignore-range/NAME  always the whole file with 200, whatever Range says
  /etag/NAME          like /ok, but the ETag is the value set by /_set?etag=...; with /_set?truncate=1 it stops halfway
  /wrong/NAME         different bytes of the same length
  /badrange/NAME[?at=N]  like /ok (same ETag), but the 4 KiB from the middle of the file (or from byte N) are
                      inverted: a mirror that returns different bytes for one range
  /etag-flip/NAME     the first GET is the file with ETag "v1"; every later one has ETag "v2" and different bytes
                      (a file replaced in the middle of a download)
  /excess/NAME        Content-Length says the file's size, then 100 more bytes follow
  /endless/NAME       no Content-Length: the file, then zeros until 64 MiB or the client goes away
  /biglength/NAME     Content-Length: 1000000000000 (a lie), then the file
  /trickle/NAME       proper headers, then 16 bytes every 0.5 s (below any sane stall floor)
  /gzip/NAME          the file gzip-compressed, with Content-Encoding: gzip (not asked for)
  /gzip-bomb/NAME     Content-Encoding: gzip, a Content-Length of about 64 KiB, inflating to 64 MiB of zeros
  /crlf-etag/NAME     like /truncated (first request stops halfway), with the ETag "v1<CR>X-Injected: yes"
  /redirect-name/NAME 302 to /named/..%2F..%2Fevil-NAME?f=NAME (a climbing name in the redirect target)
  /named/ANY?f=NAME   the file NAME, whatever ANY says
  /redirect-file      302 to file:///etc/hostname
  /redirect-ftp       302 to ftp://127.0.0.1/x
  /loop               302 to itself
  /missing            404 with an HTML body
  /_log               the requests seen so far, one "PATH RANGE IF-RANGE" line each (plus " INJECTED" when the
                      request carried an X-Injected header)
  HEAD                answered for ok, reset, etag, badrange, etag-flip, ignore-range and wrong with the size,
                      ETag and Accept-Ranges (never counting as a first request); 405 otherwise
  Range               "bytes=A-" and "bytes=A-B"
  /_reset             forgets the first-request state and the log
"""
import gzip
import http.server
import os
import socket
import struct
import sys
import threading
import time

ROOT = sys.argv[1]
STATE = {"seen": set(), "log": [], "etag": "v1", "truncate": "0"}
# 64 gzip members of 1 MiB of zeros each: inflates to 64 MiB like one member would, but costs 1/64 of the CPU to
# make. Compressing 64 MiB per request took 5 s on a loaded 2-core machine, longer than the tests' 2 s stall limit,
# so the transfer failed as "too slow" before its first byte.
GZIP_BOMB = gzip.compress(bytes(1 << 20)) * 64
LOCK = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def first(self, key):
        with LOCK:
            if key in STATE["seen"]:
                return False
            STATE["seen"].add(key)
            return True

    def simple(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def serve(self, data, etag="\"v1\"", honour_range=True, cut=None, excess=b"", stall=False, reset=False,
              length=None, trickle=False):
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        start = 0
        if honour_range and rng and rng.startswith("bytes=") and (if_range is None or if_range == etag):
            first, _, last = rng[6:].partition("-")
            start = int(first)
            stop = min(int(last) + 1, len(data)) if last else len(data)
            if start >= len(data):
                self.simple(416, headers=[("Content-Range", "bytes */%d" % len(data))])
                return
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, stop - 1, len(data)))
        else:
            self.send_response(200)
            stop = len(data)
        body = data[start:stop]
        if length != "none":
            self.send_header("Content-Length", str(length if length is not None else len(body)))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Connection", "close")
        self.end_headers()
        if trickle:
            try:
                for i in range(0, len(body), 16):
                    self.wfile.write(body[i:i + 16])
                    self.wfile.flush()
                    time.sleep(0.5)
            except OSError:
                pass
            self.close_connection = True
            return
        if length == "none" and excess:
            try:
                self.wfile.write(body)
                sent = len(body)
                while sent < 64 << 20:
                    self.wfile.write(excess)
                    sent += len(excess)
            except OSError:
                pass
            self.close_connection = True
            return
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            if stall:
                time.sleep(30)
                return
            if reset:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.wfile.write(body + excess)

    def do_HEAD(self):
        path = self.path.split("?")[0]
        with LOCK:
            STATE["log"].append("HEAD %s" % path)
        parts = path.split("/", 2)
        heads = ("ok", "reset", "etag", "badrange", "etag-flip", "ignore-range", "wrong")
        if len(parts) != 3 or parts[1] not in heads or not os.path.isfile(os.path.join(ROOT, parts[2])):
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        etag = '"v1"'
        if parts[1] == "etag":
            with LOCK:
                etag = '"%s"' % STATE["etag"]
        self.send_response(200)
        self.send_header("Content-Length", str(os.path.getsize(os.path.join(ROOT, parts[2]))))
        self.send_header("ETag", etag)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Connection", "close")
        self.end_headers()

    def do_GET(self):
        path = self.path.split("?")[0]
        with LOCK:
            STATE["log"].append("%s %s %s%s" % (path, self.headers.get("Range", "-"), self.headers.get("If-Range", "-"),
                                                 " INJECTED" if self.headers.get("X-Injected") else ""))
        if path == "/_log":
            with LOCK:
                body = ("\n".join(STATE["log"]) + "\n").encode()
            return self.simple(200, body)
        if path == "/_reset":
            with LOCK:
                STATE["seen"].clear()
                STATE["log"].clear()
                STATE["gets"] = {}
            return self.simple(200, b"ok\n")
        if path == "/_set":
            for pair in self.path.split("?", 1)[1].split("&"):
                k, v = pair.split("=", 1)
                with LOCK:
                    STATE[k] = v
            return self.simple(200, b"ok\n")
        if path == "/redirect-file":
            return self.simple(302, headers=[("Location", "file:///etc/hostname")])
        if path == "/redirect-ftp":
            return self.simple(302, headers=[("Location", "ftp://127.0.0.1/x")])
        if path.startswith("/redirect-name/"):
            name = path[len("/redirect-name/"):]
            return self.simple(302, headers=[("Location", "/named/..%2F..%2Fevil-" + name + "?f=" + name)])
        if path.startswith("/named/"):
            name = self.path.split("?f=", 1)[1] if "?f=" in self.path else ""
            if not name or "/" in name or not os.path.isfile(os.path.join(ROOT, name)):
                return self.simple(404, b"no such file\n")
            with open(os.path.join(ROOT, name), "rb") as f:
                return self.serve(f.read())
        if path == "/loop":
            return self.simple(302, headers=[("Location", "/loop")])
        parts = path.split("/", 2)
        if len(parts) != 3 or not os.path.isfile(os.path.join(ROOT, parts[2])):
            return self.simple(404, b"<html><body>404 Not Found</body></html>\n", [("Content-Type", "text/html")])
        kind, name = parts[1], parts[2]
        with open(os.path.join(ROOT, name), "rb") as f:
            data = f.read()
        half = len(data) // 2
        if kind == "ok":
            return self.serve(data)
        if kind in ("gzip", "gzip-bomb"):
            body = gzip.compress(data) if kind == "gzip" else GZIP_BOMB
            return self.simple(200, body, [("Content-Encoding", "gzip")])
        if kind == "truncated":
            return self.serve(data, cut=half if self.first(path) else None)
        if kind == "reset":
            return self.serve(data, cut=4096 if self.first(path) else None, reset=True)
        if kind == "stall":
            return self.serve(data, cut=half if self.first(path) else None, stall=True)
        if kind == "flaky500":
            if self.first(path):
                return self.simple(500, b"internal error\n")
            return self.serve(data)
        if kind == "busy429":
            if self.first(path):
                return self.simple(429, b"slow down\n", [("Retry-After", "1")])
            return self.serve(data)
        if kind == "ignore-range":
            return self.serve(data, honour_range=False)
        if kind == "etag":
            with LOCK:
                etag, truncate = '"%s"' % STATE["etag"], STATE["truncate"] == "1"
            content = data if etag == '"v1"' else bytes(b ^ 0x5A for b in data)
            return self.serve(content, etag=etag, cut=half if truncate else None)
        if kind == "endless":
            return self.serve(data, honour_range=False, length="none", excess=b"\0" * 65536)
        if kind == "biglength":
            return self.serve(data, honour_range=False, length=10**12, cut=len(data))
        if kind == "trickle":
            return self.serve(data, trickle=True)
        if kind == "crlf-etag":
            return self.serve(data, etag='"v1\rX-Injected: yes"', cut=half if self.first(path) else None)
        if kind == "wrong":
            return self.serve(bytes(b ^ 0xFF for b in data))
        if kind == "badrange":
            bad = bytearray(data)
            at = int(self.path.split("?at=", 1)[1]) if "?at=" in self.path else half
            for i in range(at, min(at + 4096, len(bad))):
                bad[i] ^= 0xFF
            return self.serve(bytes(bad))
        if kind == "etag-flip":
            with LOCK:
                n = STATE.setdefault("gets", {}).get(path, 0) + 1
                STATE["gets"][path] = n
            if n == 1:
                return self.serve(data)
            return self.serve(bytes(b ^ 0x5A for b in data), etag='"v2"')
        if kind == "excess":
            return self.serve(data, excess=b"X" * 100)
        return self.simple(404, b"unknown kind\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
print("PORT %d" % server.server_address[1], flush=True)
# Stop by itself after a while, so a crashed test run leaves nothing behind.
threading.Timer(float(os.environ.get("FAULT_SERVER_LIFETIME", "600")), server.shutdown).start()
server.serve_forever()
