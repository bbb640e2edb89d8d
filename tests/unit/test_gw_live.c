//  Unit tests of the console's pure parts: per-tenant activity (gw_live.c),
//  console file lookup and the usage series query (gw_console.c, gw_series.c).
#include "mt_test.h"
#include "gw_live.h"
#include "gw_console.h"

#include <stdlib.h>

static const uint64_t T0 = 1795982400000ULL;   //  2026-11-29T20:00:00Z

static void
test_reasons (void)
{
    struct { const char *code; int want; } cases [] = {
        { "rate_limit_exceeded", -2 },          //  by type, below
        { "concurrency_limit_exceeded", GW_LIVE_CONCURRENCY },
        { "quota_exceeded", GW_LIVE_DAILY },
        { "invalid_api_key", -1 },
        { "service_unavailable", -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        const mt_error_t *err = mt_error_lookup (cases [i].code);
        if (cases [i].want == -2) {
            mt_error_t e = *err;
            e.type = "tokens";
            CHECK_INT (gw_live_reason (&e), GW_LIVE_TPM);
            e.type = "requests";
            CHECK_INT (gw_live_reason (&e), GW_LIVE_RPM);
        }
        else
            CHECK_INT (gw_live_reason (err), cases [i].want);
    }
    CHECK_INT (gw_live_reason (NULL), -1);
    CHECK_INT (gw_live_outcome ("ok"), GW_LIVE_OK);
    CHECK_INT (gw_live_outcome ("cancelled"), GW_LIVE_CANCELLED);
    CHECK_INT (gw_live_outcome ("error"), GW_LIVE_ERROR);
    CHECK_INT (gw_live_outcome (NULL), GW_LIVE_ERROR);
}

static uint64_t
s_limit (void *arg, const char *tenant)
{
    (void) arg;
    return !strcmp (tenant, "a")? 1000: 0;
}

static void
test_bounded (void)
{
    gw_live_t *live = gw_live_new (2);
    CHECK (live != NULL);
    gw_live_done (live, "a", "standard", "free", GW_LIVE_OK, 10, 20, 0.05, 0.01, T0);
    gw_live_done (live, "b", "standard", "pro", GW_LIVE_ERROR, 1, 2, -1, -1, T0);
    gw_live_done (live, "c", "premium", "enterprise", GW_LIVE_OK, 5, 5, 0.2, -1, T0);    //  over: _other
    gw_live_done (live, "", "standard", "free", GW_LIVE_OK, 1, 1, -1, -1, T0);          //  no tenant: _other
    CHECK_INT (gw_live_tenant_count (live), 2);
    CHECK_INT (gw_live_tokens_minute (live, "a", T0 + 1000), 30);
    CHECK_INT (gw_live_requests_minute (live, "a", T0 + 1000), 1);
    CHECK_INT (gw_live_tokens_minute (live, "a", T0 + 61000), 0);       //  a minute later: gone
    CHECK_INT (gw_live_tokens_minute (live, "c", T0), 0);               //  not tracked
    char *text = gw_live_metrics (live, s_limit, NULL);
    CHECK (text != NULL);
    if (text) {
        CHECK (strstr (text, "mt_gw_tenant_requests_total{tenant=\"a\",outcome=\"ok\"} 1\n") != NULL);
        CHECK (strstr (text, "mt_gw_tenant_requests_total{tenant=\"b\",outcome=\"error\"} 1\n") != NULL);
        CHECK (strstr (text, "mt_gw_tenant_requests_total{tenant=\"_other\",outcome=\"ok\"} 2\n") != NULL);
        CHECK (strstr (text, "mt_gw_tenant_prompt_tokens_total{tenant=\"_other\"} 6\n") != NULL);
        CHECK (strstr (text, "tenant=\"c\"") == NULL);
        CHECK (strstr (text, "mt_gw_tenant_daily_token_limit{tenant=\"a\"} 1000\n") != NULL);
        CHECK (strstr (text, "mt_gw_tenant_daily_token_limit{tenant=\"b\"}") == NULL);
        CHECK (strstr (text, "mt_gw_time_to_first_token_seconds_bucket{pool=\"standard\",tier=\"free\",le=\"0.05\"} 1\n") != NULL);
        CHECK (strstr (text, "mt_gw_time_to_first_token_seconds_bucket{pool=\"standard\",tier=\"free\",le=\"0.025\"} 0\n") != NULL);
        CHECK (strstr (text, "mt_gw_time_to_first_token_seconds_count{pool=\"premium\",tier=\"enterprise\"} 1\n") != NULL);
        CHECK (strstr (text, "mt_gw_queue_wait_seconds_count{pool=\"premium\",tier=\"enterprise\"} 0\n") != NULL);
        CHECK (strstr (text, "mt_gw_tenants_tracked 2\n") != NULL);
    }
    free (text);
    //  Idle tenants leave the set; their counts move to _other, places free up
    gw_live_done (live, "b", "standard", "pro", GW_LIVE_OK, 0, 0, -1, -1, T0 + 5000);
    gw_live_expire (live, T0 + 4000, 3000);          //  a idle 4 s, b 0 s
    CHECK_INT (gw_live_tenant_count (live), 1);
    gw_live_done (live, "c", "premium", "enterprise", GW_LIVE_OK, 1, 1, -1, -1, T0 + 5000);
    CHECK_INT (gw_live_tenant_count (live), 2);
    text = gw_live_metrics (live, NULL, NULL);
    CHECK (text && strstr (text, "mt_gw_tenant_requests_total{tenant=\"_other\",outcome=\"ok\"} 3\n"));
    CHECK (text && strstr (text, "mt_gw_tenant_requests_total{tenant=\"c\",outcome=\"ok\"} 1\n"));
    free (text);
    gw_live_destroy (&live);
    CHECK (live == NULL);
    gw_live_destroy (&live);
}

static void
test_errors_and_busiest (void)
{
    gw_live_t *live = gw_live_new (100);
    mt_error_t rpm = *mt_error_lookup ("rate_limit_exceeded");
    rpm.type = "requests";
    gw_live_error (live, "r1", "a", &rpm, NULL, true, T0);
    gw_live_error (live, "r2", "a", mt_error_lookup ("quota_exceeded"), NULL, true, T0);
    gw_live_error (live, "r3", "b", mt_error_lookup ("model_not_found"), "no model x", true, T0);
    gw_live_error (live, "r4", "", mt_error_lookup ("invalid_api_key"), NULL, true, T0);
    gw_live_error (live, "r5", "b", mt_error_lookup ("engine_error"), NULL, false, T0);  //  after a job: not counted
    json_t *ref = gw_live_refusals_json (live, 10);
    CHECK (ref != NULL);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (ref, "total"), "requests_per_minute")), 1);
    CHECK_INT (json_integer_value (json_object_get (json_object_get (ref, "total"), "daily_quota")), 1);
    CHECK_INT (json_array_size (json_object_get (ref, "tenants")), 1);          //  b has none
    json_decref (ref);
    json_t *errs = gw_live_errors_json (live);
    CHECK_INT (json_array_size (errs), 5);
    CHECK_STR (json_string_value (json_object_get (json_array_get (errs, 0), "request_id")), "r5");
    CHECK_STR (json_string_value (json_object_get (json_array_get (errs, 2), "message")), "no model x");
    CHECK (json_is_null (json_object_get (json_array_get (errs, 1), "tenant_id")));
    json_decref (errs);
    for (int i = 0; i < GW_LIVE_ERRORS + 7; i++)
        gw_live_error (live, "rx", "c", mt_error_lookup ("not_found"), NULL, false, T0);
    errs = gw_live_errors_json (live);
    CHECK_INT (json_array_size (errs), GW_LIVE_ERRORS);
    json_decref (errs);
    char *text = gw_live_metrics (live, NULL, NULL);
    CHECK (text && strstr (text, "mt_gw_tenant_refusals_total{tenant=\"a\",reason=\"daily_quota\"} 1\n"));
    CHECK (text && strstr (text, "mt_gw_tenant_requests_total{tenant=\"a\",outcome=\"refused\"} 2\n"));
    CHECK (text && strstr (text, "mt_gw_tenant_requests_total{tenant=\"b\",outcome=\"rejected\"} 1\n"));
    free (text);
    //  Busiest: most tokens in the last minute, then most requests
    gw_live_done (live, "x", "p", "t", GW_LIVE_OK, 100, 100, -1, -1, T0);
    gw_live_done (live, "y", "p", "t", GW_LIVE_OK, 500, 0, -1, -1, T0);
    const char *ids [3];
    size_t n = gw_live_busiest (live, T0 + 1000, ids, 3);
    CHECK_INT (n, 3);
    CHECK_STR (ids [0], "y");
    CHECK_STR (ids [1], "x");
    CHECK_STR (ids [2], "a");                        //  2 requests, no tokens
    CHECK_INT (gw_live_busiest (live, T0 + 120000, ids, 3), 0);
    gw_live_destroy (&live);
}

