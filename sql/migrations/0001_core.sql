-- Tiers, tenants, API keys, the ledger (request_logs, usage_records).
-- All timestamps are UTC, stored as TIMESTAMP WITHOUT TIME ZONE.

CREATE TABLE tiers (
    name                    TEXT PRIMARY KEY,
    requests_per_minute     BIGINT NOT NULL CHECK (requests_per_minute >= 0),
    tokens_per_minute       BIGINT NOT NULL CHECK (tokens_per_minute >= 0),
    daily_token_limit       BIGINT CHECK (daily_token_limit >= 0),   -- NULL = unlimited
    max_concurrent_requests INT    NOT NULL CHECK (max_concurrent_requests > 0),
    weight                  INT    NOT NULL CHECK (weight > 0),
    pool                    TEXT   NOT NULL
);

INSERT INTO tiers (name, requests_per_minute, tokens_per_minute, daily_token_limit,
                   max_concurrent_requests, weight, pool) VALUES
    ('free',          100,    10000,    100000,   5,  1, 'standard'),
    ('pro',          1000,   100000,  10000000,  20,  4, 'standard'),
    ('enterprise',  10000,  1000000,      NULL, 100, 16, 'premium');

-- A tenant's own limit, where set (not NULL), overrides its tier's.
CREATE TABLE tenants (
    id                      UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name                    TEXT NOT NULL,
    tier                    TEXT NOT NULL REFERENCES tiers (name),
    max_concurrent_requests INT    CHECK (max_concurrent_requests > 0),
    daily_token_limit       BIGINT CHECK (daily_token_limit >= 0),
    requests_per_minute     BIGINT CHECK (requests_per_minute >= 0),
    tokens_per_minute       BIGINT CHECK (tokens_per_minute >= 0),
    created_at              TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    deleted_at              TIMESTAMP
);
CREATE UNIQUE INDEX tenants_name_live ON tenants (name) WHERE deleted_at IS NULL;

CREATE TABLE api_keys (
    id          UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   UUID NOT NULL REFERENCES tenants (id),
    key_hash    TEXT NOT NULL UNIQUE,             -- SHA-256 hex of the whole key
    prefix      TEXT NOT NULL,                    -- first characters, for humans
    created_at  TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC'),
    revoked_at  TIMESTAMP
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- One row per request; request_id makes a resent usage event a no-op.
CREATE TABLE request_logs (
    id                BIGSERIAL PRIMARY KEY,
    request_id        TEXT NOT NULL UNIQUE,
    tenant_id         UUID NOT NULL,
    key_id            UUID,
    model             TEXT NOT NULL,
    pool              TEXT NOT NULL,
    prompt_tokens     INT  NOT NULL CHECK (prompt_tokens >= 0),
    completion_tokens INT  NOT NULL CHECK (completion_tokens >= 0),
    latency           INT  NOT NULL,                -- ms, arrival to last byte
    ttft              INT  NOT NULL,                -- ms, arrival to first token
    status            TEXT NOT NULL,                -- ok, cancelled, error
    http_status       INT  NOT NULL,
    timestamp         TIMESTAMP NOT NULL            -- arrival, UTC
);
CREATE INDEX request_logs_tenant_time ON request_logs (tenant_id, timestamp);

-- Hourly rollup: tokens_used = SUM(prompt_tokens + completion_tokens),
-- timestamp = date_trunc('hour', request timestamp), UTC.
CREATE TABLE usage_records (
    tenant_id         UUID      NOT NULL,
    timestamp         TIMESTAMP NOT NULL,
    tokens_used       BIGINT    NOT NULL DEFAULT 0,
    request_count     BIGINT    NOT NULL DEFAULT 0,
    prompt_tokens     BIGINT    NOT NULL DEFAULT 0,
    completion_tokens BIGINT    NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, timestamp)
);
