"""A client generated from the served OpenAPI document (openapi-python-client, by run.sh) walks
the first flow as a program written against the document would: a partner agent invites, a new
customer signs up, signs in, previews and accepts, and the partner then lists its customers and
finds it. Every call goes through the generated functions and models; nothing is hand-built.

    PYTHONPATH=DIR_WITH_partnerhub_client python client_check.py world.json
"""

import json
import sys
import uuid

from partnerhub_client import AuthenticatedClient, Client
from partnerhub_client.api.auth import create_token, signup
from partnerhub_client.api.customers import list_customers
from partnerhub_client.api.invitations import accept_invitation, create_invitation, preview_invitation
from partnerhub_client.models import (
    AcceptResponse,
    CreateInvitationRequest,
    InvitationPreviewResponse,
    InvitationResponse,
    InvitationTokenRequest,
    ListResponseCustomerResponse,
    NewAdmin,
    SignupOrganization,
    SignupRequest,
    SignupResponse,
    TokenRequest,
    TokenResponse,
)

world = json.load(open(sys.argv[1]))
base = world["base"]
agent = AuthenticatedClient(base_url=base, token=world["agent_token"], raise_on_unexpected_status=True)


def expect(value, kind, what):
    if not isinstance(value, kind):
        sys.exit(f"client_check: {what} answered {value!r}, not a {kind.__name__}")
    return value


invitation = expect(create_invitation.sync(client=agent, body=CreateInvitationRequest(locale="en")), InvitationResponse, "create_invitation")
token = invitation.url.rsplit("/", 1)[1]

run = uuid.uuid4().hex[:8]
anonymous = Client(base_url=base, raise_on_unexpected_status=True)
email = f"ga@client-{run}.example"
password = "a generated client walks the flow"
expect(signup.sync(client=anonymous, body=SignupRequest(
    organization=SignupOrganization(name=f"Client Check {run}", domain=f"client-{run}.example"),
    admin=NewAdmin(email=email, display_name="Cleo", password=password),
)), SignupResponse, "signup")
signed_in = expect(create_token.sync(client=anonymous, body=TokenRequest(email=email, password=password)), TokenResponse, "create_token")
customer = AuthenticatedClient(base_url=base, token=signed_in.access_token, raise_on_unexpected_status=True)

preview = expect(preview_invitation.sync(client=anonymous, body=InvitationTokenRequest(token=token)), InvitationPreviewResponse, "preview")
accepted = expect(accept_invitation.sync(client=customer, body=InvitationTokenRequest(token=token)), AcceptResponse, "accept")
assert accepted.relationships and accepted.grants, accepted

# The partner's list, page after page through next_cursor, holds the new customer.
found, cursor, pages = False, None, 0
while True:
    kwargs = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
    page = expect(list_customers.sync(client=agent, **kwargs), ListResponseCustomerResponse, "list_customers")
    pages += 1
    found = found or any(c.domain == f"client-{run}.example" for c in page.items)
    cursor = page.next_cursor
    if not cursor:
        break
if not found:
    sys.exit("client_check: the accepted customer is not in the partner's customers")
print(f"generated client: invited, signed up, previewed ({preview.partner.name}), accepted "
      f"({len(accepted.grants)} grants), and found the customer in {pages} page(s) of {page.total}")
