/* The controller's live status page; see status_page.h. */
#include "status_page.h"

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "controller.h"
#include "fleet_json.h"
#include "fleet_model.h"
#include "fleet_read.h"
#include "log.h"
#include "str.h"

#define STATUS_RATE_MIN_MS 500   /* a previous read younger than this is kept, not replaced */

struct status_page {
    struct ctl_ctx *ctx;         /* borrowed */
    struct fleet    prev;        /* owned: the last read, for the rates */
    int             has_prev;
};

static const char status_page_html[] =
"<!doctype html>\n"
"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
"<title>proxyfleet status</title>\n"
"<style>\n"
"body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}\n"
"h1{font-size:1.3em;margin:0 0 .3em}h2{font-size:1.05em;margin:1.2em 0 .3em}\n"
"table{border-collapse:collapse;background:#fff;min-width:40em}\n"
"th,td{padding:.25em .7em;border-bottom:1px solid #e3e3e3;text-align:left;white-space:nowrap}\n"
"th{background:#f0f0f0;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}\n"
".ok{color:#17772b}.warn{color:#a15c00}.bad{color:#b3261e;font-weight:600}\n"
"#banner{padding:.5em .8em;margin:.6em 0;border-radius:4px}\n"
"#banner.ok{background:#e6f4ea}#banner.bad{background:#fce8e6}\n"
".muted{color:#777}.err{white-space:normal;max-width:40em}\n"
"</style></head><body>\n"
"<h1>proxyfleet</h1>\n"
"<div class=\"muted\" id=\"meta\">loading&hellip;</div>\n"
"<div id=\"banner\"></div>\n"
"<div id=\"leader\"></div><div id=\"pool\"></div>\n"
"<h2>Providers</h2><table id=\"providers\"><thead><tr><th>provider</th><th>state</th>"
"<th>breaker</th><th>upstreams</th><th>polls</th><th>failed</th><th>next poll</th>"
"<th>last error</th></tr></thead><tbody></tbody></table>\n"
"<h2>Nodes</h2><table id=\"nodes\"><thead><tr><th>node</th><th>state</th><th>version</th>"
"<th>pool</th><th>lag</th><th>conns</th><th>req/s</th><th>5xx</th><th>heartbeat</th>"
"</tr></thead><tbody></tbody></table>\n"
"<h2>Pool</h2><table id=\"groups\"><thead><tr><th>group</th><th>name</th><th>total</th>"
"<th>healthy</th><th>unknown</th><th>unchecked</th><th>unhealthy</th><th>ejected</th>"
"</tr></thead><tbody></tbody></table>\n"
"<h2>Bans <span class=\"muted\" id=\"bancount\"></span></h2><table id=\"bans\"><thead><tr>"
"<th>ban</th><th>upstream</th><th>domain</th><th>session</th><th>expires</th><th>reason</th>"
"</tr></thead><tbody></tbody></table>\n"
"<script>\n"
"'use strict';\n"
"let token=sessionStorage.getItem('pf_token')||'';\n"
"const m=/(?:^#|&)token=([^&]*)/.exec(location.hash);\n"
"if(m){token=decodeURIComponent(m[1]);sessionStorage.setItem('pf_token',token);"
"history.replaceState(null,'',location.pathname);}\n"
"const $=id=>document.getElementById(id);\n"
"function dur(ms){if(ms===null||ms===undefined)return '-';const a=Math.abs(ms),s=ms<0?'-':'';"
"if(a<60000)return s+(a/1000).toFixed(1)+'s';if(a<3600000)return s+Math.floor(a/60000)+'m'+"
"String(Math.floor(a/1000)%60).padStart(2,'0')+'s';return s+Math.floor(a/3600000)+'h'+"
"String(Math.floor(a/60000)%60).padStart(2,'0')+'m';}\n"
"function v(x){return x===null||x===undefined||x===''?'-':String(x);}\n"
"function row(tb,cells,attrs){const tr=document.createElement('tr');"
"for(const k in attrs)tr.setAttribute(k,attrs[k]);for(const c of cells){"
"const td=document.createElement('td');const [t,cls]=Array.isArray(c)?c:[c,''];"
"td.textContent=v(t);if(cls)td.className=cls;tr.appendChild(td);}tb.appendChild(tr);}\n"
"function provClass(p){if(p.breaker==='open'||p.state==='failed')return 'bad';"
"if(p.state==='failing'||p.breaker==='half_open')return 'warn';return p.state==='ok'?'ok':'';}\n"
"function render(d){\n"
"$('meta').textContent='redis '+d.redis+' \\u00b7 keys '+d.prefix+' \\u00b7 served by '+"
"d.served_by+' \\u00b7 '+new Date(d.now_ms).toISOString();\n"
"const b=$('banner');b.className=d.check.ok?'ok':'bad';b.dataset.ok=d.check.ok;"
"b.textContent=d.check.ok?'OK':'FAIL: '+d.check.reason;\n"
"const l=d.leader;$('leader').textContent=l.held?('leader '+l.id+' \\u00b7 lease '+"
"dur(l.lease_ttl_ms)+' \\u00b7 epoch '+v(l.epoch)+' \\u00b7 version '+v(l.version)+"
"' \\u00b7 heartbeat '+dur(l.heartbeat_age_ms)+' ago'):'leader: none (no controller holds "
"the lease)';$('leader').className=l.held?'':'bad';$('leader').dataset.leader=l.id;\n"
"const p=d.pool;$('pool').textContent=p.present?('pool version '+p.version+' \\u00b7 '+"
"(p.records-p.bad_records)+' upstreams'+(p.bad_records?' ('+p.bad_records+' bad)':'')+"
"' \\u00b7 published '+dur(p.published_age_ms)+' ago by '+v(p.controller_id)):'pool: none "
"published';\n"
"let tb=$('providers').tBodies[0];tb.replaceChildren();for(const x of d.providers){"
"const c=provClass(x);row(tb,[x.name,[x.state,c],[x.breaker,x.breaker==='open'?'bad':''],"
"[x.upstreams,'n'],[x.polls,'n'],[x.failures,'n'],x.next_poll_in_ms===null?'-':'in '+"
"dur(x.next_poll_in_ms),[x.last_error,'err']],{'data-provider':x.name,'data-state':x.state,"
"'data-breaker':x.breaker});}\n"
"tb=$('nodes').tBodies[0];tb.replaceChildren();for(const n of d.nodes){const c=n.state==='up'?"
"'ok':n.state==='stale'?'warn':'bad';const lag=n.other_epoch?'epoch':n.lag_versions;"
"row(tb,[n.id,[n.state,c],n.version,[n.pool_version,'n'],[lag,lag?'n warn':'n'],"
"[n.conns_active,'n'],[n.requests_per_s,'n'],[n.ratio_5xx===null?null:(n.ratio_5xx*100)"
".toFixed(1)+'%','n'],dur(n.heartbeat_age_ms)+' ago'],{'data-node':n.id,'data-state':"
"n.state});}\n"
"tb=$('groups').tBodies[0];tb.replaceChildren();const g=(k,arr)=>{for(const x of arr)"
"row(tb,[k,x.name===''?'(none)':x.name,[x.total,'n'],[x.healthy,'n'],[x.unknown,'n'],"
"[x.unchecked,'n'],[x.unhealthy,'n'],[x.ejected,'n']],{'data-group':k});};\n"
"g('health',[p.health]);g('provider',p.by_provider);g('tier',p.by_tier);"
"for(const k of ['country','city','isp'])g(k,p.by_label[k].filter(x=>x.name!==''));\n"
"const bc=$('bancount');bc.dataset.count=d.bans.count;bc.textContent='('+d.bans.count+"
"' active'+(d.bans.count>d.bans.recent.length?', the newest '+d.bans.recent.length+' shown':'')+"
"')';tb=$('bans').tBodies[0];tb.replaceChildren();for(const x of d.bans.recent)row(tb,[x.id,"
"x.upstream,x.domain,x.session||'(fleet)','in '+dur(x.expires_in_ms),x.reason],"
"{'data-ban':x.id,'data-domain':x.domain});\n"
"document.body.dataset.live='1';}\n"
"async function tick(){try{const r=await fetch('fleet.json',{cache:'no-store',headers:"
"token?{'Authorization':'Bearer '+token}:{}});if(r.status===401){token=prompt("
"'proxyfleet admin token')||'';sessionStorage.setItem('pf_token',token);"
"$('meta').textContent='unauthorized';return;}const d=await r.json();if(!r.ok){"
"document.body.dataset.live='0';$('banner').className='bad';$('banner').dataset.ok='false';"
"$('banner').textContent='FAIL: '+(d.error||r.status);return;}"
"render(d);}catch(e){document.body.dataset.live='0';$('banner').className='bad';"
"$('banner').textContent='controller unreachable: '+e;}}\n"
"tick();setInterval(tick,2000);\n"
"</script></body></html>\n";

