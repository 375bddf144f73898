/* SPDX-License-Identifier: MIT */
/* test_config.c - config file parsing and its error messages */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ctl/config.h"
#include "unit.h"

static const char *write_file(const char *text)
{
	static char path[] = "/tmp/vmsw-test-config-XXXXXX";
	int fd;

	strcpy(path, "/tmp/vmsw-test-config-XXXXXX");
	fd = mkstemp(path);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	close(fd);
	return path;
}

/* Load @text; return the error message ("" on success). */
static const char *load(const char *text, struct config *cfg)
{
	static char why[256];
	const char *path = write_file(text);

	why[0] = '\0';
	if (!config_load(path, cfg, why, sizeof(why)))
		config_free(cfg);
	unlink(path);
	return why;
}

TEST(good_file_gives_specs_and_options)
{
	struct config cfg;
	char why[256];
	const char *path = write_file(
		"ports = (\n"
		" { name = \"a\"; type = \"vhost-user\"; path = \"/tmp/a.sock\";\n"
		"   client = true; queues = 2; vlan = 10; },\n"
		" { name = \"b\"; type = \"vhost-user\"; path = \"/tmp/b.sock\";\n"
		"   trunk = [10, 20]; allowed_macs = [\"52:54:00:00:00:01\"];\n"
		"   ingress_filter = \"not icmp\"; rx_rate = \"20M\"; mtu = 1500; }\n"
		");\n");

	CHECK_EQ(config_load(path, &cfg, why, sizeof(why)), 0);
	CHECK_EQ(cfg.nports, 2);
	CHECK(!strcmp(cfg.port[0].spec, "a=vhost-user:/tmp/a.sock,client,queues=2"));
	CHECK_EQ(cfg.port[0].opt.vlan_mode, VLAN_ACCESS);
	CHECK_EQ(cfg.port[0].opt.access_vlan, 10);
	CHECK_EQ(cfg.port[1].opt.vlan_mode, VLAN_TRUNK);
	CHECK(vlan_in_trunk(&cfg.port[1].opt, 20) && !vlan_in_trunk(&cfg.port[1].opt, 11));
	CHECK_EQ(cfg.port[1].opt.nmacs, 1);
	CHECK_EQ(cfg.port[1].opt.rx_rate, 20000000);
	CHECK_EQ(cfg.port[1].opt.mtu, 1500);
	CHECK(!strcmp(cfg.port[1].opt.ingress_filter, "not icmp"));
	config_free(&cfg);
	unlink(path);
}

TEST(evpn_vxlan_port_needs_no_remote)
{
	struct config cfg;
	char why[256];
	const char *path = write_file(
		"ports = (\n"
		" { name = \"ev\"; type = \"vxlan\"; vni = 100; local = \"192.0.2.1\";\n"
		"   evpn = true; vlan = 200; }\n"
		");\n");

	CHECK_EQ(config_load(path, &cfg, why, sizeof(why)), 0);
	CHECK_EQ(cfg.nports, 1);
	CHECK(!strcmp(cfg.port[0].spec, "ev=vxlan:evpn,vni=100,local=192.0.2.1"));
	CHECK_EQ(cfg.port[0].opt.access_vlan, 200);
	config_free(&cfg);
	unlink(path);
	why[0] = '\0';
	CHECK(*load("ports = ({ name = \"ev\"; type = \"vxlan\"; vni = 1; evpn = false; });",
		    &cfg) != '\0');
}

TEST(errors_name_file_line_and_field)
{
	struct config cfg;
	const char *why;

	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x\";\n"
		   "   vlan = 5000; }\n);\n", &cfg);
	CHECK(strstr(why, ":3: port a: bad value '5000' for vlan") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"warp\"; path = \"/x\"; }\n);\n", &cfg);
	CHECK(strstr(why, ":2: port a: unknown type 'warp'") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; }\n);\n", &cfg);
	CHECK(strstr(why, "needs 'path'") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x\";\n"
		   "   queues = 99; }\n);\n", &cfg);
	CHECK(strstr(why, ":2: port a: queues must be") != NULL);
	why = load("ports = (\n { name = \"a\" type = \"x\"; }\n);\n", &cfg);
	CHECK(strstr(why, ":2: ") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x\"; },\n"
		   " { name = \"a\"; type = \"vhost-user\"; path = \"/y\"; }\n);\n", &cfg);
	CHECK(strstr(why, "used twice") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x\";\n"
		   "   ingress_filter = \"not ( icmp\"; }\n);\n", &cfg);
	CHECK(strstr(why, ":2: port a: filter 'not ( icmp'") != NULL);
}

