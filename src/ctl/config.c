/* SPDX-License-Identifier: MIT */
/* config.c - read the config file with libconfig into port specs and options */
#include <errno.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/config.h"
#include "ports/port.h"

/* The key whose value comes first in a type's spec (PATH, IFNAME, REMOTE). */
static const struct {
	const char *type;
	const char *key;
} primary_keys[] = {
	{ "vhost-user", "path" },
	{ "tap", "interface" },
	{ "afpacket", "interface" },
	{ "afxdp", "interface" },
	{ "vxlan", "remote" },
};

static const char *primary_key(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(primary_keys) / sizeof(primary_keys[0]); i++)
		if (!strcmp(primary_keys[i].type, type))
			return primary_keys[i].key;
	return NULL;
}

/* A scalar or a list of scalars as text ("10,20"); -EINVAL for groups. */
static int setting_text(const config_setting_t *s, char *buf, size_t len)
{
	size_t used = 0;
	int i, n;

	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
		n = snprintf(buf, len, "%d", config_setting_get_int(s));
		break;
	case CONFIG_TYPE_INT64:
		n = snprintf(buf, len, "%lld", config_setting_get_int64(s));
		break;
	case CONFIG_TYPE_FLOAT:
		n = snprintf(buf, len, "%g", config_setting_get_float(s));
		break;
	case CONFIG_TYPE_BOOL:
		n = snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
		break;
	case CONFIG_TYPE_STRING:
		n = snprintf(buf, len, "%s", config_setting_get_string(s));
		break;
	case CONFIG_TYPE_ARRAY:
	case CONFIG_TYPE_LIST:
		buf[0] = '\0';
		for (i = 0; i < config_setting_length(s); i++) {
			char item[128];

			if (setting_text(config_setting_get_elem(s, i), item, sizeof(item)))
				return -EINVAL;
			n = snprintf(buf + used, len - used, "%s%s", i ? "," : "", item);
			if (n < 0 || (size_t)n >= len - used)
				return -EINVAL;
			used += (size_t)n;
		}
		return 0;
	default:
		return -EINVAL;
	}
	return n < 0 || (size_t)n >= len ? -EINVAL : 0;
}

/*
 * Append ",key" or ",key=value" of a type-specific setting to @spec. A value
 * with a ',' (or a list) would become options of its own ("path =
 * \"/x,client\"" a client port): -EINVAL.
 */
static int add_type_arg(char *spec, size_t len, const config_setting_t *s,
			const char *value)
{
	size_t used = strlen(spec);
	int n;

	if (strchr(value, ','))
		return -EINVAL;
	if (config_setting_type(s) == CONFIG_TYPE_BOOL)
		n = config_setting_get_bool(s) ?
		    snprintf(spec + used, len - used, ",%s", config_setting_name(s)) : 0;
	else
		n = snprintf(spec + used, len - used, ",%s=%s",
			     config_setting_name(s), value);
	return n < 0 || (size_t)n >= len - used ? -EINVAL : 0;
}

#define FAIL(...) do { snprintf(why, whylen, __VA_ARGS__); return -EINVAL; } while (0)

/* One element of the ports list into @pc; messages name file:line and key. */
static int load_port(const char *file, const config_setting_t *g,
		     struct port_config *pc, char *why, size_t whylen)
{
	const char *name = NULL, *type = NULL, *pkey;
	char value[512], reason[200] = "";
	const char *primary = NULL;
	int i, evpn = 0, line = config_setting_source_line(g);

