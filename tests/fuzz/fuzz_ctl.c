/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ctl.c - libFuzzer target for the control commands: ctl_execute(),
 * the parser and every command, against a live switch
 *
 * Every input starts from the same switch, built by the requests in setup[]
 * (which must succeed): three vhost-user ports (two servers, one client
 * connected to a socket the harness listens on, as QEMU's server=on would),
 * VLAN, filter, policing, MTU and mirror options,
 * a capture running, two ports from a config file (so `reload` has work),
 * and a few learned MACs. The config file is then replaced by another one
 * that changes one port, drops one and adds one, for a `reload` to apply.
 *
 * Each line of the input is one request, as `vmswitch ctl` sends it (at most
 * MAX_LINES lines of LINE_MAX_BYTES). The switch keeps its state from line
 * to line; between inputs it is torn down and built again. After every
 * request the switch makes one pass (datapath_poll(), evloop_run_once(0):
 * connections accepted, timers fired, frames from taps switched), then:
 *   - the result is 0 or a -errno;
 *   - the port table is consistent: dense list and slots agree, names valid
 *     and unique, mirrors resolved as the options say, policy fast-path
 *     flags as the options imply, no MAC entry for a removed port, no
 *     config flag on an empty slot;
 *   - an answer that begins with '[' or '{' is one JSON value in valid
 *     UTF-8 (json-c's strict parser), and show and stats with --json always
 *     answer that way.
 * After every input all ports are gone and no fd is left open.
 *
 * Files: the requests run in a scratch directory under /tmp and an input
 * with a '/' is refused (-1), so every socket or capture file a request
 * names is made there. Ports: the process runs in a network namespace of
 * its own (fuzz_private_net()), so `port add` of a tap, afpacket or vxlan
 * port starts it there, never on the host's network.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/cycles.h"
#include "core/evloop.h"
#include "ctl/ctl.h"
#include "fuzz_log.h"
#include "fuzz_util.h"
#include "pkt/packet.h"

#define MAX_LINES	16
#define LINE_MAX_BYTES	4096	/* the control socket's request limit */
#define CONFIG_FILE	"vmswitch.conf"

static const char *const setup[] = {
	"port add vm1=vhost-user:vm1.sock",
	"port add vm2=vhost-user:vm2.sock,queues=2,mode=0600 trunk=10,20-30 "
		"ingress_filter=not icmp",
	"port add vm3=vhost-user:qemu.sock,client vlan=10 "
		"allowed_macs=52:54:00:00:00:03 rx_rate=10M tx_rate=1G mtu=1500",
	"port set vm2 mirror=vm1",
	"capture vm1 vm1.pcap not arp --count 5",
	"reload",
};

/* The config file the switch starts with, and the one `reload` finds. */
static const char config_before[] =
	"ports = (\n"
	"  { name = \"c1\"; type = \"vhost-user\"; path = \"c1.sock\"; vlan = 20; },\n"
	"  { name = \"c2\"; type = \"vhost-user\"; path = \"c2.sock\"; queues = 2;\n"
	"    trunk = [10, 20]; mirror = \"vm1\"; }\n"
	");\n";
static const char config_after[] =
	"ports = (\n"
	"  { name = \"c1\"; type = \"vhost-user\"; path = \"c1.sock\"; vlan = 30;\n"
	"    egress_filter = \"not arp\"; },\n"
	"  { name = \"c3\"; type = \"vhost-user\"; path = \"c3.sock\"; queues = 1;\n"
	"    rx_rate = \"1G\"; }\n"
	");\n";

static struct vmswitch vs;
static const char *scratch;
static int home = -1;
static int qemu = -1;		/* listens on qemu.sock, for vm3 */

static void bug(const char *what, const char *request)
{
	dprintf(2, "BUG: %s (after request '%s')\n", what, request);
	abort();
}

static void write_config(const char *text)
{
	FILE *f = fopen(CONFIG_FILE, "we");

	if (!f || fputs(text, f) < 0 || fclose(f))
		abort();
}

/* Run one request; the answer is returned in *@answer (free it). */
static int request(const char *text, char **answer, size_t *len, char *why,
		   size_t whylen)
{
	char line[LINE_MAX_BYTES];
	FILE *out;
	int rc;

	snprintf(line, sizeof(line), "%s", text);
	*answer = NULL;
	out = open_memstream(answer, len);
	if (!out)
		abort();
	why[0] = '\0';
	rc = ctl_execute(&vs, line, out, why, whylen);
	if (fclose(out))
		abort();
	return rc;
}

static void learn_macs(void)
{
	static const char *const names[] = { "vm1", "vm2", "c1" };
	struct bridge *b = &vs.bridge;
	uint8_t mac[6] = { 0x52, 0x54, 0, 0, 0, 0 };
	unsigned int i;

	for (i = 0; i < 3; i++) {
		struct port *port = bridge_find(b, names[i]);

		mac[5] = (uint8_t)(i + 1);
		fdb_learn(&b->fdb, mac, 0, port->idx, b->now_s);
		fdb_learn(&b->fdb, mac, (uint16_t)(10 * (i + 1)), port->idx, b->now_s);
	}
}

/* A socket like QEMU's "server=on" chardev (connections never accepted). */
static int listen_qemu(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX, .sun_path = "qemu.sock" };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 4))
		abort();
	return s;
}

