#!/usr/bin/env python3
"""Copy an org's users from idgate, then follow every change from the event feed."""
import json, os, sys, urllib.request

BASE = os.environ.get("IDGATE_URL", "http://127.0.0.1:8080")
KEY = os.environ["IDGATE_API_KEY"]  # idgate api-key create --name app --scope directory:read,events:read
ORG = sys.argv[1] if len(sys.argv) > 1 else "acme"

def get(path):
    req = urllib.request.Request(BASE + path, headers={"Authorization": "Bearer " + KEY})
    with urllib.request.urlopen(req, timeout=60) as response:
        return json.load(response)

page = get(f"/api/v1/orgs/{ORG}/users?limit=500")
users, after = {}, page["events_cursor"]  # the feed position this copy is exact at
while True:
    users.update({u["id"]: u for u in page["data"]})
    if not page["next_cursor"]:
        break
    page = get(f"/api/v1/orgs/{ORG}/users?limit=500&cursor={page['next_cursor']}")
print(f"{len(users)} users; following from event {after}", flush=True)
while True:  # long poll: each call waits up to 25 s for the next change
    feed = get(f"/api/v1/events?org={ORG}&types=user.*&after={after}&wait=25")
    for event in feed["events"]:
        if event["type"] == "user.deleted":
            users.pop(event["data"]["id"], None)
        else:
            users[event["data"]["id"]] = event["data"]
        print(event["seq"], event["type"], event["data"]["email"], flush=True)
    after = feed["next_after"]
