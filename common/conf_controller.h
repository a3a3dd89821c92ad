/* The "controller" section of the config: its schema (health, providers
 * and their formats, errors and auth), one row per key
 * (docs/configuration.md and docs/providers.md document each; test_conf
 * checks the reference tables against it). */
#ifndef PF_CONF_CONTROLLER_H
#define PF_CONF_CONTROLLER_H

#include "conf_schema.h"

/* Keys of struct conf_controller; defaults by conf_schema_defaults(). */
extern const struct conf_table conf_controller_table;

#endif
