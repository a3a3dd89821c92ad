/* pf-seal KEYFILE: reads pool records (one JSON object per line, clear
 * "pass") on stdin and writes each back with its password sealed by the
 * credential key in KEYFILE, as the controller would publish it. Tests that
 * write a snapshot into Redis by hand use it, so no test leaves an upstream
 * password in clear in Redis either. Exit 1 on any bad record or key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "seal.h"
#include "snapshot.h"

static int seal_line(const struct seal_key *key, const char *line, size_t len)
{
    struct upstream u;
    struct pf_err err = { 0 };
    if (snapshot_record_decode(line, len, NULL, &u, &err) != PF_OK) {
        fprintf(stderr, "pf-seal: bad record: %s\n", err.msg);
        return 1;
    }
    char *rec = snapshot_record_encode(&u, key);
    memset(&u, 0, sizeof(u));
    if (rec == NULL) {
        fprintf(stderr, "pf-seal: cannot encode the record\n");
        return 1;
    }
    printf("%s\n", rec);
    snapshot_record_free(rec);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: pf-seal KEYFILE < records\n");
        return 2;
    }
    struct pf_err err = { 0 };
    struct seal_key *key = seal_key_load(argv[1], &err);
    if (key == NULL) {
        fprintf(stderr, "pf-seal: %s\n", err.msg);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (rc == 0 && (n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n > 0)
            rc = seal_line(key, line, (size_t)n);
    }
    free(line);
    seal_key_destroy(key);
    return rc;
}
