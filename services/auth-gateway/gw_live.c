//  Per-tenant activity seen by this gateway, bounded; see gw_live.h.
#include "gw_live.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *gw_live_outcome_names [GW_LIVE_OUTCOMES] = {
    "ok", "error", "cancelled", "refused", "rejected"
};
const char *gw_live_reason_names [GW_LIVE_REASONS] = {
    "requests_per_minute", "tokens_per_minute", "concurrency", "daily_quota"
};

//  Histogram buckets, seconds.
static const double s_buckets [] = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60
};
#define S_NBUCKETS (sizeof s_buckets / sizeof s_buckets [0])

typedef struct {
    uint64_t count [S_NBUCKETS + 1];    //  per bucket, not cumulative; last = +Inf
    double sum;
    uint64_t n;
} s_hist_t;

typedef struct {
    char pool [64];
    char tier [32];
    s_hist_t queue;                     //  queue wait
    s_hist_t ttft;                      //  time to first token
} s_pair_t;

typedef struct {
    char id [37];
    uint64_t outcome [GW_LIVE_OUTCOMES];
    uint64_t refused [GW_LIVE_REASONS];
    uint64_t prompt, completion;
    uint64_t sec_stamp [60];            //  second (epoch) each slot counts
    uint64_t sec_tokens [60];
    uint64_t sec_requests [60];
    uint64_t last_ms;                   //  last activity
} s_tenant_t;

typedef struct {
    uint64_t at_ms;
    char req [48];
    char tenant [37];
    unsigned status;
    char code [48];
    char message [160];
} s_error_t;

struct _gw_live_t {
    zhashx_t *tenants;                  //  id -> s_tenant_t, owned
    s_tenant_t other;                   //  everything not tracked
    size_t max_tenants;
    s_pair_t pairs [GW_LIVE_PAIRS_MAX];
    size_t npairs;
    s_error_t errors [GW_LIVE_ERRORS];  //  ring
    size_t nerrors;                     //  ever added
};

static void
s_tenant_free (void **item)
{
    free (*item);
    *item = NULL;
}

gw_live_t *
gw_live_new (size_t max_tenants)
{
    gw_live_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->tenants = zhashx_new ();
    if (!self->tenants) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->tenants, s_tenant_free);
    snprintf (self->other.id, sizeof self->other.id, "%s", GW_LIVE_OTHER);
    self->max_tenants = max_tenants;
    return self;
}

void
gw_live_destroy (gw_live_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->tenants);
    free (*self_p);
    *self_p = NULL;
}

int
gw_live_reason (const mt_error_t *err)
{
    if (!err || err->status != 429)
        return -1;
    if (!strcmp (err->code, "concurrency_limit_exceeded"))
        return GW_LIVE_CONCURRENCY;
    if (!strcmp (err->code, "quota_exceeded"))
        return GW_LIVE_DAILY;
    if (!strcmp (err->code, "rate_limit_exceeded"))
        return !strcmp (err->type, "tokens")? GW_LIVE_TPM: GW_LIVE_RPM;
    return -1;
}

gw_live_outcome_t
gw_live_outcome (const char *status)
{
    if (status && !strcmp (status, "ok"))
        return GW_LIVE_OK;
    if (status && !strcmp (status, "cancelled"))
        return GW_LIVE_CANCELLED;
    return GW_LIVE_ERROR;
}

//  The tenant's record, made when there is room; else "_other".
static s_tenant_t *
s_tenant (gw_live_t *self, const char *id, uint64_t now_ms)
{
    if (!id || !*id || strlen (id) >= sizeof self->other.id)
        return &self->other;
    s_tenant_t *t = zhashx_lookup (self->tenants, id);
    if (!t && zhashx_size (self->tenants) < self->max_tenants) {
        t = calloc (1, sizeof *t);
        if (t) {
            snprintf (t->id, sizeof t->id, "%s", id);
            zhashx_insert (self->tenants, t->id, t);
        }
    }
    if (!t)
        t = &self->other;
    t->last_ms = now_ms;
    return t;
}

static void
s_second (s_tenant_t *t, uint64_t now_ms, uint64_t tokens, uint64_t requests)
{
    uint64_t sec = now_ms / 1000;
    size_t i = sec % 60;
    if (t->sec_stamp [i] != sec) {
        t->sec_stamp [i] = sec;
        t->sec_tokens [i] = 0;
        t->sec_requests [i] = 0;
    }
    t->sec_tokens [i] += tokens;
    t->sec_requests [i] += requests;
}

