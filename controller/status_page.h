/* The controller's live status page on its admin port, read-only:
 *   GET /           -> one self-contained HTML page (inline style and
 *                      script, no external asset, no build step) that
 *                      renders GET /fleet.json every 2 s
 *   GET /fleet.json -> the fleet as fleet_json_status() renders it, read
 *                      from Redis (fleet_read) through the controller's own
 *                      connection, so a standby serves it as well as the
 *                      leader; plus "check" (the `proxyfleet-ctl status
 *                      --check` verdict with its default limits) and
 *                      "served_by" (this controller's id)
 * With controller.admin_token set, /fleet.json wants "Authorization:
 * Bearer <token>" (401 otherwise); the page itself holds no data and asks
 * for the token (or reads it from the URL fragment, #token=..., which a
 * browser never sends to a server). Rates (requests/s, 5xx) come from the
 * previous read this controller made. */
#ifndef PF_CTL_STATUS_PAGE_H
#define PF_CTL_STATUS_PAGE_H

struct ctl_ctx;
struct evhttp;
struct status_page;

/* Serves the two paths on <http> (borrowed) for <ctx> (borrowed; outlives
 * the page). Returns NULL on allocation failure or when a path cannot be
 * registered. */
struct status_page *status_page_create(struct ctl_ctx *ctx, struct evhttp *http);

/* Frees <p> and the read it keeps (accepts NULL). The paths stay registered
 * on the evhttp, which the caller frees first. */
void status_page_destroy(struct status_page *p);

#endif
