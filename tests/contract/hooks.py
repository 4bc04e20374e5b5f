"""Schemathesis hooks of the contract run: each operation is called with the token of someone
who may call it, and path ids name the seeded world (world.py), so cases reach the handlers
instead of stopping at 401/404. Operations that end something (DELETE, remove, revoke,
disable) get generated ids, so that the world stays whole for the rest of the run.
"""

import json
import os
import uuid

import schemathesis

WORLD = json.load(open(os.environ["PARTNERHUB_WORLD"]))
IDS = WORLD["ids"]

# The customer's own side of the API.
CUSTOMER_SIDE = ("/api/v1/partners", "/api/v1/subscriptions", "/api/v1/invitations/accept", "/api/v1/invitations/decline")
# Calls on the caller's own session or credentials: a spare user, whose sessions may end.
OWN_SESSION = ("/api/v1/auth/token", "/api/v1/me/sessions/{id}", "/api/v1/me/password", "/api/v1/me/mfa/totp",
               "/api/v1/me/mfa/totp/confirm")
ENDING = ("/remove-relationship", "/revoke-grants", "/revoke", "/disable", "/decline")


def token_for(method, path):
    if path.startswith("/api/v1/operator/"):
        return WORLD["operator"]
    if path in OWN_SESSION and method != "GET":
        return WORLD["spare_token"]
    if path.startswith(CUSTOMER_SIDE) or path == "/api/v1/users/{id}/licenses":
        return WORLD["customer_token"]
    if path.startswith(("/api/v1/users", "/api/v1/resellers", "/api/v1/providers", "/api/v1/audit", "/api/v1/webhooks")):
        return WORLD["partner_admin_token"]
    # The provider placed the order: it orders, and changes the subscription.
    if path == "/api/v1/customers/{id}/orders" or (method == "PATCH" and "/subscriptions/" in path):
        return WORLD["provider_token"]
    return WORLD["agent_token"]


PROTECTED = set(WORLD["protected"])


def ends_something(method, path):
    return method == "DELETE" or path.endswith(ENDING) or path.endswith("/reset-password") or (
        method == "PATCH" and path.startswith("/api/v1/users/"))


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    method, path = case.method.upper(), case.operation.path
    # Schemathesis reuses ids it read in earlier answers: one that would end the run's own
    # users or relationship is swapped for an id that names nothing.
    if ends_something(method, path) and case.path_parameters:
        for name, value in case.path_parameters.items():
            if value in PROTECTED:
                case.path_parameters[name] = str(uuid.uuid4())
    if path in ("/api/v1/signup", "/api/v1/invitations/preview", "/healthz", "/readyz", "/metrics"):
        return
    if case.headers is None:
        case.headers = {}
    # A case that tests the authorization header itself keeps what it was given.
    case.headers.setdefault("Authorization", f"Bearer {token_for(method, path)}")


def seeded(path, name):
    if name == "user_id":
        return IDS["tenant_user"]
    if name == "subscription_id":
        return IDS["subscription"]
    if name == "reseller_id":
        return IDS["reseller"]
    if name == "provider_id":
        return IDS["provider"]
    if path.startswith("/api/v1/customers/"):
        return IDS["customer"]
    if path.startswith("/api/v1/invitations/"):
        return IDS["invitation"]
    if path.startswith("/api/v1/users/"):
        return IDS["spare_user"]
    if path.startswith("/api/v1/operator/offers/"):
        return IDS["offer"]
    if path.startswith("/api/v1/partners/"):
        return IDS["reseller"]
    if path.startswith("/api/v1/webhooks/"):
        return IDS["webhook"]
    return None


@schemathesis.hook
def map_path_parameters(ctx, params):
    op = ctx.operation
    if params is None or op is None or op.method.upper() == "DELETE" or op.path.endswith(ENDING):
        return params
    for name in list(params):
        value = seeded(op.path, name)
        # Only a well-formed id is swapped: a malformed one is a negative case, kept as drawn.
        if value is not None and is_uuid(params[name]):
            params[name] = value
    return params


def is_uuid(value):
    try:
        uuid.UUID(str(value))
        return len(str(value)) == 36
    except ValueError:
        return False
