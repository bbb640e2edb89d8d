-- Row-level security: tenant-facing queries run as role mt_tenant with
-- mt.tenant_id set (SET LOCAL ROLE mt_tenant; SELECT set_config('mt.tenant_id',
-- $1, true)), and then see only that tenant's rows. The services' own role owns
-- the tables and is not subject to the policies.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mt_tenant') THEN
        CREATE ROLE mt_tenant NOLOGIN;
    END IF;
END
$$;
GRANT mt_tenant TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO mt_tenant;
GRANT SELECT ON tiers, tenants, api_keys, request_logs, usage_records TO mt_tenant;

ALTER TABLE tenants       ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys      ENABLE ROW LEVEL SECURITY;
ALTER TABLE request_logs  ENABLE ROW LEVEL SECURITY;
ALTER TABLE usage_records ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_self ON tenants FOR SELECT TO mt_tenant
    USING (id = NULLIF (current_setting ('mt.tenant_id', true), '')::uuid);
CREATE POLICY tenant_rows ON api_keys FOR SELECT TO mt_tenant
    USING (tenant_id = NULLIF (current_setting ('mt.tenant_id', true), '')::uuid);
CREATE POLICY tenant_rows ON request_logs FOR SELECT TO mt_tenant
    USING (tenant_id = NULLIF (current_setting ('mt.tenant_id', true), '')::uuid);
CREATE POLICY tenant_rows ON usage_records FOR SELECT TO mt_tenant
    USING (tenant_id = NULLIF (current_setting ('mt.tenant_id', true), '')::uuid);
