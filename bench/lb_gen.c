/* Writes the Redis commands (RESP, for redis-cli --pipe) of bench/run.sh's
 * LABELS_BANS mode: a pool of <n> labelled upstreams that all reach one
 * direct-mode node at 127.0.0.1:<port> (distinct upstream user names make
 * distinct upstream ids), over 20 countries and 5 providers, and <nbans>
 * fleet bans of (upstream short id, domain): most on 50 other domains, and
 * <nlocal> on the benchmark's own destination host for upstreams of
 * country US, so that some picks meet a banned winner. Short ids under the
 * all-zero key (no credential key). Built by bench/run.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "snapshot.h"
#include "upstream_sid.h"

static void resp(int argc, const char **argv)
{
    printf("*%d\r\n", argc);
    for (int i = 0; i < argc; i++)
        printf("$%zu\r\n%s\r\n", strlen(argv[i]), argv[i]);
}

int main(int argc, char **argv)
{
    static const char *const cc[] = { "US", "DE", "FR", "GB", "JP", "CN", "BR", "IN", "RU", "CA",
                                      "AU", "NL", "SE", "ES", "IT", "PL", "KR", "MX", "TR", "ZA" };
    if (argc != 9) {
        fprintf(stderr, "usage: %s PORT N NBANS NLOCAL HOST NOW_MS VERSION EPOCH\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]), n = atoi(argv[2]), nbans = atoi(argv[3]), nlocal = atoi(argv[4]);
    const char *host = argv[5], *now = argv[6], *ver = argv[7], *epoch = argv[8];
    long long exp = atoll(now) + 3600 * 1000LL;
    const char *del[] = { "DEL", "{pf}:v1:pool:upstreams", "{pf}:v1:bans", "{pf}:v1:bans:expiry" };
    resp(4, del);
    int nlocal_done = 0;
    for (int i = 0; i < n; i++) {
        struct upstream u;
        memset(&u, 0, sizeof(u));
        u.scheme = UPSTREAM_HTTP;
        u.host_kind = UPSTREAM_HOST_IPV4;
        snprintf(u.host, sizeof(u.host), "127.0.0.1");
        u.port = (uint16_t)port;
        snprintf(u.user, sizeof(u.user), "u%d", i);
        snprintf(u.pass, sizeof(u.pass), "x");
        u.weight = 1;
        snprintf(u.provider, sizeof(u.provider), "p%d", i % 5);
        snprintf(u.labels.country, sizeof(u.labels.country), "%s", cc[(i * 7) % 20]);
        char id[UPSTREAM_ID_MAX], sid[UPSTREAM_SID_LEN];
        addr_upstream_id(&u, id, sizeof(id));
        upstream_sid_format(NULL, id, sid, sizeof(sid));
        char *rec = snapshot_record_encode(&u, NULL);
        if (rec == NULL)
            return 1;
        const char *hset[] = { "HSET", "{pf}:v1:pool:upstreams", id, rec };
        resp(4, hset);
        snapshot_record_free(rec);
        /* bans: every (n / nbans)-th upstream; the US ones first for <host> */
        if (nbans > 0 && i % (n / nbans) == 0 && i / (n / nbans) < nbans) {
            char bid[24], dom[64], brec[512], score[24];
            int is_local = strcmp(u.labels.country, "US") == 0 && nlocal_done < nlocal;
            nlocal_done += is_local;
            snprintf(bid, sizeof(bid), "%016x", (unsigned)i);
            if (is_local)
                snprintf(dom, sizeof(dom), "%s", host);
            else
                snprintf(dom, sizeof(dom), "site%d.example", i % 50);
            snprintf(brec, sizeof(brec),
                     "{\"id\":\"%s\",\"upstream\":\"%s\",\"domain\":\"%s\",\"created_at_ms\":%s,"
                     "\"expires_at_ms\":%lld,\"reason\":\"bench\"}", bid, sid, dom, now, exp);
            snprintf(score, sizeof(score), "%lld", exp);
            const char *bh[] = { "HSET", "{pf}:v1:bans", bid, brec };
            const char *bz[] = { "ZADD", "{pf}:v1:bans:expiry", score, bid };
            resp(4, bh);
            resp(4, bz);
        }
    }
    char count[24];
    snprintf(count, sizeof(count), "%d", n);
    const char *meta[] = { "HSET", "{pf}:v1:pool:meta", "version", ver, "epoch", epoch, "count", count,
                           "updated_at_ms", now, "controller_id", "bench" };
    resp(12, meta);
    char notice[96];
    snprintf(notice, sizeof(notice), "%s %s", ver, epoch);
    const char *pub[] = { "PUBLISH", "{pf}:v1:pool:events", notice };
    resp(3, pub);
    return 0;
}
