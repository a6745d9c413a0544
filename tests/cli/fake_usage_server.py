#!/usr/bin/env python3
"""A fake torc server for the display tests: serves the contract-shaped JSON of
tests/server/fixtures/usage (workflow 3) on 127.0.0.1 and logs every request path.
Usage: fake_usage_server.py FIXTURE_DIR PORT_FILE LOG_FILE"""
import json
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

fixtures, port_file, log_file = sys.argv[1:4]


def load(name):
    with open(os.path.join(fixtures, name)) as f:
        return json.load(f)


def job_detail(job):
    """GET /workflows/3/jobs/J: the job of the attempts answer with the detail's other keys."""
    j = dict(job)
    j.update({"command": "python3 work.py " + job["name"], "invocation_script": "", "priority": 0,
              "retries": 0, "scheduler": "", "depends_on": [], "depends_on_count": 0,
              "exit_code": job["attempts"][-1]["exit_code"], "worker": 1,
              "stdio": {"mode": "separate", "delete_on_success": False}, "current": None})
    return j


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        with open(log_file, "a") as log:
            log.write(self.path + "\n")
        path = urllib.parse.urlparse(self.path).path
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        if parts[:2] != ["api", "v1"]:
            return self.answer(404, {"error": "not found"})
        p = parts[2:]
        if p == ["workflows"]:
            return self.answer(200, {"workflows": [load("workflow.json")]})
        if p[:2] != ["workflows", "3"]:
            return self.answer(404, {"error": "no workflow " + (p[1] if len(p) > 1 else "")})
        if len(p) == 2:
            return self.answer(200, load("workflow.json"))
        if p[2] == "attempts" and len(p) == 3:
            return self.answer(200, load("attempts.json"))
        if p[2] == "jobs" and len(p) >= 4:
            jobs = {j["name"]: j for j in load("attempts.json")["jobs"]}
            if p[3] not in jobs:
                return self.answer(404, {"error": "no job " + p[3]})
            if len(p) == 4:
                return self.answer(200, job_detail(jobs[p[3]]))
            if len(p) == 7 and p[4] == "attempts" and p[6] == "samples":
                name = "samples_%s_%s.json" % (p[3], p[5])
                if os.path.exists(os.path.join(fixtures, name)):
                    return self.answer(200, load(name))
                return self.answer(404, {"error": "no attempt %s of job %s" % (p[5], p[3])})
        return self.answer(404, {"error": "not found"})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
