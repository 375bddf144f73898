/* SPDX-License-Identifier: MIT */
/*
 * usage.c - what `vmswitch --help`, `vmswitch run --help`, `vmswitch ctl
 * --help` and `vmswitch --version` print. doc/man/vmswitch.8.scd and the
 * README's option table say the same; tests/integ/test_help.py keeps them
 * from drifting apart.
 */
#include <string.h>

#include "ctl/exporter.h"
#include "ctl/usage.h"
#include "ports/port.h"

/* The Makefile passes both; builds outside it (lint, fuzzers) get these. */
#ifndef VMSWITCH_VERSION
#define VMSWITCH_VERSION	"unknown"
#endif
#ifndef VMSWITCH_GIT
#define VMSWITCH_GIT		""
#endif

static const char synopsis[] =
"Usage: vmswitch run [OPTIONS]                  run the switch\n"
"       vmswitch ctl [--socket PATH] COMMAND    ask a running switch\n"
"       vmswitch exporter [--listen ADDR:PORT] [--socket PATH]\n"
"                                               serve its counters to Prometheus\n"
"       vmswitch --help | --version\n";

static const char about[] =
"\n"
"vmswitch is a userspace Ethernet switch for QEMU/KVM guests: a learning\n"
"bridge between vhost-user sockets that guests' virtio-net devices attach\n"
"to, tap devices, host interfaces (AF_PACKET, AF_XDP) and VXLAN tunnels.\n"
"Manual pages: vmswitch(8), vmswitch.conf(5).\n";

static const char run_synopsis[] =
"Usage: vmswitch run [OPTIONS]\n"
"\n"
"Runs the switch in the foreground, logging to stderr.\n";

static const char port_types[] =
"  --port NAME=TYPE:ARGS\n"
"        add a port (repeat for more, at most %d). NAME: letters, digits,\n"
"        '-', '_', '.'. Without --port and --config: two vhost-user ports\n"
"        vm1 and vm2 under /run/vmswitch (or $XDG_RUNTIME_DIR/vmswitch when\n"
"        not root), and the QEMU arguments to attach a guest to each are\n"
"        printed. TYPE:ARGS is one of:\n"
"    vhost-user:PATH[,client|server][,queues=N][,offloads=on|off]\n"
"                  [,packed=on|off][,owner=USER][,group=GROUP][,mode=OCTAL]\n"
"        a guest's virtio-net device. vmswitch listens on PATH (mode 0660\n"
"        unless mode=), QEMU connects with -chardev socket,path=PATH. With\n"
"        'client' vmswitch connects to a QEMU '-chardev socket,server=on'\n"
"        socket instead, retrying every second. queues=N offers N queue\n"
"        pairs (default 4, at most 16). offloads=off offers no checksum or\n"
"        TSO offloads. packed=off offers split virtqueues only (packed ones\n"
"        are offered by default: QEMU packed=on, DPDK packed_vq=1). owner=,\n"
"        group= and mode= set the socket file's owner and permissions (e.g.\n"
"        for QEMU running as libvirt-qemu).\n"
"    tap:IFNAME[,mtu=N][,offloads=on|off]\n"
"        the host's own stack: creates (or attaches to) tap IFNAME and\n"
"        brings it up; mtu=N sets its MTU.\n"
"    afpacket:IFNAME[,offloads=on|off]\n"
"        an existing interface (a NIC, a veth) through an AF_PACKET\n"
"        TPACKET_V3 ring.\n"
"    afxdp:IFNAME[,queue=N][,mode=auto|native|generic]\n"
"        queue N (default 0) of interface IFNAME through AF_XDP (a build\n"
"        with libxdp-dev); native XDP mode where the driver has it.\n"
"    vxlan:REMOTE,vni=N[,local=IP][,port=P]\n"
"        a VXLAN tunnel to the VTEP at REMOTE (IPv4 or IPv6), UDP port\n"
"        4789 unless port=P.\n"
"    vxlan:vni=N,local=IP[,port=P],evpn\n"
"        VXLAN to many VTEPs, learned over BGP EVPN through FRR (shadow\n"
"        kernel devices vmsw-brN, vmsw-vxN, vmsw-adN; README).\n";

static const char run_options[] =
"  --config FILE       read ports and their options from FILE (libconfig\n"
"                      syntax, vmswitch.conf(5)); SIGHUP or 'vmswitch ctl\n"
"                      reload' reads it again and applies the differences\n"
"  --ctl-socket PATH   the control socket (default /run/vmswitch/ctl.sock,\n"
"                      or $XDG_RUNTIME_DIR/vmswitch/ctl.sock when not root)\n"
"  --poll              always poll, never sleep (lowest latency, one core\n"
"                      at 100%%)\n"
"  --burst N           frames taken from a ring per pass (default %d)\n"
"  --cpus LIST         one datapath thread per CPU of LIST (\"0,1\", \"2-5\"),\n"
"                      pinned; the main thread runs the control plane\n"
"  --auto-rebalance    with --cpus: place the ports on the threads again\n"
"                      when the load stays uneven (as ctl rebalance)\n"
"  --mac-aging SECONDS forget MACs silent this long (default %d)\n"
"  --mac-table N       most MACs learned (default %d)\n"
"  --packets N         packet buffers in the pool (default %d)\n"
"  --user USER         run as USER once the ports and sockets exist\n"
"  -v, --verbose       more log (twice: every vhost-user message)\n"
"  -q, --quiet         errors and warnings only\n"
"  -h, --help          this text\n"
"\n"
"Signals: SIGINT or SIGTERM stop the switch; SIGHUP reloads the config\n"
"file; SIGUSR1 prints the counters (also printed on exit) to stderr.\n"
"Exit status: 0 stopped by a signal, 1 a port, the config file or the\n"
"control socket failed at start, 2 bad usage.\n";