	pc->line = line;
	if (!config_setting_is_group(g))
		FAIL("%s:%d: each port must be a group { name = ...; type = ...; }",
		     file, line);
	if (!config_setting_lookup_string(g, "name", &name) ||
	    !config_setting_lookup_string(g, "type", &type))
		FAIL("%s:%d: a port needs a name and a type (strings)", file, line);
	snprintf(pc->name, sizeof(pc->name), "%s", name);
	pkey = primary_key(type);
	if (!pkey)
		FAIL("%s:%d: port %s: unknown type '%s'", file, line, name, type);
	config_setting_lookup_string(g, pkey, &primary);
	/* An EVPN vxlan port has no remote: "vxlan:evpn,vni=N,local=IP". */
	if (!primary && !strcmp(type, "vxlan") &&
	    config_setting_lookup_bool(g, "evpn", &evpn) && evpn)
		primary = "evpn";
	if (!primary)
		FAIL("%s:%d: port %s: type %s needs '%s'", file, line, name, type, pkey);
	if (strchr(primary, ','))
		FAIL("%s:%d: port %s: bad value for %s (no ',' allowed)", file, line,
		     name, pkey);
	if (snprintf(pc->spec, sizeof(pc->spec), "%s=%s:%s", name, type, primary) >=
	    (int)sizeof(pc->spec))
		FAIL("%s:%d: port %s: %s too long", file, line, name, pkey);
	for (i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, i);
		const char *key = config_setting_name(s);
		int rc, kline = config_setting_source_line(s);

		if (!strcmp(key, "name") || !strcmp(key, "type") || !strcmp(key, pkey) ||
		    (evpn && !strcmp(key, "evpn")))
			continue;
		if (setting_text(s, value, sizeof(value)))
			FAIL("%s:%d: port %s: bad value for %s", file, kline, name, key);
		rc = port_options_set(&pc->opt, key, value, reason, sizeof(reason));
		if (rc == -ENOENT)
			rc = add_type_arg(pc->spec, sizeof(pc->spec), s, value);
		if (rc == -EINVAL && !*reason)
			snprintf(reason, sizeof(reason), "bad value for %s%s", key,
				 strchr(value, ',') ? " (no ',' allowed)" : "");
		if (rc)
			FAIL("%s:%d: port %s: %s", file, kline, name, reason);
		reason[0] = '\0';
	}
	return 0;
}

/*
 * Dry run: the port type parses its own arguments, libpcap the filters.
 * @endpoint receives what the port would take outside the switch (a socket
 * path), "" for none, so that two ports of the file cannot claim one.
 */
static int check_spec(const char *file, const struct port_config *pc,
		      char *endpoint, size_t eplen, char *why, size_t whylen)
{
	const char *filters[2] = { pc->opt.ingress_filter, pc->opt.egress_filter };
	struct bpf_program *prog;
	char reason[256];
	struct port *port;
	int i;

	for (i = 0; i < 2; i++) {
		if (!*filters[i])
			continue;
		if (policy_compile(filters[i], &prog, reason, sizeof(reason)))
			FAIL("%s:%d: port %s: %s", file, pc->line, pc->name, reason);
		policy_free_filter(&prog);
	}
	if (port_create(pc->spec, &port, reason, sizeof(reason)))
		FAIL("%s:%d: %s", file, pc->line, reason);
	snprintf(endpoint, eplen, "%s", port->ops->endpoint ?
		 port->ops->endpoint(port) : "");
	port_destroy(port);
	return 0;
}

/* Port @i's endpoint against those before it; 0 or -EINVAL with @why. */
static int check_endpoint(const char *file, const struct config *cfg,
			  char (*ep)[CONFIG_SPEC_MAX], unsigned int i, char *why,
			  size_t whylen)
{
	unsigned int j;

	if (!*ep[i])
		return 0;
	for (j = 0; j < i; j++)
		if (!strcmp(ep[j], ep[i]))
			FAIL("%s:%d: port %s: %s is already used by port %s", file,
			     cfg->port[i].line, cfg->port[i].name, ep[i],
			     cfg->port[j].name);
	return 0;
}

static int load_ports(const char *file, const config_setting_t *list,
		      struct config *cfg, char *why, size_t whylen)
{
	unsigned int i, j, n = (unsigned int)config_setting_length(list);
	char (*ep)[CONFIG_SPEC_MAX];
	int rc = 0;

