/* Leader lease on Redis; see lease.h. */
#include "lease.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "keys.h"
#include "log.h"
#include "redis.h"
#include "rng.h"

/* KEYS[1] lease; ARGV[1] token, ARGV[2] lease_ms. {1, 0} when acquired,
 * else {0, PTTL of the holder's lease}. */
static const char lease_acquire_script[] =
    "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then\n"
    "  return {1, 0}\n"
    "end\n"
    "return {0, redis.call('PTTL', KEYS[1])}\n";

/* KEYS[1] lease; ARGV[1] token, ARGV[2] lease_ms. 1 renewed, 0 not ours. */
static const char lease_renew_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n";

/* KEYS[1] lease; ARGV[1] token. 1 deleted, 0 not ours. */
static const char lease_release_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('DEL', KEYS[1])\n"
    "end\n"
    "return 0\n";

void lease_init(struct lease *l, struct redis *redis, const struct keys *keys, const char *id,
                int64_t lease_ms)
{
    memset(l, 0, sizeof(*l));
    l->redis = redis;
    l->keys = keys;
    l->id = id;
    l->lease_ms = lease_ms > 0 ? lease_ms : 6000;
    l->holder_ttl_ms = -1;
}

int64_t lease_renew_ms(const struct lease *l)
{
    return l->lease_ms / 3 > 0 ? l->lease_ms / 3 : 1;
}

int lease_valid(const struct lease *l, int64_t now_mono_ms)
{
    return l->is_leader && now_mono_ms < l->valid_until_ms;
}

int lease_step_down(struct lease *l, const char *why)
{
    if (!l->is_leader)
        return 0;
    log_warn("lease: no longer leader: %s", why);
    l->is_leader = 0;
    l->token[0] = '\0';
    l->leader_since_ms = 0;
    l->losses++;
    snprintf(l->last_loss, sizeof(l->last_loss), "%s", why);
    return 1;
}

static void lease_new_token(struct lease *l)
{
    snprintf(l->token, sizeof(l->token), "%s:%016" PRIx64, l->id, rng_os_u64());
}

/* EVAL of <script> on the lease key with <token>. Returns the reply (caller
 * frees) or NULL when Redis is unreachable (the connection was dropped). */
static struct redis_reply *lease_eval(struct lease *l, const char *what, const char *script,
                                      const char *token)
{
    char ms[24];
    snprintf(ms, sizeof(ms), "%" PRId64, l->lease_ms);
    const char *argv[] = { "EVAL", script, "1", l->keys->controller_lease, token, ms };
    struct redis_reply *r = redis_command(l->redis, what, (int)PF_ARRAY_LEN(argv), argv, NULL);
    if (redis_reply_type(r) == REDIS_TYPE_ERROR) {
        log_warn("lease: %s: %s", what, redis_reply_str(r, NULL));
        redis_reply_free(r);
        return NULL;
    }
    return r;
}

enum lease_event lease_tick(struct lease *l, int64_t now_mono_ms, int64_t *next_in_ms)
{
    int64_t renew = lease_renew_ms(l);

    *next_in_ms = renew;
    if (redis_connect(l->redis, now_mono_ms) != PF_OK) {
        int64_t retry = redis_retry_in_ms(l->redis, now_mono_ms);
        if (retry > 0 && retry < renew)
            *next_in_ms = retry;
        if (l->is_leader && !lease_valid(l, now_mono_ms) &&
            lease_step_down(l, "lease ran out while Redis was unreachable"))
            return LEASE_EV_LOST;
        return LEASE_EV_NONE;
    }
    if (l->is_leader) {
        struct redis_reply *r = lease_eval(l, "lease renew", lease_renew_script, l->token);
        if (r == NULL) {
            if (!lease_valid(l, now_mono_ms) &&
                lease_step_down(l, "lease ran out while Redis was unreachable"))
                return LEASE_EV_LOST;
            return LEASE_EV_NONE;
        }
        int is_ours = redis_reply_type(r) == REDIS_TYPE_INTEGER && redis_reply_integer(r) == 1;
        redis_reply_free(r);
        if (!is_ours) {
            lease_step_down(l, "lease taken over or expired");
            *next_in_ms = 0;    /* try again as a standby at once */
            return LEASE_EV_LOST;
        }
        if (!lease_valid(l, now_mono_ms)) {
            /* We were stalled past the lease end and nobody took it: the
             * key is ours again, but anything we believed is stale. */
            lease_step_down(l, "lease ran out (process stalled)");
            *next_in_ms = 0;
            return LEASE_EV_LOST;
        }
        l->valid_until_ms = now_mono_ms + l->lease_ms;
        return LEASE_EV_NONE;
    }

    char token[LEASE_TOKEN_MAX];
    lease_new_token(l);
    memcpy(token, l->token, sizeof(token));
    l->token[0] = '\0';
    struct redis_reply *r = lease_eval(l, "lease acquire", lease_acquire_script, token);
    if (r == NULL)
        return LEASE_EV_NONE;
    int is_acquired = 0;
    const struct redis_reply *e0 = redis_reply_element(r, 0), *e1 = redis_reply_element(r, 1);
    if (redis_reply_count(r) == 2 && redis_reply_type(e0) == REDIS_TYPE_INTEGER &&
        redis_reply_type(e1) == REDIS_TYPE_INTEGER) {
        is_acquired = redis_reply_integer(e0) == 1;
        l->holder_ttl_ms = is_acquired ? -1 : redis_reply_integer(e1);
    }
    redis_reply_free(r);
    if (!is_acquired) {
        /* Try again right when the holder's lease ends, or every renew interval. */
        if (l->holder_ttl_ms >= 0 && l->holder_ttl_ms + 5 < renew)
            *next_in_ms = l->holder_ttl_ms + 5;
        return LEASE_EV_NONE;
    }
    memcpy(l->token, token, sizeof(l->token));
    l->is_leader = 1;
    l->valid_until_ms = now_mono_ms + l->lease_ms;
    l->leader_since_ms = clock_wall_ms();
    l->acquisitions++;
    log_info("lease: leader now (lease %" PRId64 " ms, renew every %" PRId64 " ms)",
             l->lease_ms, renew);
    return LEASE_EV_ACQUIRED;
}

int lease_release(struct lease *l)
{
    if (!l->is_leader)
        return PF_OK;
    int rc = PF_EIO;
    if (redis_connect(l->redis, clock_mono_ms()) == PF_OK) {
        struct redis_reply *r = lease_eval(l, "lease release", lease_release_script, l->token);
        if (r != NULL) {
            rc = PF_OK;
            redis_reply_free(r);
        }
    }
    lease_step_down(l, rc == PF_OK ? "released on shutdown" : "shutdown (release failed)");
    return rc;
}
