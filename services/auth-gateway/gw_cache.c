//  Immutable snapshot of tenants and live API keys. Pure: no I/O. The store
//  thread builds one, hands it to the main thread, and nobody changes it after.
#include "gw_store.h"

#include <stdlib.h>
#include <string.h>

struct _gw_cache_t {
    zhashx_t *tenants;          //  tenant id -> gw_tenant_t *, owned
    zhashx_t *keys;             //  key hash -> gw_key_t *, owned
    zhashx_t *admins;           //  token hash -> gw_admin_token_t *, owned
};

static void
s_free_item (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  Caller owns; destroy with gw_cache_destroy. NULL if out of memory.
gw_cache_t *
gw_cache_new (void)
{
    gw_cache_t *self = (gw_cache_t *) calloc (1, sizeof (gw_cache_t));
    if (!self)
        return NULL;
    self->tenants = zhashx_new ();
    self->keys = zhashx_new ();
    self->admins = zhashx_new ();
    if (!self->tenants || !self->keys || !self->admins) {
        gw_cache_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->tenants, s_free_item);
    zhashx_set_destructor (self->keys, s_free_item);
    zhashx_set_destructor (self->admins, s_free_item);
    return self;
}

void
gw_cache_destroy (gw_cache_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    gw_cache_t *self = *self_p;
    //  Keys borrow tenants: drop keys first
    zhashx_destroy (&self->keys);
    zhashx_destroy (&self->tenants);
    zhashx_destroy (&self->admins);
    free (self);
    *self_p = NULL;
}

gw_tenant_t *
gw_cache_add_tenant (gw_cache_t *self, const gw_tenant_t *tenant)
{
    if (!self || !tenant || !tenant->id [0])
        return NULL;
    gw_tenant_t *copy = (gw_tenant_t *) malloc (sizeof (gw_tenant_t));
    if (!copy)
        return NULL;
    *copy = *tenant;
    //  Terminate every text field, whatever the caller left in it
    copy->id [sizeof copy->id - 1] = 0;
    copy->name [sizeof copy->name - 1] = 0;
    copy->tier [sizeof copy->tier - 1] = 0;
    copy->pool [sizeof copy->pool - 1] = 0;
    if (zhashx_lookup (self->tenants, copy->id)) {
        //  Same id twice: the later one wins, but keys that point at the
        //  old copy must not dangle, so update it in place
        gw_tenant_t *old = (gw_tenant_t *) zhashx_lookup (self->tenants, copy->id);
        *old = *copy;
        free (copy);
        return old;
    }
    if (zhashx_insert (self->tenants, copy->id, copy) != 0) {
        free (copy);
        return NULL;
    }
    return copy;
}

int
gw_cache_add_key (gw_cache_t *self, const char *key_hash, const char *key_id,
                  const char *tenant_id, int64_t expires_ms, int64_t revoke_ms)
{
    if (!self || !key_hash || !*key_hash || !key_id || !tenant_id)
        return -1;
    const gw_tenant_t *tenant = (const gw_tenant_t *) zhashx_lookup (self->tenants, tenant_id);
    if (!tenant)
        return -1;
    if (strlen (key_id) >= sizeof ((gw_key_t *) 0)->id)
        return -1;
    gw_key_t *key = (gw_key_t *) zhashx_lookup (self->keys, key_hash);
    bool fresh = !key;          //  Hashes are unique in the database; be safe
    if (fresh && !(key = (gw_key_t *) calloc (1, sizeof (gw_key_t))))
        return -1;
    snprintf (key->id, sizeof key->id, "%s", key_id);
    key->tenant = tenant;
    key->expires_ms = expires_ms > 0? expires_ms: 0;
    key->revoke_ms = revoke_ms > 0? revoke_ms: 0;
    if (fresh && zhashx_insert (self->keys, key_hash, key) != 0) {
        free (key);
        return -1;
    }
    return 0;
}

const gw_key_t *
gw_cache_find_key (gw_cache_t *self, const char *key_hash)
{
    if (!self || !key_hash)
        return NULL;
    return (const gw_key_t *) zhashx_lookup (self->keys, key_hash);
}

gw_key_state_t
gw_key_state (const gw_key_t *key, int64_t now_ms)
{
    if (!key)
        return GW_KEY_REVOKED;
    //  Both passed: the expiry is what the holder can act on, say that
    if (key->expires_ms && now_ms >= key->expires_ms)
        return GW_KEY_EXPIRED;
    if (key->revoke_ms && now_ms >= key->revoke_ms)
        return GW_KEY_REVOKED;
    return GW_KEY_LIVE;
}

int
gw_cache_add_admin (gw_cache_t *self, const char *token_hash, const char *id,
                    const char *name, bool viewer)
{
    if (!self || !token_hash || !*token_hash || !id || !name)
        return -1;
    if (strlen (id) >= sizeof ((gw_admin_token_t *) 0)->id)
        return -1;
    gw_admin_token_t *admin = (gw_admin_token_t *) zhashx_lookup (self->admins, token_hash);
    bool fresh = !admin;
    if (fresh && !(admin = (gw_admin_token_t *) calloc (1, sizeof (gw_admin_token_t))))
        return -1;
    snprintf (admin->id, sizeof admin->id, "%s", id);
    snprintf (admin->name, sizeof admin->name, "%s", name);
    admin->viewer = viewer;
    if (fresh && zhashx_insert (self->admins, token_hash, admin) != 0) {
        free (admin);
        return -1;
    }
    return 0;
}

const gw_admin_token_t *
gw_cache_find_admin (gw_cache_t *self, const char *token_hash)
{
    if (!self || !token_hash)
        return NULL;
    return (const gw_admin_token_t *) zhashx_lookup (self->admins, token_hash);
}

size_t
gw_cache_admin_count (gw_cache_t *self)
{
    return self? zhashx_size (self->admins): 0;
}

const gw_tenant_t *
gw_cache_find_tenant (gw_cache_t *self, const char *tenant_id)
{
    if (!self || !tenant_id)
        return NULL;
    return (const gw_tenant_t *) zhashx_lookup (self->tenants, tenant_id);
}

size_t
gw_cache_tenant_count (gw_cache_t *self)
{
    return self? zhashx_size (self->tenants): 0;
}

size_t
gw_cache_key_count (gw_cache_t *self)
{
    return self? zhashx_size (self->keys): 0;
}
