/* SPDX-License-Identifier: MIT */
/* evpn.c - EVPN VNIs as ports come and go; neighbour events in (see evpn.h) */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "core/log.h"
#include "evpn/evpn.h"
#include "ports/port_vxlan.h"

#define EXPORT_PERIOD_NS	(500ull * 1000 * 1000)
#define EVENTS_SOCKBUF		(4 << 20)
#define EVENTS_READS_MAX	64	/* datagrams per wake-up */
#define EVENTS_BUF		(64 << 10)
#define DUMP_REQ_BUF		256
#define EXPORTED_MACS_MAX	65536	/* local MACs one VNI advertises */

static struct evpn_vni *vni_by_vx(const struct evpn *e, uint32_t ifindex)
{
	unsigned int i;

	for (i = 0; i < e->nvni; i++)
		if (e->vni[i]->dev.vx_ifindex == ifindex)
			return e->vni[i];
	return NULL;
}

static bool is_adv(const struct evpn *e, uint32_t ifindex)
{
	unsigned int i;

	for (i = 0; i < e->nvni; i++)
		if (e->vni[i]->dev.adv_ifindex == ifindex)
			return true;
	return false;
}

/* ---- import ------------------------------------------------------------- */

/* A flood-list member (all-zero MAC with a dst) came or went. */
static void apply_flood(struct evpn *e, struct vx_remotes *r, const struct nl_neigh *n)
{
	if (n->del) {
		if (!vx_remotes_flood_del(r, &n->dst))
			e->stats.flood_removed++;
	} else if (vx_remotes_flood_add(r, &n->dst)) {
		e->stats.refused++;
	} else {
		e->stats.flood_added++;
	}
}

/* A remote MAC (extern_learn, with a dst) came, moved or went. */
static void apply_mac(struct evpn *e, struct vx_remotes *r, const struct nl_neigh *n)
{
	if (n->del) {
		if (!vx_remotes_mac_del(r, n->mac))
			e->stats.remote_removed++;
	} else if (vx_remotes_mac_set(r, n->mac, &n->dst)) {
		e->stats.refused++;
	} else {
		e->stats.remote_added++;
	}
}

/* What zebra put on (or took off) vmsw-vxN of @v. */
static void apply(struct evpn *e, struct evpn_vni *v, const struct nl_neigh *n)
{
	struct vx_remotes *r = port_vxlan_evpn(v->port);

	/* The kernel's own entry for the device, multihoming groups: not ours. */
	if (!n->has_mac || n->dst.sa.sa_family == AF_UNSPEC || n->has_nhid) {
		e->stats.skipped++;
		return;
	}
	if (nl_neigh_mac_zero(n))
		apply_flood(e, r, n);
	else if ((n->flags & NTF_EXT_LEARNED) && !(n->mac[0] & 1))
		apply_mac(e, r, n);
	else
		e->stats.skipped++;
}

static void input_one(struct evpn *e, const struct nlmsghdr *nlh)
{
	struct nl_neigh n;
	struct evpn_vni *v;
	int rc = nl_neigh_parse(nlh, &n);

	if (rc == -ENOENT)
		return;
	if (rc) {
		e->stats.malformed++;
		return;
	}
	v = vni_by_vx(e, n.ifindex);
	if (v)
		apply(e, v, &n);
	else if (!is_adv(e, n.ifindex))
		e->stats.other_devices++;
}

static void dump_request(struct evpn *e);

/**
 * evpn_input() - the netlink messages in @buf (@len bytes, as received):
 * neighbour events and dump replies
 */
void evpn_input(struct evpn *e, const void *buf, size_t len)
{
	const struct nlmsghdr *nlh = buf;
	int left = (int)len;

	for (; nl_msg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left)) {
		if (nlh->nlmsg_type == NLMSG_DONE || nlh->nlmsg_type == NLMSG_ERROR) {
			e->dumping = false;	/* the dump ended, or failed */
			if (e->dump_wanted)
				dump_request(e);
		} else {
			input_one(e, nlh);
		}
	}
	if (left > 0)
		e->stats.malformed++;	/* a truncated message at the end */
}

