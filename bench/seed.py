#!/usr/bin/env python3
"""Seeds a running partnerhub for the load benchmarks (standard library only).

Creates P direct partners and C customers, signs them all in, and has every partner create C
open invitations, so that P*C acceptances each have their own (customer, invitation) pair.
For commerce, a direct partner of its own (so partner 0's list stays as it was) creates
ORDER_CUSTOMERS connected customers to order for, and one more that holds SUBSCRIPTIONS
subscriptions (one order of one item each), from one offer of the operator's.
Writes:
  OUT/pairs.txt        one "CUSTOMER_BEARER INVITATION_TOKEN" per line
  OUT/partner.token    a bearer of partner 0 (whose list will hold C customers once accepted)
  OUT/commerce.token   a bearer of the commerce partner
  OUT/order.txt        the offer id, then one customer id per line to order for
  OUT/subscriptions.path  the path of the customer's subscription list
"""
import json, sys, urllib.request, concurrent.futures as cf

base, operator, partners, customers, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
PW = "benchmark passphrase 1"

def call(path, body, token=None, client=None):
    # `client`: the address the server (trusting 127.0.0.1 as its proxy) counts the request
    # against, so seeding thousands of sign-ups is not one client over its hourly limit.
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if client:
        headers["x-forwarded-for"] = client
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(req) as r:
        return json.load(r)

def sign_in(email):
    return call("/api/v1/auth/token", {"email": email, "password": PW})["access_token"]

def partner(i):
    call("/api/v1/operator/partners", {"name": f"Bench Partner {i}", "partner_type": "direct", "partner_id": f"B{i}",
         "domain": f"bp{i}.example", "admin": {"email": f"ga@bp{i}.example", "display_name": "A", "password": PW}}, operator)
    return sign_in(f"ga@bp{i}.example")

def customer(i):
    call("/api/v1/signup", {"organization": {"name": f"Bench Customer {i:05}", "domain": f"bc{i}.example"},
         "admin": {"email": f"ga@bc{i}.example", "display_name": "C", "password": PW}},
         client=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}")
    return sign_in(f"ga@bc{i}.example")

with cf.ThreadPoolExecutor(8) as ex:
    ptokens = list(ex.map(partner, range(partners)))
    ctokens = list(ex.map(customer, range(customers)))
    def invitations(p):
        return [call("/api/v1/invitations", {}, ptokens[p])["url"].rsplit("/", 1)[1] for _ in range(customers)]
    invs = list(ex.map(invitations, range(partners)))

# Interleave partners so that concurrent acceptances touch different customers and partners.
with open(f"{out}/pairs.txt", "w") as f:
    for c in range(customers):
        for p in range(partners):
            f.write(f"{ctokens[c]} {invs[p][c]}\n")
with open(f"{out}/partner.token", "w") as f:
    f.write(ptokens[0])
print(f"seeded {partners} partners, {customers} customers, {partners * customers} invitations")

ORDER_CUSTOMERS, SUBSCRIPTIONS = 16, 20
call("/api/v1/operator/partners", {"name": "Bench Commerce", "partner_type": "direct", "partner_id": "BCOM",
     "domain": "bcom.example", "admin": {"email": "ga@bcom.example", "display_name": "A", "password": PW}}, operator)
ctoken = sign_in("ga@bcom.example")
offer = call("/api/v1/operator/offers", {"name": "Bench Mail", "unit_price_cents": 600, "currency": "EUR"}, operator)["id"]

def connected(i):
    return call("/api/v1/customers", {"name": f"Bench Buyer {i:03}", "domain": f"bb{i}.example",
                "admin": {"email": f"ga@bb{i}.example", "display_name": "B"}}, ctoken)["id"]

with cf.ThreadPoolExecutor(8) as ex:
    buyers = list(ex.map(connected, range(ORDER_CUSTOMERS + 1)))
holder = buyers.pop()
for _ in range(SUBSCRIPTIONS):
    call(f"/api/v1/customers/{holder}/orders", {"items": [{"offer_id": offer, "quantity": 5}]}, ctoken)
with open(f"{out}/commerce.token", "w") as f:
    f.write(ctoken)
with open(f"{out}/order.txt", "w") as f:
    f.write("\n".join([offer] + buyers) + "\n")
with open(f"{out}/subscriptions.path", "w") as f:
    f.write(f"/api/v1/customers/{holder}/subscriptions")
print(f"seeded {ORDER_CUSTOMERS} customers to order for, one holding {SUBSCRIPTIONS} subscriptions")
