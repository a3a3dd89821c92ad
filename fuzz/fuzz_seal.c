/* libFuzzer target: common/seal.c opening untrusted sealed text (a
 * "pass_sealed" value read back from Redis). It must never crash; what
 * opens must seal and open again to the same bytes. The key and the
 * associated data are fixed (tests/corpus/seal/ holds values sealed under
 * them, so the fuzzer starts from texts that authenticate). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "seal.h"

#define FUZZ_SEAL_KEY "1111111111111111111111111111111111111111111111111111111111111111"
#define FUZZ_SEAL_AAD "http://127.0.0.1:8080#8c736521"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seal_key k;
    char out[SEAL_PLAINTEXT_MAX + 1], again[SEAL_PLAINTEXT_MAX + 1];
    char sealed[SEAL_TEXT_MAX];
    size_t n = 0, m = 0;

    if (seal_key_parse_hex(&k, FUZZ_SEAL_KEY, strlen(FUZZ_SEAL_KEY), NULL) != PF_OK)
        abort();
    int rc = seal_decrypt(&k, (const char *)data, size, FUZZ_SEAL_AAD, out, sizeof(out), &n, NULL);
    if (rc != PF_OK && rc != PF_EINVAL && rc != PF_EDENIED && rc != PF_ERANGE)
        abort();
    if (rc != PF_OK)
        return 0;
    if (n == 0 || n > SEAL_PLAINTEXT_MAX)
        abort();
    if (seal_encrypt(&k, out, n, FUZZ_SEAL_AAD, sealed, sizeof(sealed), NULL) != PF_OK)
        abort();
    if (seal_decrypt(&k, sealed, strlen(sealed), FUZZ_SEAL_AAD, again, sizeof(again), &m,
                     NULL) != PF_OK || m != n || memcmp(out, again, n) != 0)
        abort();
    return 0;
}
