//  The one table that turns error codes into HTTP statuses and OpenAI error
//  bodies: {"error":{"message","type","param","code"}}.
#ifndef MT_ERRORS_H_INCLUDED
#define MT_ERRORS_H_INCLUDED

#include "mt.pb-c.h"

typedef struct {
    const char *code;           //  OpenAI "code", e.g. "invalid_api_key"
    unsigned int status;        //  HTTP status
    const char *type;           //  OpenAI "type"
    const char *message;        //  default message
} mt_error_t;

//  Look up an error by its code; an unknown code maps to "internal_error" 500.
//  Borrowed; static.
const mt_error_t *mt_error_lookup (const char *code);

//  The error code a service-level refusal stands for. Borrowed; static.
const mt_error_t *mt_error_from_proto (Mt__ErrorCode code);

//  Render the OpenAI error body. message NULL = the table's default; param
//  NULL = JSON null; reset_at non-NULL adds top-level "reset_at".
//  Caller owns; free().
char *mt_error_body (const mt_error_t *err, const char *message, const char *param,
                     const char *reset_at);

#endif