/* Ask for every bridge-family neighbour; one dump at a time per socket. */
static void dump_request(struct evpn *e)
{
	char buf[DUMP_REQ_BUF] __attribute__((aligned(4)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct ndmsg *nd;

	if (e->dumping) {
		e->dump_wanted = true;
		return;
	}
	nlh->nlmsg_type = RTM_GETNEIGH;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	nd = mnl_nlmsg_put_extra_header(nlh, sizeof(*nd));
	nd->ndm_family = AF_BRIDGE;
	e->dump_wanted = false;
	if (mnl_socket_sendto(e->events, nlh, nlh->nlmsg_len) < 0)
		warn("evpn: cannot dump the FDB: %s", strerror(errno));
	else
		e->dumping = true;
}

static void on_events(struct ev_handler *h, uint32_t events)
{
	struct evpn *e = container_of(h, struct evpn, ev);
	static char buf[EVENTS_BUF];
	unsigned int i;
	ssize_t n;

	(void)events;
	for (i = 0; i < EVENTS_READS_MAX; i++) {
		n = recv(h->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && errno == ENOBUFS) {
			e->stats.resyncs++;	/* events lost: read the state again */
			e->dumping = false;
			dump_request(e);
			continue;
		}
		if (n <= 0)
			break;
		evpn_input(e, buf, (size_t)n);
	}
}

static void on_export(struct ev_timer *t)
{
	struct evpn *e = container_of(t, struct evpn, export_timer);

	evpn_export(e);
	evloop_timer_arm(t, on_export, EXPORT_PERIOD_NS);
}

/* ---- sockets, VNIs ------------------------------------------------------- */

static void evpn_close(struct evpn *e)
{
	evloop_timer_cancel(&e->export_timer);
	evloop_del(&e->ev);
	if (e->events)
		mnl_socket_close(e->events);
	e->events = NULL;
	rtnl_close(&e->req);
	e->dumping = e->dump_wanted = false;
}

/* The sockets and the export timer, for the first EVPN port. */
static int evpn_open(struct evpn *e, struct bridge *b)
{
	int size = EVENTS_SOCKBUF, rc;

	e->bridge = b;
	e->ev.fd = -1;
	rc = rtnl_open(&e->req);
	if (rc)
		return rc;
	e->events = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!e->events ||
	    mnl_socket_bind(e->events, 1u << (RTNLGRP_NEIGH - 1), MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		evpn_close(e);
		return rc;
	}
	if (setsockopt(mnl_socket_get_fd(e->events), SOL_SOCKET, SO_RCVBUFFORCE,
		       &size, sizeof(size)) < 0)
		setsockopt(mnl_socket_get_fd(e->events), SOL_SOCKET, SO_RCVBUF,
			   &size, sizeof(size));
	rc = evloop_add(&e->ev, mnl_socket_get_fd(e->events), on_events, EPOLLIN);
	if (rc) {
		evpn_close(e);
		return rc;
	}
	evloop_timer_arm(&e->export_timer, on_export, EXPORT_PERIOD_NS);
	return 0;
}

/* A VNI for @port with its shadow devices; 0 or -errno. */
static int vni_add(struct evpn *e, struct port *port)
{
	struct evpn_vni *v = calloc(1, sizeof(*v));
	int rc;

	if (!v)
		return -ENOMEM;
	v->port = port;
	v->vni = port_vxlan_vni(port);
	rc = macmap_init(&v->exported, EXPORTED_MACS_MAX);
	if (!rc)
		rc = shadow_create(&e->req, &v->dev, v->vni, port_vxlan_local(port));
	if (rc) {
		macmap_destroy(&v->exported);
		free(v);
		return rc;
	}
	e->vni[e->nvni++] = v;
	return 0;
}

static bool vni_taken(const struct evpn *e, uint32_t vni)
{
	unsigned int i;

	for (i = 0; i < e->nvni; i++)
		if (e->vni[i]->vni == vni)
			return true;
	return false;
}

/**
 * evpn_port_added() - set up EVPN for @port if it is an EVPN VXLAN port
 * @e:		EVPN state (zeroed before the first call)
 * @b:		the bridge the port is in
 * @port:	the port, started
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Return: 0 (also for other ports) or -errno
 */
int evpn_port_added(struct evpn *e, struct bridge *b, struct port *port,
		    char *why, size_t whylen)
{
	int rc;

	if (!port_vxlan_evpn(port))
		return 0;
	if (vni_taken(e, port_vxlan_vni(port)) || e->nvni == EVPN_VNI_MAX) {
		snprintf(why, whylen, "port %s: VNI %u has an EVPN port already, "
			 "or %d VNIs are in use", port->name, port_vxlan_vni(port),
			 EVPN_VNI_MAX);
		return -EEXIST;
	}
	if (!e->nvni && (rc = evpn_open(e, b))) {
		snprintf(why, whylen, "port %s: evpn: netlink: %s", port->name,
			 strerror(-rc));
		return rc;
	}
	rc = vni_add(e, port);
	if (rc) {
		snprintf(why, whylen, "port %s: evpn: cannot make the shadow "
			 "devices: %s%s", port->name, strerror(-rc),
			 rc == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
		if (!e->nvni)
			evpn_close(e);
		return rc;
	}
	dump_request(e);
	info("port %s: evpn vni %u: shadow devices %s, %s, %s", port->name,
	     port_vxlan_vni(port), e->vni[e->nvni - 1]->dev.br,
	     e->vni[e->nvni - 1]->dev.vx, e->vni[e->nvni - 1]->dev.adv);
	return 0;
}

/** evpn_port_removed() - @port goes: its shadow devices go (and its routes) */
void evpn_port_removed(struct evpn *e, struct port *port)
{
	unsigned int i;

	for (i = 0; i < e->nvni; i++) {
		struct evpn_vni *v = e->vni[i];

		if (v->port != port)
			continue;
		shadow_remove(&e->req, &v->dev);
		macmap_destroy(&v->exported);
		free(v);
		e->vni[i] = e->vni[--e->nvni];
		if (!e->nvni)
			evpn_close(e);
		return;
	}
}

/** evpn_show() - VNIs and counters, for `ctl show` */
void evpn_show(const struct evpn *e, FILE *out)
{
	const struct evpn_stats *s = &e->stats;
	unsigned int i;

	if (!e->nvni)
		return;
	fprintf(out, "evpn:");
	for (i = 0; i < e->nvni; i++)
		fprintf(out, " vni %u (port %s, %u MACs exported)", e->vni[i]->vni,
			e->vni[i]->port->name, e->vni[i]->exported.count);
	fprintf(out, "\n  %llu remote MACs added, %llu removed, %llu flood VTEPs "
		"added, %llu removed, %llu exported, %llu withdrawn, %llu export "
		"errors, %llu on other devices, %llu skipped, %llu malformed, "
		"%llu refused, %llu resyncs\n",
		(unsigned long long)s->remote_added, (unsigned long long)s->remote_removed,
		(unsigned long long)s->flood_added, (unsigned long long)s->flood_removed,
		(unsigned long long)s->exported, (unsigned long long)s->withdrawn,
		(unsigned long long)s->export_errors, (unsigned long long)s->other_devices,
		(unsigned long long)s->skipped, (unsigned long long)s->malformed,
		(unsigned long long)s->refused, (unsigned long long)s->resyncs);
}