static void status_headers(struct evhttp_request *req, const char *type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; script-src 'unsafe-inline'; "
                      "style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'");
}

static void status_reply(struct evhttp_request *req, int code, const char *reason,
                         const char *type, const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    if (b == NULL || evbuffer_add(b, body, len) != 0) {
        evhttp_send_error(req, 500, NULL);
    } else {
        status_headers(req, type);
        evhttp_send_reply(req, code, reason, b);
    }
    if (b != NULL)
        evbuffer_free(b);
}

/* 1 when <req> may read the data: no token configured, or "Bearer
 * <token>" (compared in constant time). */
static int status_authorized(const struct status_page *p, struct evhttp_request *req)
{
    const char *want = p->ctx->conf.controller.admin_token;
    if (want[0] == '\0')
        return 1;
    const char *got = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (got == NULL || strncmp(got, "Bearer ", 7) != 0)
        return 0;
    got += 7;
    return str_consttime_eq(got, strlen(got), want, strlen(want));
}

static void status_on_page(struct evhttp_request *req, void *arg)
{
    (void)arg;
    status_reply(req, 200, "OK", "text/html; charset=utf-8", status_page_html,
                 sizeof(status_page_html) - 1);
}

static void status_json_error(struct evhttp_request *req, int code, const char *reason,
                              const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    char *s = NULL;
    if (o != NULL && cJSON_AddStringToObject(o, "error", msg) != NULL)
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (code == 401)
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"proxyfleet\"");
    status_reply(req, code, reason, "application/json", s, strlen(s));
    cJSON_free(s);
}

