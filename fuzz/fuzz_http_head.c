/* libFuzzer target: node/http_head.c, the strict request/response head
 * parser, plus targets and body framing on whatever follows the head.
 * Invariants: whole and fragmented feeding agree; a parsed head has sane
 * fields; decoders never consume more than they are given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_body(enum http_framing fr, int64_t cl, const char *p, size_t len)
{
    struct http_body b;
    http_body_init(&b, fr, cl);
    size_t off = 0;
    while (off < len) {
        size_t n = PF_MIN_OF(len - off, (size_t)7), used = 0;
        int rc = http_body_feed(&b, p + off, n, &used);
        if (used > n)
            abort();
        off += used;
        if (rc != PF_EAGAIN)
            break;
        if (used != n)
            abort();
    }
}

/* The peek's decoder (ban rules): the same verdict and consumption as
 * http_body_feed(), and never more payload than consumed or the cap. */
static void check_payload(enum http_framing fr, int64_t cl, const char *p, size_t len)
{
    struct http_body a, b;
    char out[64];
    size_t out_len = 0, used_a = 0, used_b = 0;
    http_body_init(&a, fr, cl);
    http_body_init(&b, fr, cl);
    int ra = http_body_feed(&a, p, len, &used_a);
    int rb = http_body_feed_payload(&b, p, len, &used_b, out, sizeof(out), &out_len);
    if (ra != rb || used_a != used_b || out_len > used_b || out_len > sizeof(out))
        abort();
}

static void one(enum http_head_kind kind, const char *p, size_t size, size_t max)
{
    struct http_head whole, frag;
    http_head_init(&whole, kind, max);
    int rc = http_head_parse(&whole, p, size);
    if (rc != PF_OK && rc != PF_EAGAIN && rc != PF_EINVAL && rc != PF_ERANGE)
        abort();
    /* fragmented: step sizes from the first byte */
    size_t step = size > 0 ? (size_t)(unsigned char)p[0] % 13 + 1 : 1;
    http_head_init(&frag, kind, max);
    int rc2 = PF_EAGAIN;
    for (size_t n = step < size ? step : size; rc2 == PF_EAGAIN; n += step) {
        if (n > size)
            n = size;
        rc2 = http_head_parse(&frag, p, n);
        if (n == size)
            break;
    }
    if (rc != rc2)
        abort();
    if (rc == PF_OK) {
        if (whole.head_len > size || whole.head_len > max || whole.head_len != frag.head_len)
            abort();
        for (size_t i = 0; i < whole.nheaders; i++)
            if (whole.headers[i].name == NULL || whole.headers[i].value == NULL ||
                strlen(whole.headers[i].name) != whole.headers[i].name_len ||
                whole.headers[i].name_len == 0)
                abort();
        (void)http_head_get(&whole, "connection");
        for (size_t i = 0; i < whole.nheaders; i++)
            (void)http_head_is_hop_by_hop(&whole, i);
        enum http_framing fr;
        if (kind == HTTP_HEAD_REQUEST) {
            struct http_target t;
            struct pf_err err;
            int is_connect = strcmp(whole.method, "CONNECT") == 0;
            if (http_target_parse(whole.target, is_connect, &t, &err) == PF_OK &&
                (t.port == 0 || t.host[0] == '\0' || (!is_connect && (t.path == NULL || t.path[0] != '/'))))
                abort();
            http_target_deinit(&t);
            fr = http_head_request_framing(&whole);
        } else {
            fr = http_head_response_framing(&whole, 0);
        }
        check_body(fr, whole.content_length, p + whole.head_len, size - whole.head_len);
    }
    http_head_deinit(&whole);
    http_head_deinit(&frag);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data;
    one(HTTP_HEAD_REQUEST, p, size, 4096);
    one(HTTP_HEAD_RESPONSE, p, size, 4096);
    one(HTTP_HEAD_REQUEST, p, size, 64);
    check_body(HTTP_FRAMING_CHUNKED, -1, p, size);
    check_payload(HTTP_FRAMING_CHUNKED, -1, p, size);
    check_payload(HTTP_FRAMING_LENGTH, (int64_t)(size / 2), p, size);
    return 0;
}
