//  All SQL of the quota-enforcer: today's usage per tenant, read once on start.
#ifndef QE_STORE_H_INCLUDED
#define QE_STORE_H_INCLUDED

#include <stdint.h>
#include "qe_quota.h"

//  Connect (waiting up to wait_ms for the database), load every tenant's
//  tokens used on the UTC day holding now_ms into quota, disconnect.
//  Returns the number of tenants loaded, or -1 after logging why.
int qe_store_rebuild (const char *dsn, int wait_ms, qe_quota_t *quota, uint64_t now_ms);

#endif
