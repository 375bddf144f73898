/* SPDX-License-Identifier: MIT */
/* main.c - command line, signals, and the switch's life: the only place that exits */
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "ctl/client.h"
#include "ctl/config.h"
#include "ctl/ctl.h"
#include "ctl/exporter.h"
#include "ctl/service.h"
#include "ctl/top.h"
#include "ctl/usage.h"
#include "ctl/vmswitch.h"
#include "pkt/packet.h"
#include "ports/port.h"
#include "switch/bridge.h"
#include "switch/datapath.h"
#include "switch/threads.h"
#include "vhost/guest_mem.h"

struct options {
	const char *port_spec[PORT_MAX];
	unsigned int nports;
	bool busy_poll;
	unsigned int burst;
	unsigned int aging_s;
	unsigned int fdb_max;
	unsigned int pool;
	const char *user;
	const char *config;
	const char *ctl_socket;
	const char *cpus;		/* --cpus, or NULL */
	bool auto_rebalance;		/* --auto-rebalance */
	char default_spec[2][200];
	int cpu[DP_THREADS_MAX];	/* the datapath threads' CPUs */
	unsigned int ncpus;		/* 0: one thread, as without --cpus */
};

static volatile sig_atomic_t quit, dump;	/* set from the signalfd */

/* Parse a number from @min to @max for @opt or exit. */
static unsigned int number(const char *opt, const char *s, unsigned int min,
			   unsigned int max)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end || !*s || v < min || v > max) {
		fprintf(stderr, "vmswitch: %s needs a number from %u to %u, not '%s'\n",
			opt, min, max, s);
		exit(2);
	}
	return (unsigned int)v;
}

static void parse_run_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "poll", no_argument, NULL, 'P' },
		{ "burst", required_argument, NULL, 'b' },
		{ "mac-aging", required_argument, NULL, 'a' },
		{ "mac-table", required_argument, NULL, 'm' },
		{ "packets", required_argument, NULL, 'n' },
		{ "user", required_argument, NULL, 'u' },
		{ "config", required_argument, NULL, 'c' },
		{ "ctl-socket", required_argument, NULL, 'C' },
		{ "cpus", required_argument, NULL, 'T' },
		{ "auto-rebalance", no_argument, NULL, 'R' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "vqh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (o->nports == PORT_MAX) {
				fprintf(stderr, "vmswitch: at most %d ports\n", PORT_MAX);
				exit(2);
			}
			o->port_spec[o->nports++] = optarg;
			break;
		case 'P': o->busy_poll = true; break;
		case 'b': o->burst = number("--burst", optarg, 1, LINK_SIZE); break;
		case 'a': o->aging_s = number("--mac-aging", optarg, 1, 1u << 30); break;
		case 'm': o->fdb_max = number("--mac-table", optarg, 1, 1u << 24); break;
		case 'n': o->pool = number("--packets", optarg, 1, 1u << 22); break;
		case 'u': o->user = optarg; break;
		case 'c': o->config = optarg; break;
		case 'C': o->ctl_socket = optarg; break;
		case 'T': o->cpus = optarg; break;
		case 'R': o->auto_rebalance = true; break;
		case 'v': if (log_threshold < LOG_DEBUG) log_threshold++; break;
		case 'q': log_threshold = LOG_WARN; break;
		case 'h': usage_run(stdout); exit(0);
		default:
			fputs("Try 'vmswitch run --help'.\n", stderr);
			exit(2);
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vmswitch: unexpected argument '%s'\n", argv[optind]);
		exit(2);
	}
}

