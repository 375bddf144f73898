/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config.c - libFuzzer target for the config file checker,
 * config_load(): libconfig's parser, then our checks of every port (names,
 * types, keys, values, filters, and each spec through its type's parser)
 *
 * The input is the file: it is written to a memfd and loaded by its name
 * (/proc/self/fd/N) exactly as `vmswitch run --config FILE` and `reload`
 * load a file. Checked:
 *   - the result is 0 or -EINVAL; a refusal names the file ("FILE:..."),
 *     and leaves nothing allocated;
 *   - a file accepted is one the switch can apply: at most PORT_MAX ports,
 *     distinct valid names, each spec "NAME=TYPE:..." of its own name, each
 *     spec makes a port (port_create()) that takes the port's options
 *     (policy_set()); nothing is opened and everything is freed.
 * An input with "@include" is refused (-1): libconfig would read whatever
 * file it names (a FIFO or /dev/zero never ends), which tests libconfig's
 * file handling, not ours.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ctl/config.h"
#include "fuzz_log.h"
#include "fuzz_util.h"
#include "ports/port.h"

static char path[128];
static int file_fd = -1;

static void bug(const char *what, const char *detail)
{
	dprintf(2, "BUG: %s: %s\n", what, detail);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fuzz_log_setup();
	file_fd = memfd_create("vmswitch.conf", MFD_CLOEXEC);
	if (file_fd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", file_fd);
	return 0;
}

static void write_file(const uint8_t *data, size_t size)
{
	if (ftruncate(file_fd, 0) ||
	    pwrite(file_fd, data, size, 0) != (ssize_t)size)
		abort();
}

/* A port of the accepted file, made and configured as the switch would. */
static void check_port(const struct config *cfg, unsigned int i)
{
	const struct port_config *pc = &cfg->port[i];
	size_t nlen = strlen(pc->name);
	struct port *port;
	char why[256] = "";
	unsigned int j;

	if (!port_name_valid(pc->name, nlen))
		bug("invalid port name accepted", pc->name);
	for (j = 0; j < i; j++)
		if (!strcmp(cfg->port[j].name, pc->name))
			bug("two ports with one name accepted", pc->name);
	if (strncmp(pc->spec, pc->name, nlen) != 0 || pc->spec[nlen] != '=')
		bug("spec not of the port's own name", pc->spec);
	if (port_create(pc->spec, &port, why, sizeof(why)))
		bug("accepted spec refused by its type", why);
	if (policy_set(&port->policy, &pc->opt, why, sizeof(why)))
		bug("accepted options refused by the port", why);
	port_destroy(port);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	char why[512] = "";
	int baseline, rc;
	unsigned int i;

	if (memmem(data, size, "@include", 8))
		return -1;
	write_file(data, size);
	baseline = fuzz_count_fds();
	rc = config_load(path, &cfg, why, sizeof(why));
	if (rc && rc != -EINVAL)
		bug("result neither 0 nor -EINVAL", why);
	if (rc && strncmp(why, path, strlen(path)) != 0 &&
	    strcmp(why, "out of memory") != 0)
		bug("refusal does not name the file", why);
	if (rc && (cfg.port || cfg.nports))
		bug("refused file left ports behind", why);
	if (!rc && cfg.nports > PORT_MAX)
		bug("more than PORT_MAX ports accepted", path);
	for (i = 0; !rc && i < cfg.nports; i++)
		check_port(&cfg, i);
	if (!rc)
		config_free(&cfg);
	fuzz_check_fds(baseline, "after config_load");
	return 0;
}
