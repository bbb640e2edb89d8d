//  The one growable byte buffer: a pointer, a length and a capacity the
//  caller keeps (zeroed = empty), grown by doubling. Free the pointer with
//  free().
#ifndef MT_BUF_H_INCLUDED
#define MT_BUF_H_INCLUDED

#include <stddef.h>

//  Make *cap at least need bytes (256, then doubling); *buf moves. Returns 0,
//  or -1 when out of memory (the buffer is left as it was).
int mt_buf_reserve (char **buf, size_t *cap, size_t need);

//  Append size bytes and keep a NUL after them (not counted in *len).
//  Returns 0, or -1 when out of memory (the buffer is left as it was).
int mt_buf_append (char **buf, size_t *len, size_t *cap, const void *data, size_t size);

#endif
