#!/usr/bin/env python3
"""Receive idgate's webhooks: check the Standard Webhooks signature, then apply each event once."""
import base64, hashlib, hmac, json, os, time
from http.server import BaseHTTPRequestHandler, HTTPServer

# idgate webhook add https://app.example.com/idgate --types 'user.*,group.*' prints the secret
SECRET = os.environ["IDGATE_WEBHOOK_SECRET"]
KEY = base64.b64decode(SECRET.removeprefix("whsec_"))
seen = set()  # webhook-id of each applied event: a retry of one already applied is only acknowledged

def verified(headers, body):
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > 300:
        return False  # too old or from the future: a replay
    mac = hmac.new(KEY, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    # During a secret rotation idgate signs with both secrets: any one valid signature will do.
    return any(hmac.compare_digest(expected, s) for s in headers.get("webhook-signature", "").split())

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if not verified(self.headers, body):
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)  # events of one org arrive one at a time, in seq order
        if event["id"] not in seen:
            seen.add(event["id"])
            target = event["data"].get("email") or event["data"].get("display_name")
            print(event["seq"], event["type"], target, flush=True)
        self.send_response(204)  # any 2xx acknowledges; anything else is retried, in order
        self.end_headers()

    def log_message(self, *args):
        pass

server = HTTPServer(("127.0.0.1", int(os.environ.get("PORT", "9000"))), Receiver)
print("listening on", server.server_address[1], flush=True)
server.serve_forever()
