/* Unit tests of node/http_head.c: strict head parsing, fragmentation,
 * framing, targets, chunked decoding; replay of tests/corpus/http_head/. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_head.h"

#define MAX 8192

struct req_case {
    char name[48];
    char text[512];
    int  rc;             /* expected http_head_parse() status */
};

static struct req_case req_cases[] = {
    { "simple get", "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n", PF_OK },
    { "http/1.0", "GET http://a/ HTTP/1.0\r\n\r\n", PF_OK },
    { "connect", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", PF_OK },
    { "leading crlf", "\r\nGET http://a/ HTTP/1.1\r\n\r\n", PF_OK },
    { "same content-length twice", "POST http://a/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", PF_OK },
    { "gzip then chunked", "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", PF_OK },
    { "value with obs-text", "GET http://a/ HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n", PF_OK },
    { "bare lf", "GET http://a/ HTTP/1.1\nHost: a\n\n", PF_EINVAL },
    { "bare lf in header", "GET http://a/ HTTP/1.1\r\nHost: a\n\r\n", PF_EINVAL },
    { "bare cr", "GET http://a/ HTTP/1.1\r\nX: a\rb\r\n\r\n", PF_EINVAL },
    { "obs-fold", "GET http://a/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n", PF_EINVAL },
    { "obs-fold tab", "GET http://a/ HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", PF_EINVAL },
    { "space before colon", "GET http://a/ HTTP/1.1\r\nHost : a\r\n\r\n", PF_EINVAL },
    { "empty header name", "GET http://a/ HTTP/1.1\r\n: a\r\n\r\n", PF_EINVAL },
    { "no colon", "GET http://a/ HTTP/1.1\r\nHost a\r\n\r\n", PF_EINVAL },
    { "ctl in value", "GET http://a/ HTTP/1.1\r\nX: a\x01" "b\r\n\r\n", PF_EINVAL },
    { "del in value", "GET http://a/ HTTP/1.1\r\nX: a\x7f\r\n\r\n", PF_EINVAL },
    { "bad method char", "G(T http://a/ HTTP/1.1\r\n\r\n", PF_EINVAL },
    { "empty method", " http://a/ HTTP/1.1\r\n\r\n", PF_EINVAL },
    { "two spaces", "GET  http://a/ HTTP/1.1\r\n\r\n", PF_EINVAL },
    { "ctl in target", "GET http://a/\x01 HTTP/1.1\r\n\r\n", PF_EINVAL },
    { "high byte in target", "GET http://a/\xff HTTP/1.1\r\n\r\n", PF_EINVAL },
    { "http/2.0", "GET http://a/ HTTP/2.0\r\n\r\n", PF_EINVAL },
    { "http/1.2", "GET http://a/ HTTP/1.2\r\n\r\n", PF_EINVAL },
    { "lowercase version", "GET http://a/ http/1.1\r\n\r\n", PF_EINVAL },
    { "missing version", "GET http://a/\r\n\r\n", PF_EINVAL },
    { "trailing space", "GET http://a/ HTTP/1.1 \r\n\r\n", PF_EINVAL },
    { "cl and te", "POST http://a/ HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", PF_EINVAL },
    { "te and cl", "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", PF_EINVAL },
    { "differing cl", "POST http://a/ HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", PF_EINVAL },
    { "cl list", "POST http://a/ HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n", PF_EINVAL },
    { "cl sign", "POST http://a/ HTTP/1.1\r\nContent-Length: +3\r\n\r\n", PF_EINVAL },
    { "cl hex", "POST http://a/ HTTP/1.1\r\nContent-Length: 0x3\r\n\r\n", PF_EINVAL },
    { "cl empty", "POST http://a/ HTTP/1.1\r\nContent-Length:\r\n\r\n", PF_EINVAL },
    { "cl huge", "POST http://a/ HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", PF_EINVAL },
    { "te gzip only", "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", PF_EINVAL },
    { "te chunked then gzip", "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", PF_EINVAL },
    { "te chunked twice", "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", PF_EINVAL },
    { "te empty", "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: \r\n\r\n", PF_EINVAL },
    { "te xchunked", "POST http://a/ HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", PF_EINVAL },
    { "duplicate host", "GET http://a/ HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", PF_EINVAL },
};

ParameterizedTestParameters(http_head, request_table)
{
    return cr_make_param_array(struct req_case, req_cases, PF_ARRAY_LEN(req_cases));
}

/* Feeds <text> whole; then one byte more at a time: both give <rc>. */
ParameterizedTest(struct req_case *tc, http_head, request_table)
{
    size_t len = strlen(tc->text);
    struct http_head h;
    http_head_init(&h, HTTP_HEAD_REQUEST, MAX);
    int rc = http_head_parse(&h, tc->text, len);
    cr_expect_eq(rc, tc->rc, "%s: whole: got %d want %d (%s)", tc->name, rc, tc->rc, h.err.msg);
    http_head_deinit(&h);

    http_head_init(&h, HTTP_HEAD_REQUEST, MAX);
    rc = PF_EAGAIN;
    for (size_t n = 1; n <= len && rc == PF_EAGAIN; n++)
        rc = http_head_parse(&h, tc->text, n);
    cr_expect_eq(rc, tc->rc, "%s: bytewise: got %d want %d", tc->name, rc, tc->rc);
    http_head_deinit(&h);
}

Test(http_head, request_fields)
{
    const char *t = "POST http://example.com:8080/p?q=1 HTTP/1.1\r\n"
                    "Host: example.com:8080\r\nContent-Length:  12 \r\n"
                    "Connection: keep-alive, X-Hop\r\nX-Hop: 1\r\nX-Keep: v\r\n\r\nBODY";
    struct http_head h;
    http_head_init(&h, HTTP_HEAD_REQUEST, MAX);
    cr_assert_eq(http_head_parse(&h, t, strlen(t)), PF_OK);
    cr_expect_str_eq(h.method, "POST");
    cr_expect_str_eq(h.target, "http://example.com:8080/p?q=1");
    cr_expect_eq(h.version_minor, 1);
    cr_expect_eq(h.head_len, strlen(t) - 4);
    cr_expect_eq(h.nheaders, 5);
    cr_expect_eq(h.content_length, 12);
    cr_expect_str_eq(http_head_get(&h, "content-length"), "12");
    cr_expect_str_eq(http_head_get(&h, "HOST"), "example.com:8080");
    cr_expect_eq(h.is_conn_keep_alive, 1);
    cr_expect_eq(http_head_request_framing(&h), HTTP_FRAMING_LENGTH);
    cr_expect_eq(http_head_is_hop_by_hop(&h, 2), 1);   /* Connection */
    cr_expect_eq(http_head_is_hop_by_hop(&h, 3), 1);   /* X-Hop, listed in Connection */
    cr_expect_eq(http_head_is_hop_by_hop(&h, 4), 0);   /* X-Keep */
    cr_expect_eq(http_head_is_hop_by_hop(&h, 1), 0);   /* Content-Length is never removed */
    http_head_deinit(&h);
}

Test(http_head, hop_by_hop_names)
{
    const char *t = "GET http://a/ HTTP/1.1\r\nKeep-Alive: 5\r\nProxy-Connection: keep-alive\r\n"
                    "Proxy-Authorization: Basic eDp5\r\nTE: trailers\r\nTrailer: X\r\nUpgrade: h2c\r\n"
                    "Transfer-Encoding: chunked\r\nAccept: */*\r\n\r\n";
    struct http_head h;
    http_head_init(&h, HTTP_HEAD_REQUEST, MAX);
    cr_assert_eq(http_head_parse(&h, t, strlen(t)), PF_OK);
    for (size_t i = 0; i < 6; i++)
        cr_expect_eq(http_head_is_hop_by_hop(&h, i), 1, "header %zu", i);
    cr_expect_eq(http_head_is_hop_by_hop(&h, 6), 0);
    cr_expect_eq(http_head_is_hop_by_hop(&h, 7), 0);
    cr_expect_eq(http_head_request_framing(&h), HTTP_FRAMING_CHUNKED);
    http_head_deinit(&h);
}

Test(http_head, too_large)
{
    char buf[300];
    int n = snprintf(buf, sizeof(buf), "GET http://a/ HTTP/1.1\r\nX: %0200d\r\n\r\n", 0);
    struct http_head h;
    http_head_init(&h, HTTP_HEAD_REQUEST, 128);
    cr_expect_eq(http_head_parse(&h, buf, (size_t)n), PF_ERANGE);
    http_head_deinit(&h);
    /* exactly at the limit is fine */
    http_head_init(&h, HTTP_HEAD_REQUEST, (size_t)n);
    cr_expect_eq(http_head_parse(&h, buf, (size_t)n), PF_OK);
    http_head_deinit(&h);
    /* incomplete but already over the limit */
    http_head_init(&h, HTTP_HEAD_REQUEST, 64);
    cr_expect_eq(http_head_parse(&h, buf, 100), PF_ERANGE);
    http_head_deinit(&h);
}

Test(http_head, too_many_headers)
{
    char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET http://a/ HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_HEAD_MAX_HEADERS; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X%d: v\r\n", i);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    struct http_head h;
    http_head_init(&h, HTTP_HEAD_REQUEST, sizeof(buf));
    cr_expect_eq(http_head_parse(&h, buf, n), PF_ERANGE);
    http_head_deinit(&h);
}

Test(http_head, incomplete_then_complete)
{
    const char *t = "GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n";
    struct http_head h;
    http_head_init(&h, HTTP_HEAD_REQUEST, MAX);
    cr_expect_eq(http_head_parse(&h, t, strlen(t) - 1), PF_EAGAIN);
    /* the buffer may move between calls: only offsets are kept */
    char copy[128];
    strcpy(copy, t);
    cr_expect_eq(http_head_parse(&h, copy, strlen(copy)), PF_OK);
    cr_expect_str_eq(h.target, "http://a/");
    http_head_deinit(&h);
}

Test(http_head, nul_byte_rejected)
{
    const char t[] = "GET http://a/ HTTP/1.1\r\nX: a\0b\r\n\r\n";
    struct http_head h;
    http_head_init(&h, HTTP_HEAD_REQUEST, MAX);
    cr_expect_eq(http_head_parse(&h, t, sizeof(t) - 1), PF_EINVAL);
    http_head_deinit(&h);
}

struct resp_case {
    char name[48];
    char text[256];
    int  rc;
    int  status;
    int  is_head;        /* request was HEAD */
    int  framing;        /* enum http_framing when rc == PF_OK */
};

static struct resp_case resp_cases[] = {
    { "200 cl", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", PF_OK, 200, 0, HTTP_FRAMING_LENGTH },
    { "200 cl 0", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", PF_OK, 200, 0, HTTP_FRAMING_NONE },
    { "200 chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", PF_OK, 200, 0, HTTP_FRAMING_CHUNKED },
    { "200 close", "HTTP/1.0 200 OK\r\n\r\n", PF_OK, 200, 0, HTTP_FRAMING_UNTIL_CLOSE },
    { "head", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", PF_OK, 200, 1, HTTP_FRAMING_NONE },
    { "204", "HTTP/1.1 204 No Content\r\n\r\n", PF_OK, 204, 0, HTTP_FRAMING_NONE },
    { "304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", PF_OK, 304, 0, HTTP_FRAMING_NONE },
    { "100", "HTTP/1.1 100 Continue\r\n\r\n", PF_OK, 100, 0, HTTP_FRAMING_NONE },
    { "no reason", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", PF_OK, 200, 0, HTTP_FRAMING_LENGTH },
    { "empty reason", "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\n", PF_OK, 200, 0, HTTP_FRAMING_LENGTH },
    { "407", "HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", PF_OK, 407, 0, HTTP_FRAMING_UNTIL_CLOSE },
    { "bad status", "HTTP/1.1 2x0 OK\r\n\r\n", PF_EINVAL, 0, 0, 0 },
    { "short status", "HTTP/1.1 20 OK\r\n\r\n", PF_EINVAL, 0, 0, 0 },
    { "status < 100", "HTTP/1.1 099 OK\r\n\r\n", PF_EINVAL, 0, 0, 0 },
    { "bad version", "HTTP/2 200 OK\r\n\r\n", PF_EINVAL, 0, 0, 0 },
    { "empty first line", "\r\nHTTP/1.1 200 OK\r\n\r\n", PF_EINVAL, 0, 0, 0 },
    { "cl and te", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", PF_EINVAL, 0, 0, 0 },
    { "bare lf", "HTTP/1.1 200 OK\nContent-Length: 1\n\n", PF_EINVAL, 0, 0, 0 },
};

ParameterizedTestParameters(http_head, response_table)
{
    return cr_make_param_array(struct resp_case, resp_cases, PF_ARRAY_LEN(resp_cases));
}

ParameterizedTest(struct resp_case *tc, http_head, response_table)
{
    size_t len = strlen(tc->text);
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        struct http_head h;
        http_head_init(&h, HTTP_HEAD_RESPONSE, MAX);
        int rc = PF_EAGAIN;
        if (bytewise)
            for (size_t n = 1; n <= len && rc == PF_EAGAIN; n++)
                rc = http_head_parse(&h, tc->text, n);
        else
            rc = http_head_parse(&h, tc->text, len);
        cr_expect_eq(rc, tc->rc, "%s (bytewise %d): got %d (%s)", tc->name, bytewise, rc, h.err.msg);
        if (rc == PF_OK) {
            cr_expect_eq(h.status, tc->status, "%s", tc->name);
            cr_expect_eq((int)http_head_response_framing(&h, tc->is_head), tc->framing, "%s", tc->name);
        }
        http_head_deinit(&h);
    }
}

struct target_case {
    char name[40];
    char target[128];
    int  is_connect;
    int  rc;
    char host[64];
    int  port;
    char path[64];
};

static struct target_case target_cases[] = {
    { "absolute", "http://example.com/a?b", 0, PF_OK, "example.com", 80, "/a?b" },
    { "absolute port", "http://example.com:8080/", 0, PF_OK, "example.com", 8080, "/" },
    { "no path", "http://example.com", 0, PF_OK, "example.com", 80, "/" },
    { "query only", "http://example.com?x=1", 0, PF_OK, "example.com", 80, "/?x=1" },
    { "ipv6", "http://[::1]:81/x", 0, PF_OK, "::1", 81, "/x" },
    { "upper scheme", "HTTP://a/", 0, PF_OK, "a", 80, "/" },
    { "connect", "example.com:443", 1, PF_OK, "example.com", 443, "" },
    { "connect ipv6", "[2001:db8::1]:443", 1, PF_OK, "2001:db8::1", 443, "" },
    { "origin form", "/index.html", 0, PF_EINVAL, "", 0, "" },
    { "https", "https://a/", 0, PF_EINVAL, "", 0, "" },
    { "userinfo", "http://u:p@a/", 0, PF_EINVAL, "", 0, "" },
    { "empty host", "http:///x", 0, PF_EINVAL, "", 0, "" },
    { "port 0", "http://a:0/", 0, PF_EINVAL, "", 0, "" },
    { "port big", "http://a:65536/", 0, PF_EINVAL, "", 0, "" },
    { "port text", "http://a:8o/", 0, PF_EINVAL, "", 0, "" },
    { "fragment", "http://a/#x", 0, PF_EINVAL, "", 0, "" },
    { "bad host char", "http://a%2e/", 0, PF_EINVAL, "", 0, "" },
    { "bad ipv6", "http://[::g]/", 0, PF_EINVAL, "", 0, "" },
    { "connect no port", "example.com", 1, PF_EINVAL, "", 0, "" },
    { "connect absolute", "http://a:443", 1, PF_EINVAL, "", 0, "" },
    { "asterisk", "*", 0, PF_EINVAL, "", 0, "" },
};

ParameterizedTestParameters(http_head, target_table)
{
    return cr_make_param_array(struct target_case, target_cases, PF_ARRAY_LEN(target_cases));
}

ParameterizedTest(struct target_case *tc, http_head, target_table)
{
    struct http_target t;
    struct pf_err err;
    pf_err_clear(&err);
    int rc = http_target_parse(tc->target, tc->is_connect, &t, &err);
    cr_expect_eq(rc, tc->rc, "%s: got %d (%s)", tc->name, rc, err.msg);
    if (rc == PF_OK) {
        cr_expect_str_eq(t.host, tc->host, "%s", tc->name);
        cr_expect_eq(t.port, tc->port, "%s", tc->name);
        if (!tc->is_connect)
            cr_expect_str_eq(t.path, tc->path, "%s", tc->name);
    }
    http_target_deinit(&t);
}

/* Feeds <body> then <next> in <step>-byte pieces; returns the consumed total
 * when the body completed, or -1 on error / -2 when never complete. */
static long feed_body(enum http_framing fr, int64_t cl, const char *data, size_t len, size_t step)
{
    struct http_body b;
    http_body_init(&b, fr, cl);
    size_t off = 0;
    while (off < len) {
        size_t n = PF_MIN_OF(step, len - off), used = 0;
        int rc = http_body_feed(&b, data + off, n, &used);
        off += used;
        if (rc == PF_EPROTO)
            return -1;
        if (rc == PF_OK)
            return (long)off;
        if (used < n)
            return -3;   /* EAGAIN must consume everything it was given */
    }
    return b.is_done ? (long)off : -2;
}

Test(http_body, chunked_ok_any_fragmentation)
{
    const char *body = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\n";
    const char *all = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: 1\r\n\r\nGET next";
    for (size_t step = 1; step <= strlen(all); step++)
        cr_expect_eq(feed_body(HTTP_FRAMING_CHUNKED, -1, all, strlen(all), step), (long)strlen(body),
                     "step %zu", step);
}

Test(http_body, chunked_no_trailer)
{
    const char *all = "A\r\n0123456789\r\n0\r\n\r\n";
    cr_expect_eq(feed_body(HTTP_FRAMING_CHUNKED, -1, all, strlen(all), 3), (long)strlen(all));
}

Test(http_body, chunked_errors)
{
    const char *bad[] = {
        "x\r\n", "5\nhello\r\n", "5\r\nhelloX\r\n", "5\r\nhello\r\r", "\r\n",
        "1234567890123456\r\n", "0\r\nX: 1\n", "0\r\n\x01\r\n\r\n", "-1\r\n",
    };
    for (size_t i = 0; i < PF_ARRAY_LEN(bad); i++)
        cr_expect_eq(feed_body(HTTP_FRAMING_CHUNKED, -1, bad[i], strlen(bad[i]), 1), -1, "case %zu", i);
}

Test(http_body, length_and_none)
{
    cr_expect_eq(feed_body(HTTP_FRAMING_LENGTH, 4, "abcdEFG", 7, 3), 4);
    cr_expect_eq(feed_body(HTTP_FRAMING_LENGTH, 4, "ab", 2, 1), -2);
    struct http_body b;
    size_t used = 9;
    http_body_init(&b, HTTP_FRAMING_NONE, 0);
    cr_expect_eq(http_body_feed(&b, "x", 1, &used), PF_OK);
    cr_expect_eq(used, 0);
    http_body_init(&b, HTTP_FRAMING_UNTIL_CLOSE, 0);
    cr_expect_eq(http_body_feed(&b, "xyz", 3, &used), PF_EAGAIN);
    cr_expect_eq(used, 3);
}

Test(http_head, list_tokens)
{
    cr_expect(http_list_has_token("close", "close"));
    cr_expect(http_list_has_token(" Keep-Alive , close ", "keep-alive"));
    cr_expect_not(http_list_has_token("closed", "close"));
    cr_expect_not(http_list_has_token(NULL, "close"));
}

/* Replays one tests/corpus/http_head/ input (seed or fuzz crasher) as the
 * fuzz target does: request and response heads, whole and with a small
 * size limit, the request target, and body framing on what follows. */
static void replay_http_head(const char *name, const char *p, size_t len)
{
    static const struct { enum http_head_kind kind; size_t max; } runs[] = {
        { HTTP_HEAD_REQUEST, 4096 }, { HTTP_HEAD_RESPONSE, 4096 }, { HTTP_HEAD_REQUEST, 64 },
    };
    for (size_t r = 0; r < PF_ARRAY_LEN(runs); r++) {
        struct http_head h;
        http_head_init(&h, runs[r].kind, runs[r].max);
        int rc = http_head_parse(&h, p, len);
        cr_expect(rc == PF_OK || rc == PF_EAGAIN || rc == PF_EINVAL || rc == PF_ERANGE,
                  "%s: run %zu rc %d", name, r, rc);
        if (rc == PF_OK) {
            cr_expect(h.head_len <= len && h.head_len <= runs[r].max, "%s: head_len", name);
            enum http_framing fr;
            if (runs[r].kind == HTTP_HEAD_REQUEST) {
                struct http_target t;
                struct pf_err err;
                if (http_target_parse(h.target, strcmp(h.method, "CONNECT") == 0, &t, &err) == PF_OK)
                    cr_expect(t.port != 0 && t.host[0] != '\0', "%s: target", name);
                http_target_deinit(&t);
                fr = http_head_request_framing(&h);
            } else {
                fr = http_head_response_framing(&h, 0);
            }
            (void)feed_body(fr, h.content_length, p + h.head_len, len - h.head_len, 7);
        }
        http_head_deinit(&h);
    }
    (void)feed_body(HTTP_FRAMING_CHUNKED, -1, p, len, 7);
}

Test(http_head, corpus_replay)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/http_head", PF_CORPUS_DIR);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "opendir %s", dir);
    struct dirent *e;
    int count = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "open %s", path);
        static char buf[65536];
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        /* an exact-size heap copy, so ASan catches any over-read */
        char *copy = malloc(n > 0 ? n : 1);
        cr_assert_not_null(copy);
        memcpy(copy, buf, n);
        replay_http_head(e->d_name, copy, n);
        free(copy);
        count++;
    }
    closedir(d);
    cr_expect_geq(count, 10, "corpus has %d files", count);
}