static void
test_console_files (void)
{
    struct { const char *url; bool match; const char *file; } cases [] = {
        { "/admin", true, "index.html" },
        { "/admin/", true, "index.html" },
        { "/admin/app.js", true, "app.js" },
        { "/admin/app.css", true, "app.css" },
        { "/admin/nope.js", true, NULL },
        { "/admin/v1", false, NULL },
        { "/admin/v1/tenants", false, NULL },
        { "/admin/v1/live", false, NULL },
        { "/adminx", false, NULL },
        { "/v1/models", false, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        CHECK_MSG (gw_console_match (cases [i].url) == cases [i].match, "%s", cases [i].url);
        const gw_asset_t *a = gw_console_find (cases [i].url);
        if (cases [i].file) {
            CHECK_MSG (a && !strcmp (a->path, cases [i].file) && a->len > 0, "%s", cases [i].url);
        }
        else
            CHECK_MSG (a == NULL, "%s", cases [i].url);
    }
    const gw_asset_t *index = gw_console_find ("/admin/");
    CHECK (index && strstr (index->ctype, "text/html"));
}

static void
test_series_query (void)
{
    struct { const char *query; int rc; bool day; const char *from; const char *to; const char *param; } cases [] = {
        { "", 0, false, "", "", NULL },
        { "granularity=day", 0, true, "", "", NULL },
        { "granularity=hour&from=2026-11-01&to=2026-11-02", 0, false,
          "2026-11-01 00:00:00", "2026-11-03 00:00:00", NULL },
        { "granularity=week", -1, false, "", "", "granularity" },
        { "granularity=", -1, false, "", "", "granularity" },
        { "from=yesterday", -1, false, "", "", "from" },
        { "tenant_id=nope", -1, false, "", "", "tenant_id" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        gw_series_query_t q;
        gw_admin_err_t err;
        memset (&err, 0, sizeof err);
        int rc = gw_series_query (cases [i].query, &q, &err);
        CHECK_MSG (rc == cases [i].rc, "%s", cases [i].query);
        if (rc == 0) {
            CHECK (q.day == cases [i].day);
            CHECK_STR (q.range.from, cases [i].from);
            CHECK_STR (q.range.to, cases [i].to);
        }
        else
            CHECK_STR (err.param, cases [i].param);
    }
    CHECK (gw_series_match ("/admin/v1/usage/series"));
    CHECK (!gw_series_match ("/admin/v1/usage"));
    CHECK (!gw_series_match (NULL));
}

int
main (void)
{
    test_reasons ();
    test_bounded ();
    test_errors_and_busiest ();
    test_console_files ();
    test_series_query ();
    return mt_test_done ("test_gw_live");
}
