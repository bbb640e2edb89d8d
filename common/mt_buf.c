//  The one growable byte buffer.
#include "mt_buf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int
mt_buf_reserve (char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t want = *cap? *cap: 256;
    while (want < need) {
        if (want > SIZE_MAX / 2)
            return -1;
        want *= 2;
    }
    char *grown = (char *) realloc (*buf, want);
    if (!grown)
        return -1;
    *buf = grown;
    *cap = want;
    return 0;
}

int
mt_buf_append (char **buf, size_t *len, size_t *cap, const void *data, size_t size)
{
    if (size > SIZE_MAX - *len - 1 || mt_buf_reserve (buf, cap, *len + size + 1))
        return -1;
    if (size)
        memcpy (*buf + *len, data, size);
    *len += size;
    (*buf) [*len] = 0;
    return 0;
}
