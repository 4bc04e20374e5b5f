#!/usr/bin/env python3
"""A walk through partnerhub's main flows (docs/API.md), against a server started with
`partnerhub serve --demo`, as it is: the demo's logins are read from the file it writes
(partnerhub-demo.json in its working directory, or --demo-file).

    python3 examples/walk.py [DEMO_FILE] [--url URL] [--verbose]

The reseller invites a new customer with its provider, the customer previews and accepts; a
bound invitation; the provider orders for the customer naming its reseller; the reseller's
admin agent creates a user in the customer's tenant and gives it a seat; the reseller's
removal is blocked by the subscription until the provider cancels it, then the reseller
removes the relationship with the attestation; the audit log, as JSON and as CSV.

Each run signs up a customer of its own, so it can run again against the same demo (sign-ups
are limited to 10 per hour per client address). Python 3 standard library only. Exits 1 at
the first answer it did not expect, showing it.
"""

import argparse
import csv as csv_module
import io
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request


class Unexpected(Exception):
    pass


class Api:
    def __init__(self, url, verbose):
        self.url = url.rstrip("/")
        self.verbose = verbose

    def call(self, method, path, token=None, body=None, expect=200, accept="application/json"):
        """Sends one request; answers the parsed JSON (or the text) when the status is `expect`."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Accept", accept)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                status, text, ctype = res.status, res.read().decode(), res.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            status, text, ctype = e.code, e.read().decode(), e.headers.get("Content-Type", "")
        except urllib.error.URLError as e:
            raise Unexpected(f"{method} {path}: no answer from {self.url} ({e.reason}); is `partnerhub serve --demo` running?")
        value = json.loads(text) if text and "json" in ctype else text
        shown = f"{method} {path} -> {status}"
        if isinstance(value, dict) and "code" in value and status >= 400:
            shown += f" {value['code']}"
        print(f"    {shown}")
        if self.verbose and value:
            print("      " + (json.dumps(value, indent=2) if not isinstance(value, str) else value).replace("\n", "\n      "))
        if status != expect:
            detail = json.dumps(value, indent=2) if not isinstance(value, str) else value
            hint = ""
            if status == 429:
                hint = "\n(rate limited: sign-ups are limited per client address; wait, or start a fresh demo)"
            raise Unexpected(f"{method} {path}: expected {expect}, got {status}:\n{detail}{hint}")
        return value


def step(n, text):
    print(f"\n{n}. {text}")


def check(cond, what):
    if not cond:
        raise Unexpected(what)


def walk(api, logins):
    def sign_in(email, password=None):
        password = password or logins.get(email)
        check(password, f"{email} is not in the demo file")
        b = api.call("POST", "/api/v1/auth/token", body={"email": email, "password": password})
        return b["access_token"]

    step(1, "The demo's partners sign in (an indirect provider, its indirect reseller, the reseller's admin agent).")
    provider = sign_in("ga@fabrikam.example")
    reseller = sign_in("ga@contoso.example")
    agent = sign_in("agent@contoso.example")
    tailspin = sign_in("ga@tailspin.example")
    provider_org = api.call("GET", "/api/v1/me", provider)["organization"]
    reseller_org = api.call("GET", "/api/v1/me", reseller)["organization"]
    print(f"    provider {provider_org['name']} ({provider_org['partner_id']}), reseller {reseller_org['name']} ({reseller_org['partner_id']})")
    links = api.call("GET", "/api/v1/providers", reseller)["items"]
    check(any(l["id"] == provider_org["id"] and l["state"] == "active" for l in links), f"the reseller is not linked to its provider: {links}")
    print("    the reseller is linked to the provider")

    step(2, "A new customer signs up (a name of this run's own).")
    stamp = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(2)
    name, domain = f"Walk Customer {stamp}", f"walk-{stamp}.example"
    admin_email, admin_password = f"ga@{domain}", "walk-" + secrets.token_urlsafe(18)
    api.call(
        "POST",
        "/api/v1/signup",
        body={"organization": {"name": name, "domain": domain}, "admin": {"email": admin_email, "display_name": "Grace", "password": admin_password}},
        expect=201,
    )
    customer = sign_in(admin_email, admin_password)
    customer_id = api.call("GET", "/api/v1/me", customer)["organization"]["id"]
    print(f"    {name} (id {customer_id})")

    step(3, "The reseller invites any customer (an open invitation) with its indirect provider.")
    inv = api.call(
        "POST",
        "/api/v1/invitations",
        reseller,
        {"indirect_provider_id": provider_org["id"], "roles": ["user_admin", "license_admin"], "duration_days": 180, "locale": "en"},
        expect=201,
    )
    check(inv["url"] in inv["email"]["body"], "the e-mail draft carries the URL")
    token = inv["url"].rsplit("/", 1)[1]
    print(f"    {inv['url']}")
    print(f"    e-mail draft: \"{inv['email']['subject']}\" (the body carries the URL; mailto: link ready)")

    step(4, "Anyone holding the link previews it, signed in or not; nothing changes.")
    preview = api.call("POST", "/api/v1/invitations/preview", body={"token": token})
    print(f"    {preview['partner']['name']} asks for {', '.join(preview['roles'])} for {preview['duration_days']} days,"
          f" with {preview['indirect_provider']['name']} as indirect provider")

    step(5, "The customer's global admin accepts: both relationships and the reseller's grants, at once.")
    accepted = api.call("POST", "/api/v1/invitations/accept", customer, {"token": token}, expect=201)
    print(f"    relationships with {', '.join(r['partner']['name'] for r in accepted['relationships'])};"
          f" grants {', '.join(g['role'] for g in accepted['grants'])}")
    api.call("POST", "/api/v1/invitations/accept", customer, {"token": token}, expect=409)
    print("    a second acceptance is refused: the invitation is no longer pending")

    step(6, "Both partners now list the customer; the provider sees the reseller of record.")
    q = "/api/v1/customers?q=" + urllib.request.quote(name)
    mine = api.call("GET", q, reseller)["items"]
    check([c["id"] for c in mine] == [customer_id], f"the reseller's list: {mine}")
    theirs = api.call("GET", q, provider)["items"]
    check(theirs and (theirs[0].get("indirect_reseller") or {}).get("id") == reseller_org["id"], f"the provider's list: {theirs}")
    print(f"    reseller: {mine[0]['name']} via {mine[0]['relationship']['via']}; provider: reseller of record {theirs[0]['indirect_reseller']['name']}")

    step(7, "An invitation bound to that customer (renewing the grants): another customer cannot accept it.")
    bound = api.call("POST", "/api/v1/invitations", reseller, {"customer_id": customer_id, "locale": "en"}, expect=201)
    bound_token = bound["url"].rsplit("/", 1)[1]
    api.call("POST", "/api/v1/invitations/accept", tailspin, {"token": bound_token}, expect=403)
    print("    Tailspin Toys is refused: wrong_customer")
    renewed = api.call("POST", "/api/v1/invitations/accept", customer, {"token": bound_token}, expect=201)
    print(f"    {name} accepts: grants {', '.join(sorted({g['role'] for g in renewed['grants']}))}")

    step(8, "The provider orders for the customer, naming its reseller as partner of record.")
    offers = api.call("GET", "/api/v1/offers", provider)["items"]
    mail = next((o for o in offers if o["name"] == "Mail Basic"), None)
    check(mail, f"the demo's catalog has Mail Basic: {offers}")
    order = api.call(
        "POST",
        f"/api/v1/customers/{customer_id}/orders",
        provider,
        {"items": [{"offer_id": mail["id"], "quantity": 5}], "reseller_id": reseller_org["id"]},
        expect=201,
    )
    sub = order["subscriptions"][0]
    print(f"    subscription {sub['id']}: {sub['quantity']} seats of {mail['name']}, {sub['status']}")

    step(9, "The reseller's admin agent creates a user in the customer's tenant, and gives it a seat.")
    kim = api.call("POST", f"/api/v1/customers/{customer_id}/users", agent, {"email": f"kim@{domain}", "display_name": "Kim"}, expect=201)
    print(f"    {kim['email']}, temporary password shown once")
    api.call("POST", f"/api/v1/customers/{customer_id}/users/{kim['id']}/licenses", agent, {"subscription_id": sub["id"]}, expect=201)
    subs = api.call("GET", "/api/v1/subscriptions", customer)["items"]
    seat = next(s for s in subs if s["id"] == sub["id"])
    print(f"    the customer sees {seat['assigned']} of {seat['quantity']} seats assigned")
    kim_token = api.call("POST", "/api/v1/auth/token", body={"email": kim["email"], "password": kim["temporary_password"]})
    check(kim_token["password_change_required"], "a temporary password must be changed first")
    print("    Kim's first sign-in must change the temporary password")

    step(10, "The reseller prepares a removal: the subscription blocks it.")
    pre = api.call("GET", f"/api/v1/customers/{customer_id}/removal-preflight", reseller)
    check(not pre["removable"] and pre["blockers"], f"the preflight: {pre}")
    print(f"    blockers: {', '.join(b['kind'] + ' ' + b['name'] for b in pre['blockers'])}; {pre['grants_to_revoke']} grants to revoke")
    api.call("POST", f"/api/v1/customers/{customer_id}/remove-relationship", reseller, {"attest_good_faith": False}, expect=422)
    print("    without the attestation: attestation_required")
    blocked = api.call("POST", f"/api/v1/customers/{customer_id}/remove-relationship", reseller, {"attest_good_faith": True}, expect=409)
    check(blocked.get("code") == "removal_blocked", f"{blocked}")
    print("    with it, still removal_blocked while the subscription is active")

    step(11, "The provider, which placed the order, cancels the subscription (its seats are released).")
    cancelled = api.call("PATCH", f"/api/v1/customers/{customer_id}/subscriptions/{sub['id']}", provider, {"status": "cancelled"})
    print(f"    subscription {cancelled['status']}")

    step(12, "The reseller removes the relationship, attesting good faith: every grant ends at once.")
    pre = api.call("GET", f"/api/v1/customers/{customer_id}/removal-preflight", reseller)
    check(pre["removable"], f"the preflight: {pre}")
    removed = api.call("POST", f"/api/v1/customers/{customer_id}/remove-relationship", reseller, {"attest_good_faith": True})
    print(f"    relationship {removed['state']}, {removed['revoked_grants']} grants revoked")
    api.call("GET", f"/api/v1/customers/{customer_id}/users", agent, expect=404)
    print("    the agent no longer reaches the customer (404)")
    partners = api.call("GET", "/api/v1/partners", customer)["items"]
    print(f"    the customer's partners now: {', '.join(p['name'] for p in partners) or 'none'}")

    step(13, "The audit log: each organization sees its own users' actions and every action on its resources.")
    records = api.call("GET", f"/api/v1/audit?customer_id={customer_id}&limit=100", reseller)["items"]
    actions = [r["action"] for r in records]
    for needed in ("invitation.created", "relationship.removed"):
        check(needed in actions, f"{needed} in the reseller's audit: {actions}")
    print(f"    the reseller's records about {name}: {', '.join(sorted(set(actions)))}")
    theirs = api.call("GET", "/api/v1/audit?limit=100", customer)["items"]
    print(f"    the customer's own log: {len(theirs)} records, the newest {theirs[0]['action']} (seq {theirs[0]['seq']})")
    csv = api.call("GET", f"/api/v1/audit?customer_id={customer_id}", reseller, accept="text/csv")
    rows = list(csv_module.reader(io.StringIO(csv)))
    check(len(rows) > 1 and "action" in rows[0], f"the CSV has a header and rows: {csv}")
    at = {column: i for i, column in enumerate(rows[0])}
    print(f"    as CSV, {len(rows) - 1} rows under the header {','.join(rows[0])}; the newest three:")
    for row in rows[1:4]:
        print(f"      seq {row[at['seq']]}  {row[at['at']]}  {row[at['actor_email']]:<24} {row[at['action']]}")

    print(f"\nThe walk is complete: every answer was the one expected ({api.url}).")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("demo_file", nargs="?", default=os.environ.get("PARTNERHUB_DEMO_FILE", "partnerhub-demo.json"),
                        help="the file `serve --demo` wrote (default: partnerhub-demo.json)")
    parser.add_argument("--url", default=os.environ.get("PARTNERHUB_URL"), help="the server (default: the URL in the demo file)")
    parser.add_argument("--verbose", "-v", action="store_true", help="print every answer's JSON")
    args = parser.parse_args()
    try:
        with open(args.demo_file) as f:
            demo = json.load(f)
    except OSError as e:
        print(f"error: cannot read the demo file {args.demo_file}: {e.strerror}", file=sys.stderr)
        print("hint: start `partnerhub serve --demo` first (it writes partnerhub-demo.json in its working directory),"
              " and run this from that directory or pass the file", file=sys.stderr)
        return 1
    logins = {l["email"]: l["password"] for l in demo["logins"]}
    api = Api(args.url or demo["url"], args.verbose)
    print(f"partnerhub walk against {api.url}")
    try:
        walk(api, logins)
    except Unexpected as e:
        print(f"\nerror: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
