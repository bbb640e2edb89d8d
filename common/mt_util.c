//  Clocks, ids, keys, tokens, signals.
#include "mt_util.h"

#include <ctype.h>
#include <czmq.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

uint64_t
mt_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t
mt_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

uint64_t
mt_mono_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (uint64_t) ts.tv_sec * 1000000u + (uint64_t) ts.tv_nsec / 1000u;
}

//  Randomness taken from OpenSSL 4 KiB at a time, for this thread: a call
//  for 12 or 16 bytes costs RAND_bytes' locking and set-up every time (5%
//  of the gateway's CPU, three calls a request). Bytes are handed out once
//  and wiped; a forked child (another pid) throws its parent's away.
#define S_POOL_SIZE 4096
static __thread struct {
    unsigned char bytes [S_POOL_SIZE];
    size_t left;                    //  unused bytes at the end of bytes
    pid_t pid;                      //  the process that filled it
} s_pool;

static int
s_random (unsigned char *out, size_t n)
{
    if (n > S_POOL_SIZE)
        return RAND_bytes (out, (int) n) == 1? 0: -1;
    pid_t pid = getpid ();
    if (s_pool.left < n || s_pool.pid != pid) {
        if (RAND_bytes (s_pool.bytes, S_POOL_SIZE) != 1) {
            s_pool.left = 0;
            return -1;
        }
        s_pool.left = S_POOL_SIZE;
        s_pool.pid = pid;
    }
    unsigned char *from = s_pool.bytes + S_POOL_SIZE - s_pool.left;
    memcpy (out, from, n);
    OPENSSL_cleanse (from, n);
    s_pool.left -= n;
    return 0;
}

int
mt_random_hex (char *out, size_t nbytes)
{
    static const char hex [] = "0123456789abcdef";
    unsigned char buf [64];
    if (nbytes > sizeof buf || s_random (buf, nbytes))
        return -1;
    for (size_t i = 0; i < nbytes; i++) {
        out [2 * i] = hex [buf [i] >> 4];
        out [2 * i + 1] = hex [buf [i] & 15];
    }
    out [2 * nbytes] = 0;
    return 0;
}

void
mt_uuid (char out [37])
{
    uuid_t u;
    uuid_generate_random (u);
    uuid_unparse_lower (u, out);
}

bool
mt_is_uuid (const char *text)
{
    uuid_t u;
    return text && strlen (text) == 36 && uuid_parse (text, u) == 0;
}

int
mt_key_generate (char out [MT_KEY_LEN + 1])
{
    memcpy (out, "sk-mt-", 6);
    return mt_random_hex (out + 6, 24);
}

void
mt_sha256_hex (const void *data, size_t size, char out [65])
{
    static const char hex [] = "0123456789abcdef";
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest (data, size, md, &mdlen, EVP_sha256 (), NULL);
    for (unsigned int i = 0; i < mdlen && i < 32; i++) {
        out [2 * i] = hex [md [i] >> 4];
        out [2 * i + 1] = hex [md [i] & 15];
    }
    out [64] = 0;
}

uint32_t
mt_tokens_count (const char *text, size_t len)
{
    uint32_t tokens = 0;
    size_t i = 0;
    while (i < len) {
        unsigned char c = (unsigned char) text [i];
        if (isspace (c)) {
            i++;
            continue;
        }
        if (isalnum (c) || c >= 0x80) {
            size_t start = i;
            while (i < len && (isalnum ((unsigned char) text [i])
                               || (unsigned char) text [i] >= 0x80))
                i++;
            tokens += (uint32_t) ((i - start + 3) / 4);
        }
        else {
            tokens++;
            i++;
        }
    }
    return tokens;
}

uint64_t
mt_day_start_ms (uint64_t now_ms)
{
    return now_ms - now_ms % 86400000u;
}

void
mt_next_midnight_utc (uint64_t now_ms, char out [21])
{
    time_t t = (time_t) ((mt_day_start_ms (now_ms) + 86400000u) / 1000u);
    struct tm tm;
    gmtime_r (&t, &tm);
    strftime (out, 21, "%Y-%m-%dT00:00:00Z", &tm);
}

static volatile sig_atomic_t s_stop = 0;

static void
s_on_signal (int sig)
{
    (void) sig;
    s_stop = 1;
}

void
mt_signals_install (void)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
    signal (SIGPIPE, SIG_IGN);
    zsys_handler_set (NULL);        //  czmq must not take over SIGINT/SIGTERM
}

bool
mt_stopping (void)
{
    return s_stop != 0;
}

void
mt_raise_nofile (void)
{
    struct rlimit rl;
    if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit (RLIMIT_NOFILE, &rl);
    }
}

bool
mt_id_ok (const char *text, size_t max)
{
    if (!text)
        return false;
    size_t len = 0;
    for (const unsigned char *p = (const unsigned char *) text; *p; p++, len++)
        if (*p <= 0x20 || *p >= 0x7f || *p == '"' || *p == '\\' || len >= max)
            return false;
    return len > 0;
}
