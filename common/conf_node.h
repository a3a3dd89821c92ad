/* The "node" section of the config: its schema, one row per key
 * (docs/configuration.md documents each; test_conf checks both agree). */
#ifndef PF_CONF_NODE_H
#define PF_CONF_NODE_H

#include "conf_schema.h"

/* Keys of struct conf_node; defaults by conf_schema_defaults(). */
extern const struct conf_table conf_node_table;

#endif
