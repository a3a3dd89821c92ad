/* libFuzzer target: node/socks5.c, the SOCKS5 parsers of both sides.
 * Input: one selector byte (which parser, modulo 6), then the bytes fed to it.
 * Invariants: a parser never claims more bytes than it was given; when it
 * parses a message of n bytes, every shorter prefix gives PF_EAGAIN (so
 * feeding byte by byte agrees with feeding at once); an error on the whole
 * input is PF_EAGAIN or the same error on a prefix; a parsed request
 * re-encodes to a request that parses to the same destination. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "socks5.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs parser <which> on <len> bytes at <p>; <*used> gets what it took. */
static int run(int which, const uint8_t *p, size_t len, size_t *used, struct socks5_request *req)
{
    struct socks5_greeting g;
    struct socks5_userpass up;
    uint8_t v;
    *used = 0;
    switch (which) {
    case 0: return socks5_parse_greeting(p, len, &g, used);
    case 1: return socks5_parse_userpass(p, len, &up, used);
    case 2: return socks5_parse_request(p, len, req, used);
    case 3: return socks5_parse_method(p, len, &v, used);
    case 4: return socks5_parse_auth_status(p, len, &v, used);
    default: return socks5_parse_reply(p, len, &v, used);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] % 6;
    /* a copy of exactly the input, so reads past the end are caught */
    size_t len = size - 1;
    uint8_t *p = malloc(len > 0 ? len : 1);
    if (p == NULL)
        return 0;
    memcpy(p, data + 1, len);
    struct socks5_request req, req2;
    size_t used = 0;
    int rc = run(which, p, len, &used, &req);
    if (rc != PF_OK && rc != PF_EAGAIN && rc != PF_EPROTO && rc != PF_EINVAL)
        abort();
    if (rc == PF_OK && (used == 0 || used > len))
        abort();
    size_t upto = rc == PF_OK ? used : len;
    for (size_t k = 0; k < upto; k++) {
        size_t u2;
        int r2 = run(which, p, k, &u2, &req2);
        if (rc == PF_OK && r2 != PF_EAGAIN)
            abort();
        if (rc != PF_OK && r2 != PF_EAGAIN && r2 != rc)
            abort();
    }
    if (which == 2 && rc == PF_OK) {
        uint8_t enc[SOCKS5_REQUEST_MAX];
        int n = socks5_encode_request(req.cmd, req.host, req.port, enc, sizeof(enc));
        size_t u3;
        if (n <= 0 || socks5_parse_request(enc, (size_t)n, &req2, &u3) != PF_OK ||
            u3 != (size_t)n || req2.port != req.port || req2.cmd != req.cmd ||
            strcmp(req2.host, req.host) != 0)
            abort();
    }
    if (which == 2 && (rc == PF_EINVAL || rc == PF_EPROTO) &&
        req.err_rep != SOCKS5_REP_GENERAL && req.err_rep != SOCKS5_REP_ATYP_UNSUPPORTED)
        abort();
    free(p);
    return 0;
}
