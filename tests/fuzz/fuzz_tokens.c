//  libFuzzer target: mt_tokens_count on arbitrary bytes in an exact-size,
//  unterminated buffer (any read past len is an ASan report).
#include "mt_util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = (char *) malloc (size? size: 1);
    if (!text)
        abort ();
    memcpy (text, data, size);
    uint32_t tokens = mt_tokens_count (text, size);
    //  Every token consumes at least one byte; splitting at a space never
    //  changes the total
    if (tokens > size)
        abort ();
    for (size_t i = 0; i < size; i++)
        if (text [i] == ' ') {
            if (mt_tokens_count (text, i) + mt_tokens_count (text + i, size - i) != tokens)
                abort ();
            break;
        }
    free (text);
    return 0;
}