static uint64_t
s_minute (const s_tenant_t *t, uint64_t now_ms, bool tokens)
{
    uint64_t sec = now_ms / 1000, sum = 0;
    for (size_t i = 0; i < 60; i++)
        if (t->sec_stamp [i] + 60 > sec && t->sec_stamp [i] <= sec)
            sum += tokens? t->sec_tokens [i]: t->sec_requests [i];
    return sum;
}

static void
s_observe (s_hist_t *h, double v)
{
    size_t b = 0;
    while (b < S_NBUCKETS && v > s_buckets [b])
        b++;
    h->count [b]++;
    h->sum += v;
    h->n++;
}

static s_pair_t *
s_pair (gw_live_t *self, const char *pool, const char *tier)
{
    for (size_t i = 0; i < self->npairs; i++)
        if (!strcmp (self->pairs [i].pool, pool) && !strcmp (self->pairs [i].tier, tier))
            return &self->pairs [i];
    if (self->npairs == GW_LIVE_PAIRS_MAX
    ||  strlen (pool) >= sizeof self->pairs [0].pool || strlen (tier) >= sizeof self->pairs [0].tier)
        return NULL;
    s_pair_t *p = &self->pairs [self->npairs++];
    snprintf (p->pool, sizeof p->pool, "%s", pool);
    snprintf (p->tier, sizeof p->tier, "%s", tier);
    return p;
}

void
gw_live_done (gw_live_t *self, const char *tenant, const char *pool, const char *tier,
              gw_live_outcome_t outcome, uint32_t prompt, uint32_t completion,
              double ttft_s, double queue_s, uint64_t now_ms)
{
    s_tenant_t *t = s_tenant (self, tenant, now_ms);
    t->outcome [outcome < GW_LIVE_OUTCOMES? outcome: GW_LIVE_ERROR]++;
    t->prompt += prompt;
    t->completion += completion;
    s_second (t, now_ms, (uint64_t) prompt + completion, 1);
    if (ttft_s < 0 && queue_s < 0)
        return;
    s_pair_t *p = s_pair (self, pool? pool: "", tier? tier: "");
    if (!p)
        return;
    if (ttft_s >= 0)
        s_observe (&p->ttft, ttft_s);
    if (queue_s >= 0)
        s_observe (&p->queue, queue_s);
}

void
gw_live_error (gw_live_t *self, const char *req_id, const char *tenant, const mt_error_t *err,
               const char *message, bool counted, uint64_t now_ms)
{
    if (!err)
        return;
    if (counted && tenant && *tenant) {
        s_tenant_t *t = s_tenant (self, tenant, now_ms);
        int reason = gw_live_reason (err);
        if (reason >= 0) {
            t->outcome [GW_LIVE_REFUSED]++;
            t->refused [reason]++;
        }
        else
            t->outcome [GW_LIVE_REJECTED]++;
        s_second (t, now_ms, 0, 1);
    }
    s_error_t *e = &self->errors [self->nerrors++ % GW_LIVE_ERRORS];
    e->at_ms = now_ms;
    snprintf (e->req, sizeof e->req, "%s", req_id? req_id: "");
    snprintf (e->tenant, sizeof e->tenant, "%s", tenant? tenant: "");
    e->status = err->status;
    snprintf (e->code, sizeof e->code, "%s", err->code);
    snprintf (e->message, sizeof e->message, "%s", message? message: err->message);
}

void
gw_live_expire (gw_live_t *self, uint64_t now_ms, uint64_t idle_ms)
{
    zlistx_t *keys = zhashx_keys (self->tenants);
    if (!keys)
        return;
    for (const char *k = zlistx_first (keys); k; k = zlistx_next (keys)) {
        s_tenant_t *t = zhashx_lookup (self->tenants, k);
        if (!t || t->last_ms + idle_ms > now_ms)
            continue;
        //  Its counts move to "_other" so every sum over tenants stays monotonic
        for (int i = 0; i < GW_LIVE_OUTCOMES; i++)
            self->other.outcome [i] += t->outcome [i];
        for (int i = 0; i < GW_LIVE_REASONS; i++)
            self->other.refused [i] += t->refused [i];
        self->other.prompt += t->prompt;
        self->other.completion += t->completion;
        zhashx_delete (self->tenants, k);
    }
    zlistx_destroy (&keys);
}

size_t
gw_live_tenant_count (gw_live_t *self)
{
    return zhashx_size (self->tenants);
}

uint64_t
gw_live_tokens_minute (gw_live_t *self, const char *tenant, uint64_t now_ms)
{
    s_tenant_t *t = tenant? zhashx_lookup (self->tenants, tenant): NULL;
    return t? s_minute (t, now_ms, true): 0;
}

