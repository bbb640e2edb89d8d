//  auth-gateway: the scheduler's last Catalog (see gw_catalog.h).
#include "gw_catalog.h"

#include "mt_codec.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct _gw_catalog_t {
    Mt__Envelope *env;              //  last Catalog from the scheduler, owned; or NULL
    uint64_t heard_mono;            //  when it came
};

gw_catalog_t *
gw_catalog_new (void)
{
    return (gw_catalog_t *) calloc (1, sizeof (gw_catalog_t));
}

void
gw_catalog_destroy (gw_catalog_t **self_p)
{
    assert (self_p);
    gw_catalog_t *self = *self_p;
    if (!self)
        return;
    mt_codec_free (&self->env);
    free (self);
    *self_p = NULL;
}

void
gw_catalog_set (gw_catalog_t *self, Mt__Envelope **env_p, uint64_t now_mono)
{
    assert (self && env_p && *env_p);
    assert ((*env_p)->body_case == MT__ENVELOPE__BODY_CATALOG);
    mt_codec_free (&self->env);
    self->env = *env_p;
    self->heard_mono = now_mono;
    *env_p = NULL;
}

Mt__Catalog *
gw_catalog_get (gw_catalog_t *self)
{
    assert (self);
    return self->env? self->env->catalog: NULL;
}

uint64_t
gw_catalog_age (gw_catalog_t *self, uint64_t now_mono)
{
    assert (self);
    return self->env? now_mono - self->heard_mono: 0;
}

bool
gw_catalog_fresh (gw_catalog_t *self, uint64_t now_mono)
{
    assert (self);
    return self->env && now_mono - self->heard_mono < GW_CATALOG_STALE_MS;
}

Mt__PoolModels *
gw_catalog_pool (gw_catalog_t *self, const char *pool)
{
    assert (self && pool);
    Mt__Catalog *cat = gw_catalog_get (self);
    Mt__PoolModels *found = NULL;
    for (size_t i = 0; cat && i < cat->n_pools; i++)
        if (!strcmp (cat->pools [i]->pool, pool))
            found = cat->pools [i];     //  the last of that name, as ever
    return found;
}

size_t
gw_catalog_models (gw_catalog_t *self)
{
    assert (self);
    Mt__Catalog *cat = gw_catalog_get (self);
    size_t models = 0;
    for (size_t i = 0; cat && i < cat->n_pools; i++)
        models += cat->pools [i]->n_models;
    return models;
}
