/* SPDX-License-Identifier: MIT */
/*
 * test_port_spec.c - "NAME=TYPE:ARGS" for every port type: malformed specs
 * are refused with a reason (one used to crash the switch), good ones make
 * a port without opening anything; a capture to "-" is a file
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ports/port.h"
#include "unit.h"

/* port_create(@spec); the port, if any, is destroyed at once. */
static int create(const char *spec, char *why, size_t whylen)
{
	struct port *port = NULL;
	int rc;

	why[0] = '\0';
	rc = port_create(spec, &port, why, whylen);
	if (!rc)
		port_destroy(port);
	return rc;
}

TEST(args_without_first_argument_are_refused)
{
	static const char *const specs[] = {
		"a=vhost-user:,", "a=vhost-user:,,,", "a=vhost-user:,client",
		"a=vhost-user:", "a=vhost-user", "a=tap:,", "a=tap:,eth0",
		"a=afpacket:,", "a=afpacket:", "a=afxdp:,", "a=afxdp:,queue=1",
		"a=vxlan:,", "a=vxlan:,vni=1", "a=vxlan:",
	};
	char why[200];
	size_t i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		CHECK(create(specs[i], why, sizeof(why)) < 0);
		CHECK(strstr(why, "port a: ") == why);
	}
	CHECK(strstr(why, "expected vxlan:REMOTE") != NULL);
}

TEST(bad_names_and_types_are_refused)
{
	static const char *const specs[] = {
		"", "=", "=vhost-user:/x", "a b=vhost-user:/x", "a\xff=tap:t0",
		"0123456789012345678901234567890123=tap:t0", "a=", "a=vhost",
		"a=vhost-user-x:/x", "a=:", "a=:/x", "a=tap:t0/x",
		/* ids chown would misread: 2^32 wrapped to root, -1 "unchanged" */
		"a=vhost-user:/x,owner=4294967296", "a=vhost-user:/x,owner=-1",
		"a=vhost-user:/x,group=4294967295", "a=vhost-user:/x,group=99999999999999999999",
	};
	char why[200];
	size_t i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		CHECK(create(specs[i], why, sizeof(why)) < 0);
		CHECK(why[0] != '\0');
	}
}

TEST(evpn_vxlan_specs_are_checked)
{
	static const char *const specs[] = {
		"a=vxlan:vni=100,evpn",				/* no local */
		"a=vxlan:192.0.2.2,vni=100,local=192.0.2.1,evpn",	/* a remote */
		"a=vxlan:vni=100,local=192.0.2.1",		/* neither */
		"a=vxlan:local=192.0.2.1,evpn",			/* no vni */
		"a=vxlan:vni=100,local=192.0.2.1,evpn=1",
	};
	char why[200];
	size_t i;

	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		CHECK(create(specs[i], why, sizeof(why)) < 0);
		CHECK(strstr(why, "port a: ") == why);
	}
	CHECK(create(specs[0], why, sizeof(why)) < 0 && strstr(why, "local=IP"));
}

TEST(good_specs_make_ports_without_opening_anything)
{
	static const char *const specs[] = {
		"a=vhost-user:/nonexistent/a.sock,client,queues=16,mode=0600",
		"a=tap:t0,mtu=9000", "a=afpacket:eth0", "a=vxlan:192.0.2.1,vni=5",
		"a=vxlan:2001:db8::1,vni=16777215,local=2001:db8::2,port=8472",
		"a=vxlan:vni=100,local=192.0.2.1,evpn",
		"a=vxlan:evpn,vni=7,local=2001:db8::1,port=4790",
	};
	int lowest = dup(0), now;	/* the lowest free fd */
	char why[200];
	size_t i;

	close(lowest);
	for (i = 0; i < sizeof(specs) / sizeof(specs[0]); i++) {
		CHECK_EQ(create(specs[i], why, sizeof(why)), 0);
		if (why[0])
			printf("  %s: %s\n", specs[i], why);
	}
	now = dup(0);
	CHECK_EQ(now, lowest);		/* nothing left open */
	close(now);
}

/* In a child: capture to "-", stop; exit 0 if stdout is still open. */
static void capture_to_dash(const char *dir)
{
	struct policy pol = { 0 };
	char why[200];

	if (chdir(dir) || policy_capture_start(&pol, "-", "", 0, why, sizeof(why)))
		_exit(2);
	policy_capture_stop(&pol);
	_exit(fcntl(1, F_GETFD) < 0 ? 1 : access("-", F_OK) ? 3 : 0);
}

TEST(capture_to_dash_writes_a_file_not_stdout)
{
	char dir[] = "/tmp/vmsw-test-capture-XXXXXX", file[sizeof(dir) + 2];
	int status = -1;
	pid_t pid;

	CHECK(mkdtemp(dir) != NULL);
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		capture_to_dash(dir);
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (WIFEXITED(status) && WEXITSTATUS(status))
		printf("  child: %s\n", WEXITSTATUS(status) == 1 ?
		       "stdout closed by the capture" : "no file named -");
	snprintf(file, sizeof(file), "%s/-", dir);
	unlink(file);
	rmdir(dir);
}

UNIT_MAIN(T(args_without_first_argument_are_refused),
	  T(bad_names_and_types_are_refused), T(evpn_vxlan_specs_are_checked),
	  T(good_specs_make_ports_without_opening_anything),
	  T(capture_to_dash_writes_a_file_not_stdout))