	if (!config_setting_is_list(list) && !config_setting_is_array(list))
		FAIL("%s:%d: 'ports' must be a list ( {...}, {...} )", file,
		     config_setting_source_line(list));
	if (n > PORT_MAX)
		FAIL("%s: %u ports, at most %d", file, n, PORT_MAX);
	cfg->port = calloc(n ? n : 1, sizeof(*cfg->port));
	ep = calloc(n ? n : 1, sizeof(*ep));
	if (!cfg->port || !ep) {
		free(ep);
		FAIL("out of memory");
	}
	for (i = 0; !rc && i < n; i++) {
		rc = load_port(file, config_setting_get_elem(list, i), &cfg->port[i],
			       why, whylen);
		if (rc)
			break;
		cfg->nports++;
		for (j = 0; j < i; j++)
			if (!strcmp(cfg->port[j].name, cfg->port[i].name)) {
				snprintf(why, whylen, "%s:%d: port name %s used twice",
					 file, cfg->port[i].line, cfg->port[i].name);
				rc = -EINVAL;
			}
		rc = rc ?: check_spec(file, &cfg->port[i], ep[i], sizeof(ep[i]),
				      why, whylen);
		rc = rc ?: check_endpoint(file, cfg, ep, i, why, whylen);
	}
	free(ep);
	return rc ? -EINVAL : 0;
}

/* The optional top-level "cpus" string, as for run --cpus. */
static int read_cpus(const char *path, const config_t *c, struct config *cfg,
		     char *why, size_t whylen)
{
	const config_setting_t *s = config_lookup(c, "cpus");

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING ||
	    strlen(config_setting_get_string(s)) >= sizeof(cfg->cpus)) {
		snprintf(why, whylen, "%s:%d: cpus must be a string such as \"0,1\"",
			 path, config_setting_source_line(s));
		return -EINVAL;
	}
	snprintf(cfg->cpus, sizeof(cfg->cpus), "%s", config_setting_get_string(s));
	return 0;
}

/* The optional top-level "auto_rebalance" switch, as for run --auto-rebalance. */
static int read_auto_rebalance(const char *path, const config_t *c, struct config *cfg,
			       char *why, size_t whylen)
{
	const config_setting_t *s = config_lookup(c, "auto_rebalance");

	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		snprintf(why, whylen, "%s:%d: auto_rebalance must be true or false",
			 path, config_setting_source_line(s));
		return -EINVAL;
	}
	cfg->auto_rebalance = config_setting_get_bool(s);
	return 0;
}

/**
 * config_load() - read and check a config file
 * @path:	file name
 * @cfg:	filled on success; freed with config_free()
 * @why:	"FILE:LINE: what is wrong" on failure
 * @whylen:	size of @why
 *
 * Nothing is applied here: a bad file leaves the running switch as it is.
 *
 * Return: 0 or -errno
 */
int config_load(const char *path, struct config *cfg, char *why, size_t whylen)
{
	const config_setting_t *ports;
	config_t c;
	int rc = 0;

	memset(cfg, 0, sizeof(*cfg));
	config_init(&c);
	if (!config_read_file(&c, path)) {
		if (config_error_type(&c) == CONFIG_ERR_FILE_IO)
			snprintf(why, whylen, "%s: cannot read: %s", path, strerror(errno));
		else
			snprintf(why, whylen, "%s:%d: %s", config_error_file(&c) ?
				 config_error_file(&c) : path, config_error_line(&c),
				 config_error_text(&c));
		config_destroy(&c);
		return -EINVAL;
	}
	ports = config_lookup(&c, "ports");
	rc = read_cpus(path, &c, cfg, why, whylen) ?:
	     read_auto_rebalance(path, &c, cfg, why, whylen);
	if (rc) {
		/* why is set */
	} else if (!ports) {
		snprintf(why, whylen, "%s: no 'ports' list", path);
		rc = -EINVAL;
	} else {
		rc = load_ports(path, ports, cfg, why, whylen);
	}
	config_destroy(&c);
	if (rc)
		config_free(cfg);
	return rc;
}

void config_free(struct config *cfg)
{
	free(cfg->port);
	cfg->port = NULL;
	cfg->nports = 0;
}

/** config_find() - the port called @name, or NULL */
const struct port_config *config_find(const struct config *cfg, const char *name)
{
	unsigned int i;

	for (i = 0; i < cfg->nports; i++)
		if (!strcmp(cfg->port[i].name, name))
			return &cfg->port[i];
	return NULL;
}
