#!/usr/bin/env python3
"""A minimal OTLP/HTTP logs receiver for Rampart's tests: decodes ExportLogsServiceRequest with the
official protobuf classes (PyPI `opentelemetry-proto`) and appends each LogRecord as one JSON line
to OUT. Answers 200 with an empty ExportLogsServiceResponse.

usage: otlp_receiver.py PORT OUT [--fail-first N]   (the first N requests get 503, Retry-After: 0)
"""
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

LOCK = threading.Lock()
STATE = {"fail_left": 0, "requests": 0}


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "int_value":
        return int(v.int_value)
    if kind in ("string_value", "bool_value", "double_value"):
        return getattr(v, kind)
    return repr(getattr(v, kind))


def attrs(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with LOCK:
            STATE["requests"] += 1
            if STATE["fail_left"] > 0:
                STATE["fail_left"] -= 1
                self.send_response(503)
                self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if self.path != "/v1/logs" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = ExportLogsServiceRequest()
        request.ParseFromString(body)
        lines = []
        for rl in request.resource_logs:
            resource = attrs(rl.resource.attributes)
            for sl in rl.scope_logs:
                for lr in sl.log_records:
                    lines.append(json.dumps({
                        "resource": resource,
                        "scope": sl.scope.name,
                        "time_unix_nano": lr.time_unix_nano,
                        "observed_time_unix_nano": lr.observed_time_unix_nano,
                        "severity_number": lr.severity_number,
                        "severity_text": lr.severity_text,
                        "body": any_value(lr.body),
                        "attributes": attrs(lr.attributes),
                        "header_x_api_key": self.headers.get("X-Api-Key"),
                    }))
        with LOCK, open(OUT, "a", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        reply = ExportLogsServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


if __name__ == "__main__":
    port = int(sys.argv[1])
    OUT = sys.argv[2]
    if "--fail-first" in sys.argv:
        STATE["fail_left"] = int(sys.argv[sys.argv.index("--fail-first") + 1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"otlp receiver listening on 127.0.0.1:{port}", flush=True)
    server.serve_forever()
