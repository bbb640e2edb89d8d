//  mt-worker-adapter: one process per inference engine. Pulls jobs from the
//  scheduler by credit, streams tokens straight to each job's gateway.
//  Options, then the server loop.
#include "wa_server.h"
#include "wa_probe.h"
#include "mt_config.h"
#include "mt_curve.h"
#include "mt_log.h"
#include "mt_metrics.h"
#include "mt_util.h"

#include <curl/curl.h>
#include <czmq.h>
#include <malloc.h>
#include <unistd.h>

#define S_MAX_MODELS 64

static mt_opt_t s_opts [] = {
    { "scheduler", "MT_WA_SCHEDULER", MT_OPT_STRING, "tcp://127.0.0.1:5552", 0, 0,
      "scheduler's worker endpoint" },
    { "id", "MT_WA_ID", MT_OPT_STRING, "", 0, 0, "worker id (default host-pid)" },
    { "pool", "MT_WA_POOL", MT_OPT_STRING, "standard", 0, 0, "GPU pool it serves" },
    { "models", "MT_WA_MODELS", MT_OPT_STRING, "sim-small", 0, 0,
      "comma-separated model names" },
    { "slots", "MT_WA_SLOTS", MT_OPT_INT, "8", 1, 65536, "concurrent sequences" },
    { "backend", "MT_WA_BACKEND", MT_OPT_STRING, "sim", 0, 0, "sim or openai" },
    { "metrics-port", "MT_WA_METRICS_PORT", MT_OPT_INT, "9110", 1, 65535,
      "/metrics and /healthz port" },
    { "metrics-bind", "MT_WA_METRICS_BIND", MT_OPT_STRING, "0.0.0.0", 0, 0,
      "/metrics and /healthz address" },
    { "sim-ttft-ms", "MT_WA_SIM_TTFT_MS", MT_OPT_INT, "40", 0, 600000,
      "simulator: time to first token" },
    { "sim-itl-ms", "MT_WA_SIM_ITL_MS", MT_OPT_INT, "10", 0, 60000,
      "simulator: time between tokens" },
    { "sim-tokens", "MT_WA_SIM_TOKENS", MT_OPT_INT, "48", 1, 1000000,
      "simulator: completion length when max_tokens allows" },
    { "engine-url", "MT_ENGINE_URL", MT_OPT_STRING, "", 0, 0,
      "OpenAI-compatible engine, http://host:port/v1" },
    { "engine-health-url", "MT_WA_ENGINE_HEALTH_URL", MT_OPT_STRING, "", 0, 0,
      "engine health endpoint (\"\": the engine URL without /v1, + /health; off: none)" },
    { "engine-probe-ms", "MT_WA_ENGINE_PROBE_MS", MT_OPT_INT, "1000", 100, 600000,
      "engine health probe period" },
    { "engine-probe-timeout-ms", "MT_WA_ENGINE_PROBE_TIMEOUT_MS", MT_OPT_INT, "2000", 100, 60000,
      "engine health probe timeout" },
    { "engine-stall-ms", "MT_WA_ENGINE_STALL_MS", MT_OPT_INT, "30000", 0, 3600000,
      "a stream the engine sends nothing on for this long fails (0: never)" },
    { "done-hold-ms", "MT_WA_DONE_HOLD_MS", MT_OPT_INT, "20", 0, 1000,
      "JobDones to the scheduler held at most this long while under half busy (0: never)" },
    MT_CURVE_OPTIONS,
    MT_CPU_OPTION,
    { NULL }
};

//  True when MT_WA_BACKEND came from neither the environment nor a flag.
static bool
s_backend_defaulted (void)
{
    for (mt_opt_t *o = s_opts; o->name; o++)
        if (!strcmp (o->name, "backend"))
            return o->str == o->dflt;
    return true;
}

//  Split the comma-separated model list in place. Returns the count, or -1
//  (logged) when it names none or too many or a bad one.
static int
s_split_models (char *list, const char **models)
{
    int n = 0;
    for (char *save = NULL, *tok = strtok_r (list, ",", &save); tok;
         tok = strtok_r (NULL, ",", &save)) {
        while (*tok == ' ' || *tok == '\t')
            tok++;
        char *end = tok + strlen (tok);
        while (end > tok && (end [-1] == ' ' || end [-1] == '\t'))
            *--end = 0;
        if (!*tok)
            continue;
        if (n == S_MAX_MODELS || strlen (tok) >= 256) {
            mt_log ("config-error option=models reason=\"too many models or a name too long\"");
            return -1;
        }
        models [n++] = tok;
    }
    if (n == 0) {
        mt_log ("config-error option=models reason=\"no model named\"");
        return -1;
    }
    return n;
}

static char s_models_url [1024];   //  engine's GET /models; empty for the simulator

static size_t
s_discard (char *data, size_t size, size_t nmemb, void *arg)
{
    (void) data; (void) arg;
    return size * nmemb;
}

//  /readyz: ready when the engine answers GET <engine>/models with a 2xx
//  (vLLM and TGI answer it only once the model is loaded); the simulator
//  always is. Runs on the metrics thread, bounded by a 2 s timeout.
static bool
s_ready (char *why, size_t size)
{
    //  The worker's own view first: an engine it found down (health probe,
    //  failed connects, stalled streams) is not ready, whatever /models says
    if (!wa_server_health (why, size))
        return false;
    if (!*s_models_url)
        return true;
    CURL *curl = curl_easy_init ();
    if (!curl) {
        snprintf (why, size, "engine not checked: out of memory");
        return false;
    }
    curl_easy_setopt (curl, CURLOPT_URL, s_models_url);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_discard);
    CURLcode rc = curl_easy_perform (curl);
    long status = 0;
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup (curl);
    if (rc == CURLE_OK && status >= 200 && status < 300)
        return true;
    if (rc != CURLE_OK)
        snprintf (why, size, "engine not answering: %s", curl_easy_strerror (rc));
    else
        snprintf (why, size, "engine answered %ld to GET /models", status);
    return false;
}

