"""The comparison app of bench/throughput.py: the least a Flask app does to answer an action with JSON.

POST /api/<action> parses the JSON body and answers the action's JSON document from the file named by
JVP_BENCH_ANSWERS ({action: JVP's own answer to it}, recorded by the benchmark), read once at start; GET
/healthz answers {"status": "ok"}. No auth, no validation, no libvirt: the framework's floor."""
from __future__ import annotations

import json
import os

from flask import Flask, jsonify, request

app = Flask("minimal")
app.json.sort_keys = False
with open(os.environ["JVP_BENCH_ANSWERS"], encoding="utf-8") as fh:
    _ANSWERS = json.load(fh)


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})


@app.post("/api/<action>")
def action(action: str):
    request.get_json(force=True, silent=True)
    return jsonify(_ANSWERS[action])
