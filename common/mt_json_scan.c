//  A plain-JSON scanner: grammar, strict strings, member lookup. See
//  mt_json_scan.h.
#include "mt_json_scan.h"

#include <string.h>

void
mt_json_scan_init (mt_json_scan_t *s, const char *data, size_t len)
{
    s->p = data;
    s->end = data + len;
    s->depth = 0;
    s->first = false;
    s->seen = 0;
}

static int
s_hex (unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

//  Four hex digits at p (end bounds); -1 when not.
static long
s_hex4 (const unsigned char *p, const unsigned char *end)
{
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int d = s_hex (p [i]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

//  One escape after its backslash, at p; the byte after it, or NULL.
static const unsigned char *
s_escape (const unsigned char *p, const unsigned char *end)
{
    if (p >= end)
        return NULL;
    if (*p != 'u')
        return memchr ("\"\\/bfnrt", *p, 8)? p + 1: NULL;
    long cp = s_hex4 (p + 1, end);
    if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return NULL;                    //  \u0000, a lone low surrogate, bad hex
    p += 5;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        //  A high surrogate: its low half must follow
        if (end - p < 6 || p [0] != '\\' || p [1] != 'u')
            return NULL;
        long low = s_hex4 (p + 2, end);
        if (low < 0xDC00 || low > 0xDFFF)
            return NULL;
        p += 6;
    }
    return p;
}

//  One UTF-8 sequence of two to four bytes at p; the byte after it, or NULL.
static const unsigned char *
s_utf8 (const unsigned char *p, const unsigned char *end)
{
    unsigned char c = *p;
    size_t n;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF)      { n = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
    else
        return NULL;
    if ((size_t) (end - p) < n)
        return NULL;
    for (size_t i = 1; i < n; i++) {
        if ((p [i] & 0xC0) != 0x80)
            return NULL;
        cp = (cp << 6) | (p [i] & 0x3F);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF)))
    ||  (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return NULL;
    return p + n;
}

//  Bytes a string's scan stops at: '"', '\\', control bytes, bytes >= 0x80.
static const unsigned char s_stop [256] = {
    [0x00 ... 0x1F] = 1, ['"'] = 1, ['\\'] = 1, [0x80 ... 0xFF] = 1
};

bool
mt_json_scan_string (mt_json_scan_t *s, const char **text, size_t *len)
{
    mt_json_scan_ws (s);
    if (s->p >= s->end || *s->p != '"')
        return false;
    const unsigned char *p = (const unsigned char *) s->p + 1;
    const unsigned char *end = (const unsigned char *) s->end;
    const unsigned char *start = p;
    while (p < end) {
        while (p < end && !s_stop [*p])
            p++;                //  plain ASCII
        if (p >= end)
            break;
        unsigned char c = *p;
        if (c == '"') {
            if (text)
                *text = (const char *) start;
            if (len)
                *len = (size_t) (p - start);
            s->p = (const char *) p + 1;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c < 0x80 && c != '\\') {
            p++;
            continue;
        }
        if (c == '\\') {
            s->seen |= MT_JSON_SEEN_ESCAPE;
            p = s_escape (p + 1, end);
        }
        else {
            s->seen |= MT_JSON_SEEN_NONASCII;
            p = s_utf8 (p, end);
        }
        if (!p)
            return false;
    }
    return false;
}

//  Digits at p; their count.
static size_t
s_digits (mt_json_scan_t *s)
{
    const char *start = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9')
        s->p++;
    return (size_t) (s->p - start);
}

static bool
s_number (mt_json_scan_t *s)
{
    size_t digits;
    if (*s->p == '-')
        s->p++;
    if (s->p < s->end && *s->p == '0') {
        s->p++;
        digits = 1;
    }
    else
    if ((digits = s_digits (s)) == 0)
        return false;
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        size_t fraction = s_digits (s);
        if (fraction == 0)
            return false;
        digits += fraction;
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-'))
            s->p++;
        if (s_digits (s) == 0)
            return false;
        s->seen |= MT_JSON_SEEN_BIGNUM;
    }
    if (digits > 15)
        s->seen |= MT_JSON_SEEN_BIGNUM;
    return true;
}

