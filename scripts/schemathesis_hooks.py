"""Schemathesis hooks for idgate's product API run (scripts/api-fuzz.sh).

- `wait` long-polls up to 30 s when no event follows `after`; generated values would make
  the run wait minutes for nothing, so the fuzzer sends `wait=0` (the long poll itself is
  tested in tests/api/product_feed.rs).
- Bodies: a generated webhook URL names a host that does not resolve here (no outside DNS),
  and a random `seq` names no event, so most bodies get the local closed port and the org
  as their URL and org list, and the event the script made after adding the endpoint (its
  lane's next event) as their `seq`: creates, updates, resends and skips then reach their
  real work. The rest keep their generated values.
- Path parameters: random org slugs and ids only ever reach the 404 branch, so most cases
  use the seeded org, user, group and webhook endpoint (FUZZ_* set by the script); the rest
  keep their generated values, so the 404 answers stay covered too.
"""
import os
import random

import schemathesis

KNOWN = {
    "org": os.environ.get("FUZZ_ORG"),
    "/users/": os.environ.get("FUZZ_USER"),
    "/groups/": os.environ.get("FUZZ_GROUP"),
    "/webhook_endpoints/": os.environ.get("FUZZ_ENDPOINT"),
}
SEQ = os.environ.get("FUZZ_SEQ")


@schemathesis.hook
def map_query(ctx, query):
    if query and "wait" in query:
        query["wait"] = 0
    return query


@schemathesis.hook
def map_path_parameters(ctx, path_parameters):
    if not path_parameters or random.random() < 0.2:
        return path_parameters
    path = ctx.operation.path
    if "org" in path_parameters and KNOWN["org"]:
        path_parameters["org"] = KNOWN["org"]
    if "id" in path_parameters:
        for marker in ("/users/", "/groups/", "/webhook_endpoints/"):
            if marker + "{id}" in path and KNOWN[marker]:
                path_parameters["id"] = KNOWN[marker]
    return path_parameters


@schemathesis.hook
def map_body(ctx, body):
    if not isinstance(body, dict) or random.random() < 0.2:
        return body
    if "url" in body:
        body["url"] = f"http://127.0.0.1:9/hook{random.randrange(1000)}"
    if body.get("orgs") and KNOWN["org"]:
        body["orgs"] = [KNOWN["org"]]
    if "seq" in body and SEQ:
        body["seq"] = int(SEQ)
    return body
