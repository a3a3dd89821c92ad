/* libFuzzer target: common/ban.c on what clients and Redis send: a ban
 * record (Redis HASH value), a channel notice, the body of POST /v1/bans
 * and the in-band query. An accepted record must format and parse back to
 * itself; a refused input must leave nothing behind and give a reason. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ban.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_is_zero(const struct ban *b)
{
    return b->id[0] == '\0' && b->upstream[0] == '\0' && b->domain[0] == '\0' &&
           b->session[0] == '\0' && b->expires_at_ms == 0;
}

/* <has_domain>: an accepted input must carry a domain (all but a "del" notice). */
static void fuzz_check(int rc, const struct ban *b, const struct pf_err *err, int has_domain)
{
    if (rc != PF_OK && rc != PF_EINVAL)
        abort();
    if (rc != PF_OK && (err->msg[0] == '\0' || !fuzz_is_zero(b)))
        abort();
    if (rc == PF_OK && has_domain && (b->domain[0] == '\0' || strlen(b->domain) >= BAN_DOMAIN_MAX))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct ban b, c;
    struct pf_err err;
    enum ban_notice_kind kind;
    char buf[BAN_RECORD_MAX];

    memset(&err, 0, sizeof(err));
    int rc = ban_record_parse(s, size, &b, &err);
    fuzz_check(rc, &b, &err, 1);
    if (rc == PF_OK) {
        int n = ban_record_format(&b, buf, sizeof(buf));
        if (n <= 0 || ban_record_parse(buf, (size_t)n, &c, &err) != PF_OK ||
            memcmp(&b, &c, sizeof(b)) != 0)
            abort();
    }
    memset(&err, 0, sizeof(err));
    rc = ban_notice_parse(s, size, &kind, &b, &err);
    fuzz_check(rc, &b, &err, rc == PF_OK && kind == BAN_NOTICE_ADD);
    if (rc == PF_OK && kind == BAN_NOTICE_DEL && strlen(b.id) != BAN_ID_LEN)
        abort();
    memset(&err, 0, sizeof(err));
    rc = ban_request_parse(s, size, 1795306800000LL, &b, &err);
    fuzz_check(rc, &b, &err, 1);
    if (rc == PF_OK && b.upstream[0] == '\0' && b.session[0] == '\0')
        abort();
    memset(&err, 0, sizeof(err));
    rc = ban_query_parse(s, size, "alice", 1795306800000LL, &b, &err);
    fuzz_check(rc, &b, &err, 1);
    if (rc == PF_OK && !ban_session_is_valid(b.session, strlen(b.session)))
        abort();
    return 0;
}