static void status_on_json(struct evhttp_request *req, void *arg)
{
    struct status_page *p = arg;
    struct ctl_ctx *ctx = p->ctx;
    struct fleet f;
    struct pf_err err;

    if (!status_authorized(p, req)) {
        status_json_error(req, 401, "Unauthorized", "controller.admin_token: a Bearer token is "
                                                    "required");
        return;
    }
    pf_err_clear(&err);
    if (fleet_read(ctx->redis, &ctx->keys, clock_wall_ms(), &f, &err) != PF_OK) {
        fleet_deinit(&f);
        status_json_error(req, 503, "Service Unavailable", err.msg);
        return;
    }
    if (p->has_prev)
        fleet_rates(&f, &p->prev);
    struct fleet_check_limits lim = { 3, 30000 };
    char why[512];
    int is_ok = fleet_check(&f, &lim, why, sizeof(why)) == PF_OK;
    cJSON *o = fleet_json_status(&f);
    cJSON *chk = o != NULL ? cJSON_AddObjectToObject(o, "check") : NULL;
    char *s = NULL;
    if (chk != NULL && cJSON_AddBoolToObject(chk, "ok", is_ok) != NULL &&
        cJSON_AddStringToObject(chk, "reason", is_ok ? "" : why) != NULL &&
        cJSON_AddStringToObject(o, "served_by", ctx->conf.controller.id) != NULL)
        s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s == NULL)
        evhttp_send_error(req, 500, NULL);
    else
        status_reply(req, 200, "OK", "application/json", s, strlen(s));
    cJSON_free(s);
    /* keep this read for the next one's rates, unless the kept one is too
     * recent to span a heartbeat */
    if (!p->has_prev || f.now_ms - p->prev.now_ms >= STATUS_RATE_MIN_MS) {
        fleet_deinit(&p->prev);
        p->prev = f;
        p->has_prev = 1;
    } else {
        fleet_deinit(&f);
    }
}

struct status_page *status_page_create(struct ctl_ctx *ctx, struct evhttp *http)
{
    struct status_page *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->ctx = ctx;
    if (evhttp_set_cb(http, "/", status_on_page, p) != 0 ||
        evhttp_set_cb(http, "/fleet.json", status_on_json, p) != 0) {
        log_error("admin: cannot register the status page");
        free(p);
        return NULL;
    }
    return p;
}

void status_page_destroy(struct status_page *p)
{
    if (p == NULL)
        return;
    fleet_deinit(&p->prev);
    free(p);
}
