//  Error table.
#include "mt_errors.h"

#include <jansson.h>
#include <string.h>

static const mt_error_t s_errors [] = {
    { "invalid_json",               400, "invalid_request_error", "The request body is not valid JSON." },
    { "body_too_large",             400, "invalid_request_error", "The request body is too large." },
    { "invalid_content_type",       400, "invalid_request_error", "Content-Type must be application/json." },
    { "missing_required_parameter", 400, "invalid_request_error", "A required parameter is missing." },
    { "invalid_value",              400, "invalid_request_error", "A parameter has an invalid value." },
    { "invalid_api_key",            401, "invalid_request_error", "Incorrect API key provided." },
    { "unauthorized",               401, "invalid_request_error", "Admin token missing or wrong." },
    { "permission_denied",          403, "invalid_request_error", "This admin token may only read." },
    { "not_found",                  404, "invalid_request_error", "Unknown route." },
    { "model_not_found",            404, "invalid_request_error", "The model does not exist or you do not have access to it." },
    { "method_not_allowed",         405, "invalid_request_error", "Method not allowed for this route." },
    { "conflict",                   409, "invalid_request_error", "The resource already exists." },
    { "rate_limit_exceeded",        429, "requests",              "Rate limit reached for requests per minute." },
    { "rate_limit_exceeded_tokens", 429, "tokens",                "Rate limit reached for tokens per minute." },
    { "concurrency_limit_exceeded", 429, "requests",              "Too many concurrent requests for this tenant." },
    { "too_many_connections",       429, "requests",              "Too many open connections from your address." },
    { "too_many_auth_failures",     429, "requests",              "Too many requests without a valid API key from your address; retry later." },
    { "quota_exceeded",             429, "insufficient_quota",    "You exceeded your daily token quota." },
    { "engine_error",               502, "server_error",          "The inference engine failed." },
    { "no_capacity",                503, "server_error",          "No worker is serving this model right now." },
    { "server_busy",                503, "server_error",          "The gateway is at its connection limit; retry shortly." },
    { "service_unavailable",        503, "server_error",          "A service did not answer in time." },
    { "internal_error",             500, "server_error",          "Internal error." },
};

const mt_error_t *
mt_error_lookup (const char *code)
{
    size_t n = sizeof s_errors / sizeof s_errors [0];
    for (size_t i = 0; i < n; i++)
        if (!strcmp (s_errors [i].code, code))
            return &s_errors [i];
    return &s_errors [n - 1];
}

const mt_error_t *
mt_error_from_proto (Mt__ErrorCode code)
{
    switch (code) {
        case MT__ERROR_CODE__ERR_RATE_REQUESTS: return mt_error_lookup ("rate_limit_exceeded");
        case MT__ERROR_CODE__ERR_RATE_TOKENS:   return mt_error_lookup ("rate_limit_exceeded_tokens");
        case MT__ERROR_CODE__ERR_QUOTA:         return mt_error_lookup ("quota_exceeded");
        case MT__ERROR_CODE__ERR_CONCURRENCY:   return mt_error_lookup ("concurrency_limit_exceeded");
        case MT__ERROR_CODE__ERR_NO_CAPACITY:   return mt_error_lookup ("no_capacity");
        case MT__ERROR_CODE__ERR_UNAVAILABLE:   return mt_error_lookup ("service_unavailable");
        case MT__ERROR_CODE__ERR_ENGINE:        return mt_error_lookup ("engine_error");
        case MT__ERROR_CODE__ERR_WORKER_LOST:   return mt_error_lookup ("engine_error");
        case MT__ERROR_CODE__ERR_BAD_REQUEST:   return mt_error_lookup ("invalid_value");
        default:                                return mt_error_lookup ("internal_error");
    }
}

char *
mt_error_body (const mt_error_t *err, const char *message, const char *param,
               const char *reset_at)
{
    //  tokens/min refusals share OpenAI's code "rate_limit_exceeded"
    const char *code = strcmp (err->code, "rate_limit_exceeded_tokens")? err->code:
                       "rate_limit_exceeded";
    json_t *root = json_pack ("{s:{s:s, s:s, s:o, s:s}}",
                              "error",
                              "message", message? message: err->message,
                              "type", err->type,
                              "param", param? json_string (param): json_null (),
                              "code", code);
    if (!root)
        return NULL;
    if (reset_at)
        json_object_set_new (root, "reset_at", json_string (reset_at));
    char *text = json_dumps (root, JSON_COMPACT);
    json_decref (root);
    return text;
}