uint64_t
gw_live_requests_minute (gw_live_t *self, const char *tenant, uint64_t now_ms)
{
    s_tenant_t *t = tenant? zhashx_lookup (self->tenants, tenant): NULL;
    return t? s_minute (t, now_ms, false): 0;
}

//  --------------------------------------------------------------------------
//  Prometheus text

static void
s_tenant_series (FILE *f, const s_tenant_t *t, gw_live_limit_fn *limit, void *arg)
{
    for (int i = 0; i < GW_LIVE_OUTCOMES; i++)
        fprintf (f, "mt_gw_tenant_requests_total{tenant=\"%s\",outcome=\"%s\"} %llu\n", t->id,
                 gw_live_outcome_names [i], (unsigned long long) t->outcome [i]);
    for (int i = 0; i < GW_LIVE_REASONS; i++)
        fprintf (f, "mt_gw_tenant_refusals_total{tenant=\"%s\",reason=\"%s\"} %llu\n", t->id,
                 gw_live_reason_names [i], (unsigned long long) t->refused [i]);
    fprintf (f, "mt_gw_tenant_prompt_tokens_total{tenant=\"%s\"} %llu\n", t->id,
             (unsigned long long) t->prompt);
    fprintf (f, "mt_gw_tenant_completion_tokens_total{tenant=\"%s\"} %llu\n", t->id,
             (unsigned long long) t->completion);
    uint64_t daily = limit && strcmp (t->id, GW_LIVE_OTHER)? limit (arg, t->id): 0;
    if (daily)
        fprintf (f, "mt_gw_tenant_daily_token_limit{tenant=\"%s\"} %llu\n", t->id,
                 (unsigned long long) daily);
}

static void
s_hist_series (FILE *f, const char *name, const s_pair_t *p, const s_hist_t *h)
{
    uint64_t cum = 0;
    for (size_t b = 0; b <= S_NBUCKETS; b++) {
        cum += h->count [b];
        if (b < S_NBUCKETS)
            fprintf (f, "%s_bucket{pool=\"%s\",tier=\"%s\",le=\"%g\"} %llu\n", name, p->pool,
                     p->tier, s_buckets [b], (unsigned long long) cum);
        else
            fprintf (f, "%s_bucket{pool=\"%s\",tier=\"%s\",le=\"+Inf\"} %llu\n", name, p->pool,
                     p->tier, (unsigned long long) cum);
    }
    fprintf (f, "%s_sum{pool=\"%s\",tier=\"%s\"} %.6f\n", name, p->pool, p->tier, h->sum);
    fprintf (f, "%s_count{pool=\"%s\",tier=\"%s\"} %llu\n", name, p->pool, p->tier,
             (unsigned long long) h->n);
}

char *
gw_live_metrics (gw_live_t *self, gw_live_limit_fn *limit, void *arg)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream (&buf, &size);
    if (!f)
        return NULL;
    fprintf (f, "# HELP mt_gw_tenant_requests_total requests per tenant by outcome (tenant \"_other\": beyond the tracked set)\n"
                "# TYPE mt_gw_tenant_requests_total counter\n"
                "# HELP mt_gw_tenant_refusals_total 429 refusals per tenant by reason\n"
                "# TYPE mt_gw_tenant_refusals_total counter\n"
                "# HELP mt_gw_tenant_prompt_tokens_total prompt tokens billed per tenant\n"
                "# TYPE mt_gw_tenant_prompt_tokens_total counter\n"
                "# HELP mt_gw_tenant_completion_tokens_total completion tokens billed per tenant\n"
                "# TYPE mt_gw_tenant_completion_tokens_total counter\n"
                "# HELP mt_gw_tenant_daily_token_limit daily token limit of a tracked tenant (absent = unlimited)\n"
                "# TYPE mt_gw_tenant_daily_token_limit gauge\n");
    for (s_tenant_t *t = zhashx_first (self->tenants); t; t = zhashx_next (self->tenants))
        s_tenant_series (f, t, limit, arg);
    s_tenant_series (f, &self->other, NULL, NULL);
    fprintf (f, "# HELP mt_gw_tenants_tracked tenants with series of their own\n"
                "# TYPE mt_gw_tenants_tracked gauge\n"
                "mt_gw_tenants_tracked %zu\n", zhashx_size (self->tenants));
    fprintf (f, "# HELP mt_gw_queue_wait_seconds time to first token at the gateway less the engine's, by pool and tier\n"
                "# TYPE mt_gw_queue_wait_seconds histogram\n");
    for (size_t i = 0; i < self->npairs; i++)
        s_hist_series (f, "mt_gw_queue_wait_seconds", &self->pairs [i], &self->pairs [i].queue);
    fprintf (f, "# HELP mt_gw_time_to_first_token_seconds arrival to first token, by pool and tier\n"
                "# TYPE mt_gw_time_to_first_token_seconds histogram\n");
    for (size_t i = 0; i < self->npairs; i++)
        s_hist_series (f, "mt_gw_time_to_first_token_seconds", &self->pairs [i], &self->pairs [i].ttft);
    fclose (f);
    return buf;
}

