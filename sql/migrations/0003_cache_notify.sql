-- Gateways cache tenants, keys and tiers, and LISTEN on mt_cache: any change
-- to those tables tells every gateway to refresh (a revoked key stops working
-- everywhere within a second).
CREATE FUNCTION mt_cache_notify () RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify ('mt_cache', TG_TABLE_NAME);
    RETURN NULL;
END
$$;

CREATE TRIGGER tiers_notify AFTER INSERT OR UPDATE OR DELETE ON tiers
    FOR EACH STATEMENT EXECUTE FUNCTION mt_cache_notify ();
CREATE TRIGGER tenants_notify AFTER INSERT OR UPDATE OR DELETE ON tenants
    FOR EACH STATEMENT EXECUTE FUNCTION mt_cache_notify ();
CREATE TRIGGER api_keys_notify AFTER INSERT OR UPDATE OR DELETE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION mt_cache_notify ();
