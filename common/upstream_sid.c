/* The short upstream id; see upstream_sid.h. */
#include "upstream_sid.h"

#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

static const char sid_domain[] = "pf-upstream-sid:v1\n";

void upstream_sid(const char *id, size_t len, char out[UPSTREAM_SID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned char buf[1024];
    size_t dlen = sizeof(sid_domain) - 1;
    if (dlen + len <= sizeof(buf)) {
        /* every upstream id fits (UPSTREAM_ID_MAX): one call, no allocation */
        memcpy(buf, sid_domain, dlen);
        memcpy(buf + dlen, id, len);
        SHA256(buf, dlen + len, md);
    } else {
        unsigned int mdlen = 0;
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        int ok = m != NULL && EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
                 EVP_DigestUpdate(m, sid_domain, dlen) == 1 &&
                 EVP_DigestUpdate(m, id, len) == 1 && EVP_DigestFinal_ex(m, md, &mdlen) == 1;
        EVP_MD_CTX_free(m);
        if (!ok)
            memset(md, 0xff, sizeof(md));   /* OpenSSL out of memory: "ffffffffffff" */
    }
    for (size_t i = 0; i < UPSTREAM_SID_LEN / 2; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[UPSTREAM_SID_LEN] = '\0';
}

int upstream_sid_is_valid(const char *s, size_t len)
{
    if (s == NULL || len != UPSTREAM_SID_LEN)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}
