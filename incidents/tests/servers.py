"""Real local servers for detection tests: a throwaway redis-server and a Prometheus query API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from pitchey_incidents.testing import start_redis  # noqa: F401  (start_redis: used by the detection tests)


class FakePrometheus:
    """Answers ``GET /api/v1/query`` as Prometheus does. ``answers[substring]`` is a list of values
    served in turn (the last one repeats); None serves an empty vector."""

    def __init__(self):
        self.answers: dict[str, list] = {}
        self.queries: list[str] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                url = urlparse(self.path)
                if url.path != "/api/v1/query":
                    return self._send(404, {"status": "error", "errorType": "not_found", "error": "no route"})
                query = parse_qs(url.query).get("query", [""])[0]
                owner.queries.append(query)
                for key, values in owner.answers.items():
                    if key in query:
                        value = values.pop(0) if len(values) > 1 else values[0]
                        result = [] if value is None else [{"metric": {}, "value": [1764219600.0, str(value)]}]
                        return self._send(
                            200, {"status": "success", "data": {"resultType": "vector", "result": result}}
                        )
                return self._send(400, {"status": "error", "errorType": "bad_data", "error": "unknown query"})

            def _send(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