static const char ctl_synopsis[] =
"Usage: vmswitch ctl [--socket PATH] COMMAND [ARGS] [--json]\n"
"\n"
"Sends COMMAND to a running switch and prints its answer.\n";

static const char ctl_commands[] =
"Commands:\n"
"  show [PORT]         ports: type, state, options, negotiated features,\n"
"                      queues\n"
"  stats [PORT]        counters per port and queue, drops by reason; the\n"
"                      MAC table, the datapath and the control socket\n"
"  fdb show            the MAC table: VLAN, MAC, port, age in seconds\n"
"  fdb flush [PORT]    forget the learned MACs (of PORT only)\n"
"  port add NAME=TYPE:ARGS [KEY=VALUE]...\n"
"                      add a port (TYPE:ARGS as for run --port)\n"
"  port del NAME       close and remove a port\n"
"  port set NAME KEY=VALUE...\n"
"                      change a port's options; KEY is one of vlan, trunk,\n"
"                      allowed_macs, ingress_filter, egress_filter,\n"
"                      rx_rate, rx_burst, tx_rate, tx_burst, mirror, mtu\n"
"                      (vmswitch.conf(5)); \"none\" clears one\n"
"  capture PORT FILE [FILTER] [--count N]\n"
"                      write PORT's frames (both ways) to the pcap FILE,\n"
"                      opened by the switch; only those FILTER matches\n"
"  capture stop PORT   close the capture; says how many frames were written\n"
"  top                 per-port packets/s, Mbit/s and drops/s, each second\n"
"  metrics             the counters in Prometheus text format\n"
"  reload              read the config file again, apply the differences\n"
"  rebalance [PORT=THREAD|PORT=any]...\n"
"                      with --cpus: place the ports' receive queues on the\n"
"                      datapath threads again, by the load measured since;\n"
"                      PORT=THREAD pins a port to a thread, PORT=any unpins\n";

static const char ctl_options[] =
"Options:\n"
"  --socket PATH       the switch's control socket (default\n"
"                      /run/vmswitch/ctl.sock, or\n"
"                      $XDG_RUNTIME_DIR/vmswitch/ctl.sock when not root)\n"
"  --json              answer in JSON (show, stats, fdb, capture stop)\n"
"  -h, --help          this text\n"
"\n"
"Exit status: 0 done, 1 the switch refused the command (its reason on\n"
"stderr), 2 no switch answered or bad usage.\n";

static const char exporter_text[] =
"vmswitch exporter [--listen ADDR:PORT] [--socket PATH]\n"
"  serves GET /metrics over HTTP on ADDR:PORT (default "
EXPORTER_DEFAULT_LISTEN "),\n"
"  asking the switch's control socket (--socket PATH, default as for ctl)\n"
"  at each scrape; 'vmswitch exporter --help' says more.\n";

/** usage_is_help() - is @arg one of -h, --help, help? */
bool usage_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help");
}

static void run_body(FILE *out)
{
	fputs("\nOptions for run:\n", out);
	fprintf(out, port_types, PORT_MAX);
	fprintf(out, run_options, DEFAULT_BURST, DEFAULT_AGING_S, DEFAULT_FDB_MAX,
		DEFAULT_POOL);
}

static void ctl_body(FILE *out)
{
	fputc('\n', out);
	fputs(ctl_commands, out);
	fputc('\n', out);
	fputs(ctl_options, out);
}

/** usage_brief() - the synopsis alone, for a command line that made no sense */
void usage_brief(FILE *out)
{
	fputs(synopsis, out);
	fputs("Try 'vmswitch --help'.\n", out);
}

/** usage_main() - `vmswitch --help`: every command, option and port type */
void usage_main(FILE *out)
{
	fputs(synopsis, out);
	fputs(about, out);
	run_body(out);
	fputs("\nvmswitch ctl [--socket PATH] COMMAND [ARGS] [--json]\n", out);
	ctl_body(out);
	fputc('\n', out);
	fputs(exporter_text, out);
}

/** usage_run() - `vmswitch run --help` */
void usage_run(FILE *out)
{
	fputs(run_synopsis, out);
	run_body(out);
}

/** usage_ctl() - `vmswitch ctl --help` */
void usage_ctl(FILE *out)
{
	fputs(ctl_synopsis, out);
	ctl_body(out);
}

/** usage_version() - "vmswitch 0.4.0", and the git revision of a build from git */
void usage_version(FILE *out)
{
	if (*VMSWITCH_GIT)
		fprintf(out, "vmswitch %s (git %s)\n", VMSWITCH_VERSION, VMSWITCH_GIT);
	else
		fprintf(out, "vmswitch %s\n", VMSWITCH_VERSION);
}
