/* Ban requests on the admin API and in-band; see ban_control.h. */
#include "ban_control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "attempt.h"
#include "ban.h"
#include "ban_set.h"
#include "ban_sync.h"
#include "clock.h"
#include "log.h"
#include "node.h"

/* {"error": <reason>}; <reason> is built by the node, never raw input. */
int ban_control_error(int status, const char *reason, char **json)
{
    cJSON *o = cJSON_CreateObject();
    *json = NULL;
    if (o != NULL && cJSON_AddStringToObject(o, "error", reason) != NULL)
        *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return status;
}

static cJSON *ban_json(const struct ban *b)
{
    char rec[BAN_RECORD_MAX];
    if (ban_record_format(b, rec, sizeof(rec)) < 0)
        return NULL;
    return cJSON_Parse(rec);
}

static int answer_ban(int status, const struct ban *b, char **json)
{
    cJSON *o = cJSON_CreateObject(), *r = ban_json(b);
    *json = NULL;
    if (o != NULL && r != NULL && cJSON_AddItemToObject(o, "ban", r)) {
        r = NULL;
        *json = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(r);
    cJSON_Delete(o);
    return *json != NULL ? status : ban_control_error(500, "out of memory", json);
}

/* Fills a session ban's upstream (the session's current one for the
 * domain), stores and announces <b>. */
static int add_ban(struct node_ctx *ctx, struct ban *b, int ok_status, char **json)
{
    if (b->upstream[0] == '\0') {
        int rc = attempt_session_upstream(ctx, b->session, b->domain, b->upstream);
        if (rc == PF_ENOENT)
            return ban_control_error(503, "no upstream serves this session now", json);
        if (rc != PF_OK)
            return ban_control_error(400, "session must be \"<user>-session-<key>\"", json);
    }
    int rc = ban_sync_add(ctx->bans, b, &ctx->rng);
    if (rc == PF_EAGAIN)
        return ban_control_error(503, "bans are kept in Redis, which is not connected", json);
    if (rc != PF_OK)
        return ban_control_error(500, "out of memory", json);
    log_info("ban %s: upstream %s%s%s for %s, %lld s (%s)", b->id, b->upstream,
             b->session[0] != '\0' ? " session " : "", b->session, b->domain,
             (long long)((b->expires_at_ms - b->created_at_ms) / 1000), b->reason);
    return answer_ban(ok_status, b, json);
}

int ban_control_inband(struct node_ctx *ctx, const char *user, const char *path, char **json)
{
    if (ctx->bans == NULL)
        return ban_control_error(404, "bans need pool mode", json);
    if (user == NULL || user[0] == '\0')
        return ban_control_error(403, "in-band bans need your proxy credentials", json);
    const char *q = strchr(path, '?');
    size_t plen = q != NULL ? (size_t)(q - path) : strlen(path);
    if (plen != 4 || memcmp(path, "/ban", 4) != 0)
        return ban_control_error(404, "unknown path (known: /ban?session=...&domain=...)", json);
    struct ban b;
    struct pf_err err;
    pf_err_clear(&err);
    if (ban_query_parse(q != NULL ? q + 1 : "", q != NULL ? strlen(q + 1) : 0, user,
                        clock_wall_ms(), &b, &err) != PF_OK)
        return ban_control_error(400, err.msg, json);
    return add_ban(ctx, &b, 200, json);
}

int ban_control_post(struct node_ctx *ctx, const char *body, size_t len, char **json)
{
    if (ctx->bans == NULL)
        return ban_control_error(404, "bans need pool mode", json);
    struct ban b;
    struct pf_err err;
    pf_err_clear(&err);
    if (ban_request_parse(body, len, clock_wall_ms(), &b, &err) != PF_OK)
        return ban_control_error(400, err.msg, json);
    return add_ban(ctx, &b, 201, json);
}

static int list_one(const struct ban *b, void *arg)
{
    cJSON *r = ban_json(b);
    if (r == NULL || !cJSON_AddItemToArray(arg, r)) {
        cJSON_Delete(r);
        return 1;
    }
    return 0;
}

int ban_control_list(struct node_ctx *ctx, char **json)
{
    if (ctx->bans == NULL)
        return ban_control_error(404, "bans need pool mode", json);
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    *json = NULL;
    if (o != NULL && arr != NULL && cJSON_AddItemToObject(o, "bans", arr)) {
        ban_set_foreach(ban_sync_set(ctx->bans), clock_wall_ms(), list_one, arr);
        arr = NULL;
        *json = cJSON_PrintUnformatted(o);
    }
    cJSON_Delete(arr);
    cJSON_Delete(o);
    return *json != NULL ? 200 : ban_control_error(500, "out of memory", json);
}

int ban_control_delete(struct node_ctx *ctx, const char *id, char **json)
{
    if (ctx->bans == NULL)
        return ban_control_error(404, "bans need pool mode", json);
    int rc = ban_sync_remove(ctx->bans, id, clock_wall_ms());
    if (rc == PF_ENOENT)
        return ban_control_error(404, "no such ban", json);
    if (rc != PF_OK)
        return ban_control_error(503, "bans are kept in Redis, which is not connected", json);
    log_info("ban %s removed", id);
    cJSON *o = cJSON_CreateObject();
    *json = NULL;
    if (o != NULL && cJSON_AddStringToObject(o, "deleted", id) != NULL)
        *json = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return *json != NULL ? 200 : ban_control_error(500, "out of memory", json);
}
