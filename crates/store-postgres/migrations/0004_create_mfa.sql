-- TOTP (RFC 6238) second factor: one secret per user, pending until confirmed, and its
-- recovery codes; the same tables as SQLite's migration of the same name. The secret is
-- sealed by the service (AES-256-GCM under a key derived from the server secret, nonce ||
-- ciphertext || tag, bound to the user id): never stored in clear.

CREATE TABLE totp_secrets (
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    sealed_secret   bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    confirmed_at    timestamptz, -- NULL while the enrolment is pending: not asked at sign-in yet
    last_used_step  bigint       -- the last 30 s step whose code was accepted: codes of it or earlier are refused (replay)
);
ALTER TABLE totp_secrets ADD PRIMARY KEY (user_id);

-- SHA-256 of each unused recovery code; a used one is deleted.
CREATE TABLE totp_recovery_codes (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash bytea NOT NULL
);
ALTER TABLE totp_recovery_codes ADD PRIMARY KEY (user_id, code_hash);
