-- TOTP (RFC 6238) second factor: one secret per user, pending until confirmed, and its
-- recovery codes. The secret is sealed by the service (AES-256-GCM under a key derived from
-- the server secret, nonce || ciphertext || tag, bound to the user id): never stored in clear.

CREATE TABLE totp_secrets (
    user_id         BLOB PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    organization_id BLOB NOT NULL REFERENCES organizations (id),
    sealed_secret   BLOB NOT NULL,
    created_at      INTEGER NOT NULL,
    confirmed_at    INTEGER, -- NULL while the enrolment is pending: not asked at sign-in yet
    last_used_step  INTEGER  -- the last 30 s step whose code was accepted: codes of it or earlier are refused (replay)
) STRICT;

-- SHA-256 of each unused recovery code; a used one is deleted.
CREATE TABLE totp_recovery_codes (
    user_id   BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash BLOB NOT NULL,
    PRIMARY KEY (user_id, code_hash)
) STRICT;
