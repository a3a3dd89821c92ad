/* libFuzzer target: common/str.c's str_sanitize_text(), the one sanitizer
 * every provider message, header value and quoted input goes through.
 * Seeds: tests/corpus/sanitize/. The output must be valid UTF-8 without
 * control characters, fit the buffer, respect the character cap, be a
 * fixed point (sanitizing it again changes nothing) and equal the input
 * when the input was clean and fits. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[512], again[512];
    size_t max_chars = size > 0 ? data[0] % 64 : 0;     /* 0 = no cap */
    const char *s = size > 0 ? (const char *)data + 1 : "";
    size_t len = size > 0 ? size - 1 : 0;

    size_t n = str_sanitize_text(s, len, max_chars, out, sizeof(out));
    if (n >= sizeof(out) || out[n] != '\0' || strlen(out) != n || !str_is_clean_text(out, n))
        abort();
    if (max_chars != 0) {
        size_t chars = 0;
        for (size_t i = 0; i < n; i++)
            chars += ((unsigned char)out[i] & 0xc0) != 0x80;
        if (chars > max_chars)
            abort();
    }
    size_t m = str_sanitize_text(out, n, 0, again, sizeof(again));
    if (m != n || memcmp(out, again, n) != 0)
        abort();
    if (max_chars == 0 && len < sizeof(out) / 4 && str_is_clean_text(s, len) &&
        (n != len || memcmp(out, s, len) != 0))
        abort();
    if (str_utf8_cut(out, n) != n)
        abort();
    return 0;
}