static void switch_up(void)
{
	char why[256], *answer;
	size_t i, len;

	memset(&vs, 0, sizeof(vs));
	qemu = listen_qemu();
	if (bridge_init(&vs.bridge, 64, 300))
		abort();
	datapath_init(&vs.dp, &vs.bridge, false, 32);
	vs.config_path = CONFIG_FILE;
	write_config(config_before);
	for (i = 0; i < sizeof(setup) / sizeof(setup[0]); i++) {
		if (request(setup[i], &answer, &len, why, sizeof(why))) {
			dprintf(2, "fuzz_ctl: set-up request '%s' failed: %s\n",
				setup[i], why);
			abort();
		}
		free(answer);
	}
	write_config(config_after);
	learn_macs();
	evloop_run_once(0);
}

static void switch_down(void)
{
	vmswitch_destroy(&vs);
	evloop_timer_cancel(&vs.dp.aging);
	bridge_destroy(&vs.bridge);
	close(qemu);
	fuzz_empty_dir(".");
}

/* ---- what must hold after every request ----------------------------------- */

static void check_ports(const struct bridge *b, const char *req)
{
	unsigned int i, j, used = 0;

	if (b->nports > PORT_MAX)
		bug("more ports than PORT_MAX", req);
	for (i = 0; i < PORT_MAX; i++)
		used += b->slot[i] != NULL;
	if (used != b->nports)
		bug("port list and slots disagree", req);
	for (i = 0; i < b->nports; i++) {
		const struct port *p = b->port[i];

		if (!p || p->idx >= PORT_MAX || b->slot[p->idx] != p)
			bug("port not in its slot", req);
		if (!port_name_valid(p->name, strlen(p->name)))
			bug("invalid port name", req);
		for (j = 0; j < i; j++)
			if (!strcmp(b->port[j]->name, p->name))
				bug("two ports with one name", req);
	}
}

/* Mirrors as the options name them, flags as the options imply. */
static void check_policies(const struct bridge *b, const char *req)
{
	unsigned int i;

	for (i = 0; i < b->nports; i++) {
		const struct port *p = b->port[i];
		const char *name = p->policy.opt.mirror;
		struct port *want = *name ? bridge_find(b, name) : NULL;
		struct policy copy = p->policy;

		if (want == p)
			want = NULL;
		if (p->mirror != want || p->policy.mirror != (want != NULL))
			bug("mirror not resolved as its option says", req);
		policy_update_active(&copy);
		if (copy.active_in != p->policy.active_in ||
		    copy.active_out != p->policy.active_out)
			bug("policy fast-path flags stale", req);
	}
}

struct fdb_check {
	const struct bridge *b;
	const char *req;
	uint32_t n;
};

/* fdb_walk()'s callback: every entry names a port that is there. */
static void check_fdb_entry(const struct fdb_entry *e, void *arg)
{
	struct fdb_check *fc = arg;

	fc->n++;
	if (e->port >= PORT_MAX || !fc->b->slot[e->port])
		bug("MAC entry for a port that is gone", fc->req);
}