/* A ',' in a value would slip options into the spec ("/x,client"). */
TEST(values_cannot_add_spec_options)
{
	struct config cfg;
	const char *why;

	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\";\n"
		   "   path = \"/x.sock,client\"; }\n);\n", &cfg);
	CHECK(strstr(why, ":2: port a: bad value for path (no ',' allowed)") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x\";\n"
		   "   mode = \"0600,client\"; }\n);\n", &cfg);
	CHECK(strstr(why, ":3: port a: bad value for mode (no ',' allowed)") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"vxlan\"; remote = \"192.0.2.1\";\n"
		   "   vni = [1, 2]; }\n);\n", &cfg);
	CHECK(strstr(why, ":3: port a: bad value for vni (no ',' allowed)") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"tap\"; interface = \"t0\";\n"
		   "   frob = true; }\n);\n", &cfg);
	CHECK(strstr(why, ":2: port a: unknown option 'frob'") != NULL);
}

/* Numbers that have no uint64_t (inf, nan, 1e30) are refused, not converted. */
TEST(numbers_out_of_range_are_refused)
{
	struct config cfg;
	const char *why;

	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x\";\n"
		   "   rx_rate = 1e30; }\n);\n", &cfg);
	CHECK(strstr(why, ":3: port a: bad value '1e+30' for rx_rate") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x\";\n"
		   "   tx_burst = \"inf\"; }\n);\n", &cfg);
	CHECK(strstr(why, ":3: port a: bad value 'inf' for tx_burst") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x\";\n"
		   "   mtu = \"nan\"; }\n);\n", &cfg);
	CHECK(strstr(why, ":3: port a: bad value 'nan' for mtu") != NULL);
}

/* Two ports of one file on one socket path: the file is refused as a whole. */
TEST(one_socket_path_per_port)
{
	struct config cfg;
	const char *why;

	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x.sock\"; },\n"
		   " { name = \"b\"; type = \"vhost-user\"; path = \"/x.sock\"; }\n);\n", &cfg);
	CHECK(strstr(why, ":3: port b: /x.sock is already used by port a") != NULL);
	why = load("ports = (\n { name = \"a\"; type = \"vhost-user\"; path = \"/x.sock\"; },\n"
		   " { name = \"b\"; type = \"vhost-user\"; path = \"/y.sock\"; }\n);\n", &cfg);
	CHECK_EQ(why[0], '\0');
}

/* The threads' keys: cpus a string, auto_rebalance a boolean. */
TEST(thread_keys)
{
	static const char ports[] =
		"ports = ( { name = \"a\"; type = \"vhost-user\"; path = \"/x\"; } );\n";
	char text[512];
	struct config cfg;
	const char *why;

	snprintf(text, sizeof(text), "cpus = \"0,1\";\nauto_rebalance = true;\n%s", ports);
	why = load(text, &cfg);
	CHECK_EQ(why[0], '\0');
	CHECK(cfg.auto_rebalance);
	CHECK(!strcmp(cfg.cpus, "0,1"));
	snprintf(text, sizeof(text), "%s", ports);
	load(text, &cfg);
	CHECK(!cfg.auto_rebalance);
	snprintf(text, sizeof(text), "\nauto_rebalance = 1;\n%s", ports);
	why = load(text, &cfg);
	CHECK(strstr(why, ":2: auto_rebalance must be true or false") != NULL);
}

UNIT_MAIN(T(good_file_gives_specs_and_options), T(evpn_vxlan_port_needs_no_remote), T(errors_name_file_line_and_field),
	  T(values_cannot_add_spec_options), T(numbers_out_of_range_are_refused),
	  T(one_socket_path_per_port), T(thread_keys))
