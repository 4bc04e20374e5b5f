"""Seeds a running partnerhub over its HTTP API with one of everything, and prints the world as
JSON: the tokens of each role and the ids the contract run puts in paths.

    python3 world.py BASE_URL OPERATOR_TOKEN > world.json

Only the standard library: it runs before any virtual environment exists.
"""

import json
import sys
import urllib.error
import urllib.request
import uuid

BASE, OPERATOR = sys.argv[1].rstrip("/"), sys.argv[2]
PASSWORD = "contract run password, long enough"
RUN = uuid.uuid4().hex[:8]


def call(method, path, token=None, body=None, expect=(200, 201, 202, 204)):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    if status not in expect:
        sys.exit(f"world.py: {method} {path} answered {status}: {raw.decode(errors='replace')}")
    return json.loads(raw) if raw else None


def sign_in(email):
    return call("POST", "/api/v1/auth/token", body={"email": email, "password": PASSWORD})["access_token"]


def partner(kind, name):
    pid = {"direct": "D", "indirect_provider": "P", "indirect_reseller": "R"}[kind] + RUN
    domain = f"{kind.replace('_', '-')}-{RUN}.example"
    email = f"ga@{domain}"
    body = {"name": f"{name} {RUN}", "partner_type": kind, "partner_id": pid, "domain": domain,
            "admin": {"email": email, "display_name": "Ada", "password": PASSWORD}}
    org = call("POST", "/api/v1/operator/partners", OPERATOR, body)
    return org["id"], org["admin_user_id"], sign_in(email)


def customer(name):
    domain = f"{name.lower()}-{RUN}.example"
    email = f"ga@{domain}"
    body = {"organization": {"name": f"{name} {RUN}", "domain": domain},
            "admin": {"email": email, "display_name": "Grace", "password": PASSWORD}}
    org = call("POST", "/api/v1/signup", body=body)
    return org["organization_id"], org["user_id"], sign_in(email)


provider, provider_admin, provider_token = partner("indirect_provider", "Provider")
reseller, reseller_admin, reseller_token = partner("indirect_reseller", "Reseller")
call("POST", "/api/v1/operator/provider-links", OPERATOR, {"provider_id": provider, "reseller_id": reseller})

# The customer accepts the reseller's invitation with its provider: both have a relationship.
cust, cust_admin, cust_token = customer("Tenant")
inv = call("POST", "/api/v1/invitations", reseller_token, {"indirect_provider_id": provider})
token = inv["url"].rsplit("/", 1)[1]
call("POST", "/api/v1/invitations/accept", cust_token, {"token": token})
# A pending invitation, and its token, for the preview/accept/decline operations.
pending = call("POST", "/api/v1/invitations", reseller_token, {})

offer = call("POST", "/api/v1/operator/offers", OPERATOR, {"name": f"Mail {RUN}", "unit_price_cents": 600, "currency": "EUR"})
order = call("POST", f"/api/v1/customers/{cust}/orders", provider_token,
             {"items": [{"offer_id": offer["id"], "quantity": 5}], "reseller_id": reseller})
subscription = order["subscriptions"][0]["id"]

# An admin agent of the reseller acts in the customer's tenant through the grants; a second
# user whose sessions the run may end.
agent = call("POST", "/api/v1/users", reseller_token,
             {"email": f"agent@reseller-{RUN}.example", "display_name": "Alex", "password": PASSWORD, "roles": ["admin_agent"]})
agent_token = sign_in(f"agent@reseller-{RUN}.example")
tenant_user = call("POST", f"/api/v1/customers/{cust}/users", agent_token,
                   {"email": f"kim@tenant-{RUN}.example", "display_name": "Kim", "roles": ["user_admin"]})
call("POST", f"/api/v1/customers/{cust}/users/{tenant_user['id']}/licenses", agent_token, {"subscription_id": subscription})
spare = call("POST", "/api/v1/users", reseller_token,
             {"email": f"spare@reseller-{RUN}.example", "display_name": "Sam", "password": PASSWORD, "roles": ["sales_agent"]})
spare_token = sign_in(f"spare@reseller-{RUN}.example")
sessions = call("GET", "/api/v1/me/sessions", spare_token)
# A webhook of the reseller, for its routes (a public address; an event nothing sends here).
hook = call("POST", "/api/v1/webhooks", reseller_token, {"url": "https://1.1.1.1/partnerhub", "events": ["grant.expired"]})

json.dump({
    "base": BASE,
    "operator": OPERATOR,
    "partner_admin_token": reseller_token,
    "agent_token": agent_token,
    "provider_token": provider_token,
    "customer_token": cust_token,
    "spare_token": spare_token,
    "ids": {
        "customer": cust,
        "provider": provider,
        "reseller": reseller,
        "tenant_user": tenant_user["id"],
        "subscription": subscription,
        "offer": offer["id"],
        "invitation": pending["id"],
        "invitation_token": pending["url"].rsplit("/", 1)[1],
        "user": agent["id"],
        "spare_user": spare["id"],
        "spare_session": sessions["items"][0]["id"],
        "webhook": hook["id"],
    },
    # Whose tokens the run uses, and the relationship it works in: never ended by the run.
    "protected": [provider_admin, reseller_admin, cust_admin, agent["id"], cust, reseller, provider, hook["id"]],
}, sys.stdout, indent=2)
print()