/* The built-in default: two server ports, and how to attach QEMU to them. */
static void default_ports(struct options *o)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	char dir[128];
	int i;

	if (geteuid() == 0 || !xdg)
		snprintf(dir, sizeof(dir), "/run/vmswitch");
	else
		snprintf(dir, sizeof(dir), "%s/vmswitch", xdg);
	for (i = 0; i < 2; i++) {
		snprintf(o->default_spec[i], sizeof(o->default_spec[i]),
			 "vm%d=vhost-user:%s/vm%d.sock", i + 1, dir, i + 1);
		o->port_spec[o->nports++] = o->default_spec[i];
		printf("Attach a guest to port vm%d with:\n"
		       "  qemu-system-x86_64 ... -m 1G \\\n"
		       "    -object memory-backend-memfd,id=mem,size=1G,share=on "
		       "-numa node,memdev=mem \\\n"
		       "    -chardev socket,id=vmsw%d,path=%s/vm%d.sock,reconnect=1 \\\n"
		       "    -netdev vhost-user,id=net%d,chardev=vmsw%d \\\n"
		       "    -device virtio-net-pci,netdev=net%d,mac=52:54:00:00:00:%02x\n",
		       i + 1, i + 1, dir, i + 1, i + 1, i + 1, i + 1, i + 1);
	}
	fflush(stdout);
}


/*
 * Datapath threads, from --cpus or else the config file's "cpus": decided
 * before the first port exists, since ports register their fds by it.
 */
static int want_threads(struct options *o, const char *from_config)
{
	const char *list = o->cpus ? o->cpus : from_config;
	char why[256];
	int n;

	if (!list || !*list)
		return 0;
	n = dp_threads_parse_cpus(list, o->cpu, DP_THREADS_MAX, why, sizeof(why));
	if (n < 0) {
		err("%s", why);
		return n;
	}
	o->ncpus = (unsigned int)n;
	port_threaded = true;
	return 0;
}