//  --------------------------------------------------------------------------
//  JSON for the console

static void
s_iso (uint64_t ms, char out [32])
{
    time_t s = (time_t) (ms / 1000);
    struct tm tm;
    gmtime_r (&s, &tm);
    strftime (out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *
gw_live_errors_json (gw_live_t *self)
{
    json_t *list = json_array ();
    size_t n = self->nerrors < GW_LIVE_ERRORS? self->nerrors: GW_LIVE_ERRORS;
    for (size_t k = 0; list && k < n; k++) {
        const s_error_t *e = &self->errors [(self->nerrors - 1 - k) % GW_LIVE_ERRORS];
        char at [32];
        s_iso (e->at_ms, at);
        json_array_append_new (list, json_pack ("{s:s, s:s, s:s?, s:i, s:s, s:s}", "time", at,
                               "request_id", e->req, "tenant_id", *e->tenant? e->tenant: NULL,
                               "status", (int) e->status, "code", e->code, "message", e->message));
    }
    return list;
}

static uint64_t
s_refusals (const s_tenant_t *t)
{
    uint64_t n = 0;
    for (int i = 0; i < GW_LIVE_REASONS; i++)
        n += t->refused [i];
    return n;
}

static json_t *
s_reasons (const uint64_t *r)
{
    json_t *o = json_object ();
    for (int i = 0; o && i < GW_LIVE_REASONS; i++)
        json_object_set_new (o, gw_live_reason_names [i], json_integer ((json_int_t) r [i]));
    return o;
}

static int
s_by_refusals (const void *a, const void *b)
{
    uint64_t x = s_refusals (*(const s_tenant_t *const *) a);
    uint64_t y = s_refusals (*(const s_tenant_t *const *) b);
    return x < y? 1: x > y? -1: 0;
}

json_t *
gw_live_refusals_json (gw_live_t *self, size_t max)
{
    uint64_t total [GW_LIVE_REASONS];
    memcpy (total, self->other.refused, sizeof total);
    size_t n = zhashx_size (self->tenants), k = 0;
    const s_tenant_t **all = calloc (n? n: 1, sizeof *all);
    if (!all)
        return NULL;
    for (s_tenant_t *t = zhashx_first (self->tenants); t && k < n; t = zhashx_next (self->tenants)) {
        for (int i = 0; i < GW_LIVE_REASONS; i++)
            total [i] += t->refused [i];
        if (s_refusals (t))
            all [k++] = t;
    }
    qsort (all, k, sizeof *all, s_by_refusals);
    json_t *tenants = json_array ();
    for (size_t i = 0; tenants && i < k && i < max; i++)
        json_array_append_new (tenants, json_pack ("{s:s, s:o}", "tenant_id", all [i]->id,
                                                   "reasons", s_reasons (all [i]->refused)));
    if (s_refusals (&self->other) && tenants)
        json_array_append_new (tenants, json_pack ("{s:s, s:o}", "tenant_id", GW_LIVE_OTHER,
                                                   "reasons", s_reasons (self->other.refused)));
    free (all);
    return json_pack ("{s:o, s:o}", "total", s_reasons (total), "tenants", tenants);
}

typedef struct {
    const s_tenant_t *t;
    uint64_t tokens, requests;
} s_rank_t;

static int
s_by_activity (const void *a, const void *b)
{
    const s_rank_t *x = a, *y = b;
    if (x->tokens != y->tokens)
        return x->tokens < y->tokens? 1: -1;
    if (x->requests != y->requests)
        return x->requests < y->requests? 1: -1;
    return strcmp (x->t->id, y->t->id);
}

size_t
gw_live_busiest (gw_live_t *self, uint64_t now_ms, const char **out, size_t max)
{
    size_t n = zhashx_size (self->tenants), k = 0;
    s_rank_t *all = calloc (n? n: 1, sizeof *all);
    if (!all)
        return 0;
    for (s_tenant_t *t = zhashx_first (self->tenants); t && k < n; t = zhashx_next (self->tenants)) {
        s_rank_t r = { t, s_minute (t, now_ms, true), s_minute (t, now_ms, false) };
        if (r.tokens || r.requests)
            all [k++] = r;
    }
    qsort (all, k, sizeof *all, s_by_activity);
    size_t m = 0;
    for (; m < k && m < max; m++)
        out [m] = all [m].t->id;
    free (all);
    return m;
}
