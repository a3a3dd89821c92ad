/* What the node answers to ban requests (issue 12 item 2), on its two
 * doors: the admin API (admin_http: POST/GET/DELETE /v1/bans, behind
 * node.admin_token) and the in-band host "proxyfleet.control" on the proxy
 * port (http_proxy: GET http://proxyfleet.control/ban?session=...&domain=...
 * with the client's own proxy credentials, for its own sessions; never
 * forwarded). Each call returns an HTTP status and a JSON body
 * (malloc'd, the caller frees it); errors are {"error": "<reason>"} built
 * from parsed parts, never echoing the input. */
#ifndef PF_NODE_BAN_CONTROL_H
#define PF_NODE_BAN_CONTROL_H

#include <stddef.h>

struct node_ctx;

/* Sets <*json> to {"error": <reason>} and returns <status>. */
int ban_control_error(int status, const char *reason, char **json);

/* The in-band request of user <user> ("" when the client sent none) for
 * origin-form <path> ("/ban?..."): a session ban of that user's session.
 * Sets <*json>. Returns the status: 200 with {"ban": <record>}, 400, 403
 * (no user name), 404 (another path, or direct mode), 503 (Redis down, or
 * no upstream for the session). */
int ban_control_inband(struct node_ctx *ctx, const char *user, const char *path, char **json);

/* POST /v1/bans with body <body> (<len> bytes): 201 {"ban": <record>}, 400,
 * 404 (direct mode), 503. */
int ban_control_post(struct node_ctx *ctx, const char *body, size_t len, char **json);

/* GET /v1/bans: 200 {"bans": [<record>, ...]} (not expired), 404 in direct
 * mode. */
int ban_control_list(struct node_ctx *ctx, char **json);

/* DELETE /v1/bans/<id>: 200 {"deleted": "<id>"}, 404 (unknown id, direct
 * mode), 503. */
int ban_control_delete(struct node_ctx *ctx, const char *id, char **json);

#endif
