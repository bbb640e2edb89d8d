-- Key lifecycle (name, expiry, scheduled revocation, last use), admin tokens
-- as records with a role, and the audit trail of every admin write.

-- API keys: a name for humans, an expiry, a scheduled revocation (grace
-- period) and the last time a gateway saw the key. Gateways compare
-- expires_at and revoke_at with their own clock on every request, so both
-- take effect without a database write. last_used_at is written in batches
-- (at most once a second per gateway).
ALTER TABLE api_keys ADD COLUMN name         TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at   TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN revoke_at    TIMESTAMP;
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMP;

-- A last_used_at write must not make every gateway reload its cache: the
-- trigger fires only for the columns the cache holds.
DROP TRIGGER api_keys_notify ON api_keys;
CREATE TRIGGER api_keys_notify
    AFTER INSERT OR DELETE OR UPDATE OF id, tenant_id, key_hash, revoked_at, expires_at, revoke_at
    ON api_keys FOR EACH STATEMENT EXECUTE FUNCTION mt_cache_notify ();

-- Admin tokens: only the SHA-256 of a token is stored. role admin may do
-- everything, viewer may only read. MT_ADMIN_TOKEN is entered here by the
-- gateway on start (as "bootstrap-<hash prefix>") unless its hash is present.
CREATE TABLE admin_tokens (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    token_hash  TEXT NOT NULL UNIQUE,             -- SHA-256 hex of the whole token
    prefix      TEXT NOT NULL,                    -- first characters, for humans
    created_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    created_by  TEXT,                             -- admin token name, NULL = bootstrap
    revoked_at  TIMESTAMP
);
CREATE UNIQUE INDEX admin_tokens_name_live ON admin_tokens (name) WHERE revoked_at IS NULL;

CREATE TRIGGER admin_tokens_notify AFTER INSERT OR UPDATE OR DELETE ON admin_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION mt_cache_notify ();

-- One row per state-changing admin call, written in the same transaction as
-- the change. before/after hold the changed object's fields, never a secret.
CREATE TABLE audit_log (
    id          BIGSERIAL PRIMARY KEY,
    at          TIMESTAMP NOT NULL DEFAULT (clock_timestamp() AT TIME ZONE 'UTC'),
    admin_name  TEXT NOT NULL,                    -- the admin token's name
    admin_id    UUID,                             -- the admin token's id
    action      TEXT NOT NULL,                    -- tenant.create, key.revoke, ...
    target_type TEXT NOT NULL,                    -- tenant, api_key, admin_token
    target_id   TEXT NOT NULL,
    tenant_id   UUID,                             -- the tenant concerned, if any
    before      JSONB,
    after       JSONB,
    request_id  TEXT
);
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
CREATE INDEX audit_log_at ON audit_log (at);

-- Row-level security: audit rows name tenants. No tenant-facing route reads
-- them today; the policy keeps it so if one ever does.
GRANT SELECT ON audit_log TO mt_tenant;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant_rows ON audit_log FOR SELECT TO mt_tenant
    USING (tenant_id = NULLIF (current_setting ('mt.tenant_id', true), '')::uuid);
-- admin_tokens hold no tenant rows: mt_tenant has no grant and no policy.
ALTER TABLE admin_tokens ENABLE ROW LEVEL SECURITY;