static void check_fdb(const struct bridge *b, const char *req)
{
	struct fdb_check fc = { .b = b, .req = req };

	fdb_walk(&b->fdb, check_fdb_entry, &fc);
	if (fc.n != fdb_entries(&b->fdb))
		bug("MAC table count wrong", req);
	if (fdb_check(&b->fdb))
		bug("MAC table chains or counts broken", req);
}

static void check_switch(const char *req)
{
	unsigned int i;

	check_ports(&vs.bridge, req);
	check_policies(&vs.bridge, req);
	check_fdb(&vs.bridge, req);
	for (i = 0; i < PORT_MAX; i++)
		if (vs.from_config[i] && !vs.bridge.slot[i])
			bug("config flag on an empty slot", req);
}

/* One strict JSON value in valid UTF-8, then only newlines. */
static void check_json(const char *text, size_t len, const char *req)
{
	struct json_tokener *tok = json_tokener_new();
	json_object *o;

	while (len && text[len - 1] == '\n')
		len--;
	if (!tok || len > INT32_MAX)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (!o || json_tokener_get_error(tok) != json_tokener_success ||
	    json_tokener_get_parse_end(tok) != len) {
		dprintf(2, "answer: %.*s\n", (int)len, text);
		bug(o ? "answer continues after its JSON value" :
		    json_tokener_error_desc(json_tokener_get_error(tok)), req);
	}
	json_object_put(o);
	json_tokener_free(tok);
}

/* Does @req ask show or stats for JSON (as ctl_execute splits it)? */
static bool wants_json_listing(const char *req)
{
	char buf[LINE_MAX_BYTES], *tok, *save, *cmd = NULL;
	bool json = false;
	int words = 0;

	snprintf(buf, sizeof(buf), "%s", req);
	for (tok = strtok_r(buf, " \t\r\n", &save); tok && words < 32;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (!strcmp(tok, "--json"))
			json = true;
		else if (!words++)
			cmd = tok;
	}
	return json && cmd && (!strcmp(cmd, "show") || !strcmp(cmd, "stats"));
}

static void check_answer(int rc, const char *answer, size_t len, const char *req)
{
	if (rc > 0 || rc < -4095)
		bug("result neither 0 nor a -errno", req);
	if (len && (answer[0] == '[' || answer[0] == '{'))
		check_json(answer, len, req);
	else if (wants_json_listing(req))
		bug("--json listing answered without JSON", req);
}

/* ---- libFuzzer ------------------------------------------------------------- */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	fuzz_log_setup();
	fuzz_absolute_artifacts(argc, argv);
	if (!fuzz_private_net())
		dprintf(2, "fuzz_ctl: no private network namespace; tap, afpacket "
			"and afxdp ports will fail to start\n");
	scratch = fuzz_scratch_dir("fuzz_ctl");
	home = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cycles_per_second();	/* calibrated once, not in an input */
	if (home < 0 || evloop_init() || packet_pool_init(1024))
		abort();
	return 0;
}

/* Run the line at @text (up to @len bytes, '\n' or NUL ends it). */
static void run_line(const char *text, size_t len)
{
	char req[LINE_MAX_BYTES], why[256], *answer;
	size_t alen;
	int rc;

	if (len >= sizeof(req))
		len = sizeof(req) - 1;
	memcpy(req, text, len);
	req[len] = '\0';
	rc = request(req, &answer, &alen, why, sizeof(why));
	check_answer(rc, answer, alen, req);
	free(answer);
	datapath_poll(&vs.dp);
	evloop_run_once(0);
	check_switch(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	int baseline = fuzz_count_fds(), lines = 0;

	if (memchr(data, '/', size))
		return -1;	/* a path outside the scratch directory */
	if (chdir(scratch))
		abort();
	switch_up();
	while (p < end && lines++ < MAX_LINES) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);

		run_line(p, len);
		p += len + 1;
	}
	switch_down();
	if (fchdir(home))
		abort();
	fuzz_check_fds(baseline, "after an input");
	return 0;
}
