/* libFuzzer target: fleet/fleet_decode.c and fleet/fleet_model.c on what
 * proxyfleet-ctl and the status page read from Redis (untrusted). The first
 * byte picks the key kind; the rest is "field\nvalue\n..." pairs (hashes)
 * or one value. Every text the model keeps must be clean (no control
 * characters, valid UTF-8), the model must finish, rate, check and render
 * as JSON without a fault. tests/unit/test_fleet_decode.c replays the seed
 * corpus tests/corpus/fleet_decode/ through this same function. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "fleet_decode.h"
#include "fleet_json.h"
#include "fleet_model.h"
#include "str.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_PAIRS_MAX 64

static void fz_clean(const char *s)
{
    if (!str_is_clean_text(s, strlen(s)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snapshot_pair pairs[FZ_PAIRS_MAX];
    size_t np = 0;
    struct fleet f, g;
    struct pf_err err;

    if (size == 0)
        return 0;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    /* split into lines: field, value, field, value ... */
    const char *p = s, *end = s + len;
    while (p < end && np < FZ_PAIRS_MAX) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *fe = nl != NULL ? nl : end;
        const char *v = fe < end ? fe + 1 : end;
        const char *nl2 = v < end ? memchr(v, '\n', (size_t)(end - v)) : NULL;
        const char *ve = nl2 != NULL ? nl2 : end;
        pairs[np].field = p;
        pairs[np].field_len = (size_t)(fe - p);
        pairs[np].value = v;
        pairs[np].value_len = (size_t)(ve - v);
        np++;
        p = ve < end ? ve + 1 : end;
    }

    fleet_init(&f, 1795306801000);
    f.pool.has_meta = 1;
    f.pool.version = 7;
    f.pool.updated_at_ms = 1795306800000;
    memcpy(f.pool.epoch, "9f1c2a7be0d4431a", 17);
    f.providers = calloc(1, sizeof(*f.providers));
    f.nodes = calloc(1, sizeof(*f.nodes));
    f.upstreams = calloc(1, sizeof(*f.upstreams));
    if (f.providers == NULL || f.nodes == NULL || f.upstreams == NULL)
        abort();
    switch (data[0] % 8) {
    case 0:
        fleet_provider_init(&f.providers[0], s, len > 64 ? 64 : len);
        f.nproviders = 1;
        fleet_provider_from_pairs(&f.providers[0], pairs, np);
        break;
    case 1:
        fleet_node_init(&f.nodes[0], "n", 1, 1795306800500);
        f.nnodes = 1;
        fleet_node_from_pairs(&f.nodes[0], pairs, np);
        f.nodes[0].ttl_ms = 1000;
        break;
    case 2:
        fleet_leader_from_pairs(&f.leader, pairs, np);
        break;
    case 3:
        fleet_leader_token(&f.leader, s, len);
        break;
    case 4:
    case 5:
        if (fleet_upstream_init(&f.upstreams[0], s, len > 300 ? 300 : len) != PF_OK)
            abort();
        f.nupstreams = 1;
        if (data[0] % 8 == 4) {
            int rc = fleet_record_decode(&f.upstreams[0], s, len, &err);
            if (rc != PF_OK && rc != PF_EINVAL)
                abort();
            if ((rc == PF_OK) == (f.upstreams[0].is_bad != 0))
                abort();
        } else {
            int rc = fleet_health_decode(&f.upstreams[0], s, len, 1795306801000);
            if (rc != PF_OK && rc != PF_EINVAL)
                abort();
            if ((unsigned)f.upstreams[0].health >= FLEET_HEALTH_N)
                abort();
        }
        break;
    default: {
        int64_t t, o;
        int rc = fleet_parse_labelled(s, len, "5xx", &t, &o);
        if (rc == PF_OK && (t < 0 || o < 0 || o > t))
            abort();
        (void)fleet_parse_int(s, len);
        (void)fleet_parse_seconds_ms(s, len);
        break;
    }
    }
    for (size_t i = 0; i < f.nproviders; i++) {
        fz_clean(f.providers[i].name);
        fz_clean(f.providers[i].state);
        fz_clean(f.providers[i].breaker);
        fz_clean(f.providers[i].last_error);
    }
    for (size_t i = 0; i < f.nnodes; i++) {
        fz_clean(f.nodes[i].listen);
        fz_clean(f.nodes[i].version);
        fz_clean(f.nodes[i].pool_epoch);
    }
    fz_clean(f.leader.id);
    fz_clean(f.leader.epoch);
    fz_clean(f.leader.version);
    for (size_t i = 0; i < f.nupstreams; i++) {
        fz_clean(f.upstreams[i].id);
        fz_clean(f.upstreams[i].reason);
        fz_clean(f.upstreams[i].provider);
    }
    if (fleet_model_finish(&f) != PF_OK)
        abort();
    fleet_init(&g, 1795306800000);
    fleet_rates(&f, &g);
    struct fleet_check_limits lim = { 1, 1000 };
    char why[256];
    if (fleet_check(&f, &lim, why, sizeof(why)) != PF_OK)
        fz_clean(why);
    cJSON *j = fleet_json_status(&f);
    char *txt = j != NULL ? cJSON_PrintUnformatted(j) : NULL;
    if (txt != NULL) {
        cJSON *back = cJSON_Parse(txt);
        if (back == NULL)
            abort();
        cJSON_Delete(back);
    }
    free(txt);
    cJSON_Delete(j);
    fleet_deinit(&g);
    fleet_deinit(&f);
    return 0;
}