/* The config file's ports, then the --port ones. */
static int add_ports(struct vmswitch *vs, struct options *o)
{
	char why[256];
	unsigned int i;

	if (o->config) {
		vs->config_path = o->config;
		if (config_load(o->config, &vs->cfg, why, sizeof(why))) {
			err("%s", why);
			return -EINVAL;
		}
	}
	if (want_threads(o, o->config ? vs->cfg.cpus : NULL))
		return -EINVAL;
	if (o->config) {
		for (i = 0; i < vs->cfg.nports; i++)
			if (vmswitch_add_port(vs, vs->cfg.port[i].spec, &vs->cfg.port[i].opt,
					      true, why, sizeof(why))) {
				err("%s", why);
				return -EINVAL;
			}
	}
	for (i = 0; i < o->nports; i++) {
		if (vmswitch_add_port(vs, o->port_spec[i], NULL, false, why, sizeof(why))) {
			err("%s", why);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Signals arrive through a signalfd watched by the loop: a stop request wakes
 * a sleeping loop at once and is seen within 128 passes while polling, and
 * the reload and the counter dump run in the loop, not in a handler.
 */
static struct ev_handler signal_ev;
static struct vmswitch *signal_vs;

static void on_signal(struct ev_handler *h, uint32_t events)
{
	struct signalfd_siginfo si;
	char why[256];

	(void)events;
	while (read(h->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGINT:
		case SIGTERM:
			quit = 1;
			break;
		case SIGUSR1:
			dump = 1;
			break;
		case SIGHUP:
			service_reloading();
			if (vmswitch_reload(signal_vs, why, sizeof(why))) {
				err("reload refused, old config kept: %s", why);
				service_reloaded(why);
			} else {
				service_reloaded(NULL);
			}
			break;
		}
	}
}

/* Before anything else: block the signals the loop takes through its fd. */
static sigset_t block_signals(void)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	guest_mem_catch_sigbus();
	return set;
}

static int watch_signals(struct vmswitch *vs, const sigset_t *set)
{
	int fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);

	signal_vs = vs;
	if (fd < 0)
		return -errno;
	return evloop_add(&signal_ev, fd, on_signal, EPOLLIN);
}

/* After the sockets exist, run as @user: nothing later needs root. */
static int drop_privileges(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw) {
		err("--user: no such user '%s'", user);
		return -EINVAL;
	}
	if (initgroups(user, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
		int e = errno;	/* the log call may change errno */

		err("cannot become user %s: %s", user, strerror(e));
		return -e;
	}
	info("running as user %s (uid %u)", user, (unsigned int)pw->pw_uid);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	struct options o = { .burst = DEFAULT_BURST, .aging_s = DEFAULT_AGING_S,
			     .fdb_max = DEFAULT_FDB_MAX, .pool = DEFAULT_POOL };
	static struct vmswitch vs;
	static struct dp_threads threads;
	const char *ctl_path;
	sigset_t signals;
	int rc;

	parse_run_options(argc, argv, &o);
	if (!o.nports && !o.config)
		default_ports(&o);
	signals = block_signals();
	if (evloop_init() || watch_signals(&vs, &signals) || packet_pool_init(o.pool) ||
	    bridge_init(&vs.bridge, o.fdb_max, o.aging_s)) {
		err("out of memory at startup");
		return 1;
	}
	rc = add_ports(&vs, &o);
	ctl_path = o.ctl_socket ? o.ctl_socket : ctl_default_path();
	if (!rc && (rc = ctl_start(&vs, ctl_path)))
		err("control socket %s: %s", ctl_path, strerror(-rc));
	if (!rc && o.user)
		rc = drop_privileges(o.user);
	if (!rc) {
		datapath_init(&vs.dp, &vs.bridge, o.busy_poll, o.burst);
		if (o.ncpus && (rc = dp_threads_start(&threads, &vs.bridge, o.cpu, o.ncpus,
						      o.busy_poll, o.burst, o.pool)))
			err("cannot start the datapath threads: %s", strerror(-rc));
		else if (o.ncpus && (o.auto_rebalance || vs.cfg.auto_rebalance))
			dp_threads_auto_rebalance(&threads);
	}
	if (!rc) {
		info("switching between %u ports%s on %u thread%s; control socket %s",
		     vs.bridge.nports, o.busy_poll ? " (always polling)" : "",
		     o.ncpus ? o.ncpus : 1, o.ncpus > 1 ? "s" : "", ctl_path);
		service_ready(vs.bridge.nports, ctl_path);
		if (o.ncpus)
			dp_threads_run(&threads, &vs.dp, &quit, &dump);
		else
			datapath_run(&vs.dp, &quit, &dump);
		service_stopping();
		datapath_print_stats(&vs.dp, stderr);
		info("stopped");
	}
	ctl_stop();
	vmswitch_destroy(&vs);	/* datapath threads parked */
	if (o.ncpus)
		dp_threads_stop(&threads);
	bridge_destroy(&vs.bridge);
	packet_pool_destroy();
	evloop_destroy();
	return rc ? 1 : 0;
}

/* "help" as the command, or -h or --help anywhere after `ctl`. */
static bool ctl_wants_help(int argc, char **argv, int first)
{
	int i;

	if (first < argc && !strcmp(argv[first], "help"))
		return true;
	for (i = first; i < argc; i++)
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return true;
	return false;
}

/* vmswitch ctl [--socket PATH] COMMAND... */
static int cmd_ctl(int argc, char **argv)
{
	const char *path = ctl_default_path();
	int i = 1;

	if (i < argc && !strcmp(argv[i], "--socket") && i + 1 < argc) {
		path = argv[i + 1];
		i += 2;
	}
	if (ctl_wants_help(argc, argv, i)) {
		usage_ctl(stdout);
		return 0;
	}
	if (i >= argc) {
		usage_ctl(stderr);
		return 2;
	}
	if (!strcmp(argv[i], "top"))
		return ctl_top(path);
	return ctl_client(path, argc - i, argv + i);
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "run"))
		return cmd_run(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "ctl"))
		return cmd_ctl(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "exporter"))
		return exporter_main(argc - 1, argv + 1);
	if (argc >= 2 && usage_is_help(argv[1])) {
		usage_main(stdout);
		return 0;
	}
	if (argc >= 2 && !strcmp(argv[1], "--version")) {
		usage_version(stdout);
		return 0;
	}
	usage_brief(stderr);
	return 2;
}