bool
mt_json_scan_uint (mt_json_scan_t *s, uint64_t max, uint64_t *value)
{
    mt_json_scan_ws (s);
    const char *p = s->p;
    uint64_t v = 0;
    size_t n = 0;
    while (p + n < s->end && p [n] >= '0' && p [n] <= '9') {
        if (n >= 19)
            return false;
        v = v * 10 + (uint64_t) (p [n] - '0');
        n++;
    }
    if (n == 0 || (n > 1 && p [0] == '0') || v > max)
        return false;
    if (p + n < s->end && (p [n] == '.' || p [n] == 'e' || p [n] == 'E'))
        return false;
    s->p = p + n;
    *value = v;
    return true;
}

bool
mt_json_scan_end (mt_json_scan_t *s)
{
    mt_json_scan_ws (s);
    return s->p == s->end;
}

bool
mt_json_scan_open (mt_json_scan_t *s, char open)
{
    mt_json_scan_ws (s);
    if (s->p >= s->end || *s->p != open || s->depth >= MT_JSON_SCAN_DEPTH)
        return false;
    s->p++;
    s->depth++;
    s->first = true;
    return true;
}

//  Before the next member or element: 1 at it, 0 when close was taken.
static int
s_next (mt_json_scan_t *s, char close)
{
    mt_json_scan_ws (s);
    if (s->p >= s->end)
        return -1;
    if (*s->p == close) {
        s->p++;
        s->depth--;
        s->first = false;       //  the enclosing container had this value
        return 0;
    }
    if (!s->first) {
        if (*s->p != ',')
            return -1;
        s->p++;
    }
    s->first = false;
    return 1;
}

int
mt_json_scan_member (mt_json_scan_t *s, const char **key, size_t *klen)
{
    int rc = s_next (s, '}');
    if (rc != 1)
        return rc;
    if (!mt_json_scan_string (s, key, klen))
        return -1;
    mt_json_scan_ws (s);
    if (s->p >= s->end || *s->p != ':')
        return -1;
    s->p++;
    return 1;
}

int
mt_json_scan_element (mt_json_scan_t *s)
{
    int rc = s_next (s, ']');
    if (rc == 1) {
        //  "[1,]": a value must follow the comma
        mt_json_scan_ws (s);
        if (s->p >= s->end || *s->p == ']')
            return -1;
    }
    return rc;
}

bool
mt_json_scan_value (mt_json_scan_t *s, mt_json_span_t *value)
{
    mt_json_scan_ws (s);
    if (s->p >= s->end)
        return false;
    const char *at = s->p;
    bool ok;
    int rc = -1;
    switch (*s->p) {
        case '"':
            ok = mt_json_scan_string (s, NULL, NULL);
            break;
        case '{':
            ok = mt_json_scan_open (s, '{');
            while (ok && (rc = mt_json_scan_member (s, NULL, NULL)) == 1)
                ok = mt_json_scan_value (s, NULL);
            ok = ok && rc == 0;
            break;
        case '[':
            ok = mt_json_scan_open (s, '[');
            while (ok && (rc = mt_json_scan_element (s)) == 1)
                ok = mt_json_scan_value (s, NULL);
            ok = ok && rc == 0;
            break;
        case 't':
            ok = mt_json_scan_word (s, "true");
            break;
        case 'f':
            ok = mt_json_scan_word (s, "false");
            break;
        case 'n':
            ok = mt_json_scan_word (s, "null");
            break;
        default:
            ok = (*s->p == '-' || (*s->p >= '0' && *s->p <= '9')) && s_number (s);
            break;
    }
    if (ok && value)
        *value = (mt_json_span_t) { at, (size_t) (s->p - at) };
    return ok;
}

void
mt_json_object_get (mt_json_span_t object, const char *const *keys,
                    mt_json_span_t *values, size_t nkeys)
{
    for (size_t k = 0; k < nkeys; k++)
        values [k] = (mt_json_span_t) { NULL, 0 };
    if (!object.at)
        return;
    mt_json_scan_t s;
    mt_json_scan_init (&s, object.at, object.len);
    if (!mt_json_scan_open (&s, '{'))
        return;
    const char *key;
    size_t klen;
    while (mt_json_scan_member (&s, &key, &klen) == 1) {
        mt_json_span_t value;
        if (!mt_json_scan_value (&s, &value))
            return;
        for (size_t k = 0; k < nkeys; k++)
            if (strlen (keys [k]) == klen && !memcmp (keys [k], key, klen)
            &&  !memchr (key, '\\', klen))
                values [k] = value;
    }
}

bool
mt_json_span_is (mt_json_span_t span, char first)
{
    return span.at && span.len && *span.at == first;
}
