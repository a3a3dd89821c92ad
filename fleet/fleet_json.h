/* The fleet status model as JSON (cJSON), pure: what `proxyfleet-ctl
 * --json` prints and the controller's status page reads from
 * GET /fleet.json. A figure the model does not know is null. */
#ifndef PF_FLEET_JSON_H
#define PF_FLEET_JSON_H

#include <cJSON.h>

#include "fleet-t.h"

#define FLEET_JSON_BANS_RECENT 10   /* bans the status shows (the newest) */

/* The status of <f> (finished): leader, providers, nodes, pool summary
 * (no upstream list), bans (count and the newest FLEET_JSON_BANS_RECENT). Returns a new object (the caller frees it) or NULL
 * on allocation failure. */
cJSON *fleet_json_status(const struct fleet *f);

/* Adds the members of the leader, providers, nodes or pool section to new
 * objects/arrays; used by fleet_json_status() and by the list commands. */
cJSON *fleet_json_leader(const struct fleet *f);
cJSON *fleet_json_providers(const struct fleet *f);
cJSON *fleet_json_nodes(const struct fleet *f);
cJSON *fleet_json_pool(const struct fleet *f);

/* The bans of <f>: {"count", "expired", "bad_records", <member>: the
 * newest <limit> bans}; each ban is its record (ban.h) plus
 * "expires_in_ms". NULL on allocation failure. */
cJSON *fleet_json_bans(const struct fleet *f, const char *member, size_t limit);

/* One ban record as an object; NULL on allocation failure. */
cJSON *fleet_json_ban(const struct ban *b);

/* One upstream as an object; NULL on allocation failure. */
cJSON *fleet_json_upstream(const struct fleet_upstream *u);

#endif