int
main (int argc, char **argv)
{
    int rc;
    if (!mt_config_start ("worker-adapter", s_opts, argc, argv, &rc))
        return rc;
    const char *backend = mt_config_str (s_opts, "backend");
    const char *engine_url = mt_config_str (s_opts, "engine-url");
    //  MT_ENGINE_URL alone is enough to front an engine; an explicit
    //  MT_WA_BACKEND=sim keeps the simulator
    if (s_backend_defaulted () && *engine_url)
        backend = "openai";
    if (!strcmp (backend, "openai")) {
        if (strncmp (engine_url, "http://", 7) && strncmp (engine_url, "https://", 8)) {
            mt_log ("config-error option=engine-url reason=\"the openai backend needs "
                    "MT_ENGINE_URL=http://host:port/v1\"");
            return 2;
        }
    }
    else
    if (!strcmp (backend, "sim"))
        engine_url = NULL;
    else {
        mt_log ("config-error option=backend reason=\"unknown backend %s (sim or openai)\"",
                backend);
        return 2;
    }
    char worker_id [256];
    const char *id = mt_config_str (s_opts, "id");
    if (*id)
        snprintf (worker_id, sizeof worker_id, "%s", id);
    else {
        char host [128] = "worker";
        gethostname (host, sizeof host - 1);
        host [sizeof host - 1] = 0;
        snprintf (worker_id, sizeof worker_id, "%s-%d", host, (int) getpid ());
    }
    if (strlen (worker_id) >= 255) {
        mt_log ("config-error option=id reason=\"longer than 254 bytes\"");
        return 2;
    }
    const char *pool = mt_config_str (s_opts, "pool");
    if (!*pool || strlen (pool) >= 256) {
        mt_log ("config-error option=pool reason=\"empty or too long\"");
        return 2;
    }
    char *models_text = strdup (mt_config_str (s_opts, "models"));
    const char *models [S_MAX_MODELS];
    int nmodels = models_text? s_split_models (models_text, models): -1;
    if (nmodels < 0) {
        free (models_text);
        return 2;
    }
    wa_server_config_t config = {
        .scheduler = mt_config_str (s_opts, "scheduler"),
        .worker_id = worker_id,
        .pool = pool,
        .models = models,
        .nmodels = (size_t) nmodels,
        .slots = (uint32_t) mt_config_int (s_opts, "slots"),
        .sim_ttft_ms = (uint32_t) mt_config_int (s_opts, "sim-ttft-ms"),
        .sim_itl_ms = (uint32_t) mt_config_int (s_opts, "sim-itl-ms"),
        .sim_tokens = (uint32_t) mt_config_int (s_opts, "sim-tokens"),
        .ready_interval_ms = 1000,
        .engine_url = engine_url,
        .engine_probe_ms = (uint32_t) mt_config_int (s_opts, "engine-probe-ms"),
        .engine_probe_timeout_ms = (uint32_t) mt_config_int (s_opts, "engine-probe-timeout-ms"),
        .engine_stall_ms = (uint32_t) mt_config_int (s_opts, "engine-stall-ms"),
        .done_hold_ms = (uint32_t) mt_config_int (s_opts, "done-hold-ms"),
    };
    char health_url [600] = "";
    const char *health = mt_config_str (s_opts, "engine-health-url");
    if (engine_url && strcmp (health, "off")) {
        if (*health)
            snprintf (health_url, sizeof health_url, "%s", health);
        else
            wa_probe_default_url (engine_url, health_url, sizeof health_url);
        config.engine_health_url = health_url;
    }
    if (engine_url) {
        size_t len = strlen (engine_url);
        while (len && engine_url [len - 1] == '/')
            len--;
        snprintf (s_models_url, sizeof s_models_url, "%.*s/models", (int) len, engine_url);
        curl_global_init (CURL_GLOBAL_DEFAULT);     //  before the metrics thread can use curl
    }
    mt_metrics_set_ready (s_ready);
    rc = 1;
    wa_server_t *server = NULL;
    //  One I/O thread for the scheduler, one for the gateways: a gateway name
    //  that resolves slowly must not stop the heartbeat (wa_server.c). Before
    //  any socket (mt_curve_start makes its ZAP handler's)
    zsys_set_io_threads (2);
    //  Freed memory stays with the process: glibc gave the top of the heap
    //  back (brk, madvise) and took it again job after job, each return a
    //  TLB flush on every core (about 3% of the worker's CPU under load)
    mallopt (M_TRIM_THRESHOLD, 16 << 20);
    mallopt (M_MMAP_THRESHOLD, 1 << 20);
    if (mt_curve_start (s_opts)) {
        free (models_text);
        return 2;
    }
    if (mt_metrics_serve (mt_config_str (s_opts, "metrics-bind"),
                          (int) mt_config_int (s_opts, "metrics-port"), NULL))
        goto cleanup;
    server = wa_server_new (&config);
    if (!server)
        goto cleanup;
    wa_server_run (server);
    rc = 0;
cleanup:
    wa_server_destroy (&server);
    mt_metrics_stop ();
    mt_curve_stop ();
    if (*s_models_url)
        curl_global_cleanup ();
    free (models_text);
    if (rc == 0)
        mt_log ("stopped");
    return rc;
}
