/* SPDX-License-Identifier: MIT */
/*
 * port_vxlan.c - a VXLAN tunnel (RFC 7348) to one remote VTEP: another
 * vmswitch, or a Linux vxlan device, on another host
 *
 * tx (what the switch sends to the remote side): each frame gets a UDP and
 * an 8-byte VXLAN header pushed into its headroom and goes out of a raw UDP
 * socket connected to REMOTE, so that the UDP source port can be a hash of
 * the inner flow in 49152-65535, as Linux does (receivers spread flows over
 * queues and ECMP paths by it). The kernel adds the IP header; DF is clear,
 * as with a Linux vxlan device's default, so a large frame is fragmented
 * rather than lost. The raw socket never receives: a drop-all filter.
 *
 * rx (what the switch receives): a UDP socket bound to LOCAL (or any
 * address) and the VXLAN port; recvmmsg in bursts; datagrams from another
 * sender, without the I flag, with another VNI, or truncated are dropped and
 * counted.
 *
 * MAC learning per VTEP: a port is one remote VTEP, so the bridge learning
 * inner source MACs on this port is exactly "these MACs live behind that
 * VTEP"; no table of our own is needed. More VTEPs are more ports, each with
 * its own local address or UDP port (each port binds its own socket).
 *
 * EVPN (vxlan:vni=N,local=IP,evpn): one port reaches many VTEPs. The EVPN
 * control plane (src/evpn/) fills a table of remote MAC -> VTEP and a flood
 * list (ports/vxlan_remotes.c); known unicast goes to its VTEP, anything
 * else is replicated head-end to each VTEP of the flood list: the copies
 * are messages of one sendmmsg pointing at the same encapsulated bytes,
 * each with its own destination. Datagrams are taken from any VTEP the
 * table knows. The bridge still learns the inner source MACs on the port.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "pkt/flow.h"
#include "ports/port.h"
#include "ports/port_vxlan.h"

#define VXLAN_HLEN		8
#define VXLAN_FLAG_I		0x08	/* the VNI is valid */
#define UDP_HLEN		8
#define VXLAN_DEFAULT_PORT	4789
#define VXLAN_SPORT_MIN		49152
#define VXLAN_SPORT_RANGE	16384	/* 49152..65535 */
#define VNI_MAX			0xffffffu
#define VX_BURST		64
#define VX_SOCKBUF		(4 << 20)
#define VX_TX_MSGS		(VX_BURST + VX_VTEP_MAX)	/* a burst of copies */

struct port_vxlan {
	struct port port;
	union vx_addr remote;		/* static form only */
	struct vx_remotes *remotes;	/* EVPN form only, else NULL */
	union vx_addr local;		/* family AF_UNSPEC: any address */
	uint16_t udp_port;
	uint32_t vni;
	bool evpn;			/* vxlan:vni=N,local=IP,evpn */
	int rx_fd;			/* UDP socket, -1: closed */
	int tx_fd;			/* raw UDP socket, -1: closed */
	struct ev_handler rx_ev;
	struct ev_handler tx_ev;	/* watched only while frames wait */
	/* Receiving; with datapath threads, only the polling thread's. */
	struct mmsghdr msg[VX_BURST];
	struct iovec iov[VX_BURST];
	union vx_addr from[VX_BURST];
	struct packet *pkt[VX_BURST];
	/* Sending, under the port's lock with datapath threads. */
	struct iovec txiov[VX_BURST];
	struct mmsghdr txmsg[VX_TX_MSGS];	/* EVPN: the copies of a burst */
	unsigned int txend[VX_BURST];	/* EVPN: a frame's copies end here */
	uint64_t bad_vni;		/* datagrams with another VNI */
	uint64_t malformed;		/* shorter than the header, or no I flag */
	uint64_t foreign;		/* from a host other than REMOTE */
	uint64_t tx_stalls;		/* sendmmsg refused with EAGAIN */
	uint64_t copies_lost;		/* EVPN: copies of a frame not sent */
	struct ratelimit rx_rl;
	struct ratelimit tx_rl;
};

static struct port_vxlan *to_vxlan(struct port *port)
{
	return container_of(port, struct port_vxlan, port);
}

static socklen_t addr_len(const union vx_addr *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof(a->v6) : sizeof(a->v4);
}

static void addr_set_port(union vx_addr *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->v6.sin6_port = htons(port);
	else
		a->v4.sin_port = htons(port);
}

/* "192.0.2.1" or "2001:db8::1"; 0 or -EINVAL. */
static int addr_parse(const char *s, union vx_addr *a)
{
	memset(a, 0, sizeof(*a));
	if (inet_pton(AF_INET, s, &a->v4.sin_addr) == 1) {
		a->v4.sin_family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, &a->v6.sin6_addr) == 1) {
		a->v6.sin6_family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

static const char *addr_str(const union vx_addr *a, char *buf, size_t len)
{
	if (a->sa.sa_family == AF_UNSPEC)
		return "*";
	return inet_ntop(a->sa.sa_family, a->sa.sa_family == AF_INET6 ?
			 (const void *)&a->v6.sin6_addr : (const void *)&a->v4.sin_addr,
			 buf, (socklen_t)len);
}

/* Did @from come from the remote VTEP, or one EVPN knows (any source port)? */
static bool from_remote(const struct port_vxlan *pv, const union vx_addr *from)
{
	if (pv->remotes)
		return vx_remotes_known(pv->remotes, from);
	return vx_addr_equal(from, &pv->remote);
}

/* The address family of the tunnel: REMOTE's, or LOCAL's for EVPN. */
static int vx_family(const struct port_vxlan *pv)
{
	return pv->remotes ? pv->local.sa.sa_family : pv->remote.sa.sa_family;
}

/* ---- setup -------------------------------------------------------------- */

static int sockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return setsockopt(fd, level, name, val, len) < 0 ? -errno : 0;
}

/* A bigger socket buffer for bursts; best effort (FORCE needs CAP_NET_ADMIN). */
static void grow_buffer(int fd, int name, int force_name)
{
	int size = VX_SOCKBUF;

	if (sockopt(fd, SOL_SOCKET, force_name, &size, sizeof(size)))
		sockopt(fd, SOL_SOCKET, name, &size, sizeof(size));
}

/* The raw sending socket: bound to LOCAL, connected to REMOTE; 0 or -errno. */
static int vx_open_tx(struct port_vxlan *pv)
{
	static struct sock_filter drop_all = BPF_STMT(BPF_RET | BPF_K, 0);
	struct sock_fprog prog = { .len = 1, .filter = &drop_all };
	int fam = vx_family(pv), csum_at = 6, rc;
	int dont = IP_PMTUDISC_DONT;	/* the same value as IPV6_PMTUDISC_DONT */
	union vx_addr a;

	pv->tx_fd = socket(fam, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (pv->tx_fd < 0)
		return -errno;
	rc = sockopt(pv->tx_fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog));
	if (!rc && fam == AF_INET)
		rc = sockopt(pv->tx_fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof(dont));
	/* IPv6 forbids a zero UDP checksum: the kernel fills it in at offset 6. */
	if (!rc && fam == AF_INET6)
		rc = sockopt(pv->tx_fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &dont, sizeof(dont)) ?:
		     sockopt(pv->tx_fd, IPPROTO_IPV6, IPV6_CHECKSUM, &csum_at, sizeof(csum_at));
	if (rc)
		return rc;
	grow_buffer(pv->tx_fd, SO_SNDBUF, SO_SNDBUFFORCE);
	if (pv->local.sa.sa_family != AF_UNSPEC) {
		a = pv->local;
		addr_set_port(&a, 0);
		if (bind(pv->tx_fd, &a.sa, addr_len(&a)) < 0)
			return -errno;
	}
	if (pv->remotes)
		return 0;	/* each message names its VTEP */
	a = pv->remote;
	addr_set_port(&a, 0);	/* raw sockets have no ports */
	return connect(pv->tx_fd, &a.sa, addr_len(&a)) < 0 ? -errno : 0;
}

/* The receiving UDP socket on LOCAL (or any):port; 0 or -errno. */
static int vx_open_rx(struct port_vxlan *pv)
{
	union vx_addr a = pv->local;
	int one = 1;

	if (a.sa.sa_family == AF_UNSPEC) {
		memset(&a, 0, sizeof(a));
		a.sa.sa_family = (sa_family_t)vx_family(pv);	/* any address */
	}
	addr_set_port(&a, pv->udp_port);
	pv->rx_fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pv->rx_fd < 0)
		return -errno;
	if (a.sa.sa_family == AF_INET6) {
		int rc = sockopt(pv->rx_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				 sizeof(one));

		if (rc)
			return rc;
	}
	grow_buffer(pv->rx_fd, SO_RCVBUF, SO_RCVBUFFORCE);
	return bind(pv->rx_fd, &a.sa, addr_len(&a)) < 0 ? -errno : 0;
}

/* Readable: the datapath reads next. Nothing to do here. */
static void on_rx_ready(struct ev_handler *h, uint32_t events)
{
	(void)h;
	(void)events;
}

/* Writable again, or an ICMP error to clear (it would keep waking us). */
static void on_tx_ready(struct ev_handler *h, uint32_t events)
{
	int e;
	socklen_t len = sizeof(e);

	if (events & EPOLLERR)
		getsockopt(h->fd, SOL_SOCKET, SO_ERROR, &e, &len);
}

static int vx_start(struct port *port)
{
	struct port_vxlan *pv = to_vxlan(port);
	char r[INET6_ADDRSTRLEN], l[INET6_ADDRSTRLEN];
	int rc;

	rc = vx_open_tx(pv);
	if (rc) {
		err("port %s: cannot open the sending socket: %s%s", port->name,
		    strerror(-rc), rc == -EPERM ? " (raw socket: needs CAP_NET_RAW)" : "");
		return rc;
	}
	rc = vx_open_rx(pv);
	/* With datapath threads, the polling thread sleeps on it (vx_wake_fds()). */
	if (!rc && !port_threaded)
		rc = evloop_add(&pv->rx_ev, pv->rx_fd, on_rx_ready, EPOLLIN);
	if (rc) {
		err("port %s: cannot receive on UDP port %u: %s", port->name,
		    pv->udp_port, strerror(-rc));
		return rc;
	}
	port->up = true;
	info("port %s: vxlan vni %u to %s port %u, from %s", port->name, pv->vni,
	     pv->remotes ? "EVPN VTEPs" : addr_str(&pv->remote, r, sizeof(r)),
	     pv->udp_port, addr_str(&pv->local, l, sizeof(l)));
	return 0;
}

/* ---- datapath ----------------------------------------------------------- */

/* Check and strip the VXLAN header of datagram @m in @p; deliver or drop. */
static void vx_rx_one(struct port_vxlan *pv, struct packet *p,
		      const struct mmsghdr *m, const union vx_addr *from)
{
	struct port *port = &pv->port;
	const uint8_t *h = p->data - VXLAN_HLEN;
	uint32_t vni;

	if (unlikely(m->msg_hdr.msg_flags & MSG_TRUNC)) {
		port_drop_packet(port, DROP_TOO_BIG, p);
		return;
	}
	if (unlikely(!from_remote(pv, from))) {
		pv->foreign++;
		port_drop_packet(port, DROP_BAD_ENCAP, p);
		return;
	}
	if (unlikely(m->msg_len < VXLAN_HLEN || !(h[0] & VXLAN_FLAG_I))) {
		pv->malformed++;
		port_drop_packet(port, DROP_BAD_ENCAP, p);
		return;
	}
	/* Reserved bits are ignored on receipt (RFC 7348 section 5). */
	vni = (uint32_t)h[4] << 16 | (uint32_t)h[5] << 8 | h[6];
	if (unlikely(vni != pv->vni)) {
		pv->bad_vni++;
		port_drop_packet(port, DROP_BAD_ENCAP, p);
		return;
	}
	if (unlikely(m->msg_len < VXLAN_HLEN + ETH_HLEN_MIN)) {
		port_drop_packet(port, DROP_RUNT, p);
		return;
	}
	p->len = (uint16_t)(m->msg_len - VXLAN_HLEN);
	port_rx_put(port, p);
}

/* Packets to receive into: each datagram lands with its frame at p->data. */
static unsigned int vx_rx_prepare(struct port_vxlan *pv, unsigned int max)
{
	unsigned int i;

	for (i = 0; i < max; i++) {
		struct packet *p = packet_alloc();

		if (!p)
			break;
		pv->pkt[i] = p;
		pv->iov[i].iov_base = p->data - VXLAN_HLEN;
		pv->iov[i].iov_len = VXLAN_HLEN + PACKET_DATA_MAX;
		pv->msg[i].msg_hdr = (struct msghdr){
			.msg_name = &pv->from[i], .msg_namelen = sizeof(pv->from[i]),
			.msg_iov = &pv->iov[i], .msg_iovlen = 1 };
	}
	return i;
}

/* Up to @budget datagrams in one recvmmsg. */
static unsigned int vx_rx(struct port *port, unsigned int budget)
{
	struct port_vxlan *pv = to_vxlan(port);
	unsigned int cnt, i;
	int got;

	cnt = vx_rx_prepare(pv, MIN(MIN(budget, VX_BURST), link_room(&port->rx)));
	if (!cnt)
		return 0;
	got = recvmmsg(pv->rx_fd, pv->msg, cnt, MSG_DONTWAIT, NULL);
	if (got < 0) {
		if (errno != EAGAIN && ratelimit_ok(&pv->rx_rl))
			warn("port %s: receiving: %s", port->name, strerror(errno));
		got = 0;
	}
	for (i = 0; i < (unsigned int)got; i++)
		vx_rx_one(pv, pv->pkt[i], &pv->msg[i], &pv->from[i]);
	for (; i < cnt; i++)
		packet_free(pv->pkt[i]);
	return (unsigned int)got;
}

/* Push UDP and VXLAN headers in front of @p's frame; @iov covers it all. */
static void vx_encap(const struct port_vxlan *pv, struct packet *p,
		     struct iovec *iov)
{
	uint8_t *u = p->data - VXLAN_HLEN - UDP_HLEN, *v = u + UDP_HLEN;
	/* Spread the hash over the range as Linux's udp_flow_src_port() does. */
	uint16_t sport = (uint16_t)(VXLAN_SPORT_MIN +
		(((uint64_t)flow_hash(p) * VXLAN_SPORT_RANGE) >> 32));
	uint16_t ulen = (uint16_t)(UDP_HLEN + VXLAN_HLEN + p->len);

	u[0] = (uint8_t)(sport >> 8);
	u[1] = (uint8_t)sport;
	u[2] = (uint8_t)(pv->udp_port >> 8);
	u[3] = (uint8_t)pv->udp_port;
	u[4] = (uint8_t)(ulen >> 8);
	u[5] = (uint8_t)ulen;
	u[6] = u[7] = 0;	/* IPv4: no checksum (RFC 7348); IPv6: the kernel's */
	memset(v, 0, VXLAN_HLEN);
	v[0] = VXLAN_FLAG_I;
	v[4] = (uint8_t)(pv->vni >> 16);
	v[5] = (uint8_t)(pv->vni >> 8);
	v[6] = (uint8_t)pv->vni;
	iov->iov_base = u;
	iov->iov_len = ulen;
}

/* Drop the front frame after a send error other than EAGAIN. */
static void vx_drop_front(struct port_vxlan *pv, int e)
{
	port_drop_packet(&pv->port, DROP_TX_ERROR, link_get(&pv->port.tx));
	if (ratelimit_ok(&pv->tx_rl))
		warn("port %s: sending: %s", pv->port.name, strerror(e));
}

/*
 * Encapsulate the front frames into the send burst; returns how many. The
 * port takes no offloads, so segmentation frames arrive cut to MSS size
 * (ports/prepare.c); a longer frame without segmentation (a one-segment
 * GSO request of a large gso_size) stops the burst, and is dropped when at
 * the front: a datagram longer than what the far end receives is useless.
 */
static unsigned int vx_fill_burst(struct port_vxlan *pv)
{
	unsigned int cnt = MIN(link_count(&pv->port.tx), VX_BURST), i;

	for (i = 0; i < cnt; i++) {
		struct packet *p = link_peek(&pv->port.tx, i);

		if (unlikely(p->len > PACKET_DATA_MAX))
			break;
		vx_encap(pv, p, &pv->txiov[i]);
		pv->txmsg[i].msg_hdr = (struct msghdr){ .msg_iov = &pv->txiov[i],
							.msg_iovlen = 1 };
	}
	return i;
}

/*
 * EVPN: one message per copy of each front frame, all copies of a frame
 * pointing at its one encapsulation; returns the frames taken, and
 * txend[i] is where frame i's copies end. A frame too big or with no VTEP
 * to go to ends the burst (0 when it is the front one).
 */
static unsigned int vx_fill_copies(struct port_vxlan *pv)
{
	const union vx_addr *to[VX_VTEP_MAX];
	unsigned int cnt = MIN(link_count(&pv->port.tx), VX_BURST), i, k, m = 0;

	for (i = 0; i < cnt; i++) {
		struct packet *p = link_peek(&pv->port.tx, i);

		if (unlikely(p->len > PACKET_DATA_MAX))
			break;
		unsigned int n = vx_remotes_targets(pv->remotes, p->data, to);

		if (!n || m + n > VX_TX_MSGS)
			break;
		vx_encap(pv, p, &pv->txiov[i]);
		for (k = 0; k < n; k++, m++)
			pv->txmsg[m].msg_hdr = (struct msghdr){
				.msg_name = (void *)to[k],
				.msg_namelen = addr_len(to[k]),
				.msg_iov = &pv->txiov[i], .msg_iovlen = 1 };
		pv->txend[i] = m;
	}
	return i;
}

/* Frames whose copies began within the first @sent messages: sent. */
static unsigned int vx_frames_sent(struct port_vxlan *pv, unsigned int frames,
				   unsigned int sent)
{
	unsigned int i;

	for (i = 0; i < frames && (i ? pv->txend[i - 1] : 0) < sent; i++)
		if (pv->txend[i] > sent)
			pv->copies_lost += pv->txend[i] - sent;
	return i;
}

/* EVPN: send the tx link's frames to their VTEPs; EAGAIN keeps the rest. */
static unsigned int vx_tx_evpn(struct port_vxlan *pv)
{
	struct port *port = &pv->port;
	unsigned int n = 0, cnt, done;
	int sent;

	while (!link_empty(&port->tx)) {
		cnt = vx_fill_copies(pv);
		if (!cnt) {
			struct packet *p = link_get(&port->tx);

			port_drop_packet(port, p->len > PACKET_DATA_MAX ?
					 DROP_TOO_BIG : DROP_NO_VTEP, p);
			continue;
		}
		sent = sendmmsg(pv->tx_fd, pv->txmsg, pv->txend[cnt - 1], MSG_DONTWAIT);
		if (sent < 0) {
			if (errno == EAGAIN) {
				pv->tx_stalls++;
				break;
			}
			vx_drop_front(pv, errno);
			continue;
		}
		done = vx_frames_sent(pv, cnt, (unsigned int)sent);
		port_tx_sent(port, done);
		n += done;
	}
	return n;
}

/* Encapsulate and send the tx link in bursts; EAGAIN keeps the rest queued. */
static unsigned int vx_tx(struct port *port)
{
	struct port_vxlan *pv = to_vxlan(port);
	unsigned int n = 0, cnt;
	int sent;

	if (pv->remotes)
		return vx_tx_evpn(pv);
	while (!link_empty(&port->tx)) {
		cnt = vx_fill_burst(pv);
		if (!cnt) {
			port_drop_packet(port, DROP_TOO_BIG, link_get(&port->tx));
			continue;
		}
		sent = sendmmsg(pv->tx_fd, pv->txmsg, cnt, MSG_DONTWAIT);
		if (sent < 0) {
			if (errno == EAGAIN) {
				pv->tx_stalls++;
				break;
			}
			vx_drop_front(pv, errno);
			continue;
		}
		port_tx_sent(port, (unsigned int)sent);
		n += (unsigned int)sent;
	}
	return n;
}

/* ---- sleeping, reporting ------------------------------------------------ */

/*
 * Datagrams wake us through rx_ev; frames waiting to go out, through tx_ev.
 * With datapath threads neither is in the control loop: the polling thread
 * sleeps on rx_fd, and frames waiting for room are on their senders' links
 * (retried every 1 ms), so port->tx is empty here.
 */
static bool vx_sleep_prepare(struct port *port)
{
	struct port_vxlan *pv = to_vxlan(port);

	/* Without the EPOLLOUT wake-up the frames would wait: do not sleep. */
	if (!link_empty(&port->tx) && pv->tx_ev.fd < 0 &&
	    evloop_add(&pv->tx_ev, pv->tx_fd, on_tx_ready, EPOLLOUT))
		return true;
	return false;
}

static void vx_sleep_finish(struct port *port)
{
	if (!port_threaded)
		evloop_del(&to_vxlan(port)->tx_ev);
}

/* The receiving socket (datapath threads). */
static unsigned int vx_wake_fds(struct port *port, int *fds, unsigned int max)
{
	return port_wake_fd(to_vxlan(port)->rx_fd, fds, max);
}

static void vx_show(struct port *port, FILE *out)
{
	struct port_vxlan *pv = to_vxlan(port);
	char r[INET6_ADDRSTRLEN], l[INET6_ADDRSTRLEN];

	fprintf(out, "  vxlan vni %u to %s port %u from %s: %llu wrong vni, "
		"%llu malformed, %llu from other hosts, %llu tx stalls\n",
		pv->vni, addr_str(&pv->remote, r, sizeof(r)), pv->udp_port,
		addr_str(&pv->local, l, sizeof(l)),
		(unsigned long long)pv->bad_vni, (unsigned long long)pv->malformed,
		(unsigned long long)pv->foreign, (unsigned long long)pv->tx_stalls);
	if (pv->remotes)
		fprintf(out, "  evpn: %u remote MACs, %u VTEPs on the flood list, "
			"%llu copies lost\n", pv->remotes->macs.count,
			pv->remotes->nflood, (unsigned long long)pv->copies_lost);
}

static void vx_destroy(struct port *port)
{
	struct port_vxlan *pv = to_vxlan(port);

	evloop_del(&pv->rx_ev);
	evloop_del(&pv->tx_ev);
	if (pv->rx_fd >= 0)
		close(pv->rx_fd);
	if (pv->tx_fd >= 0)
		close(pv->tx_fd);
	if (pv->remotes) {
		vx_remotes_destroy(pv->remotes);
		free(pv->remotes);
	}
	free(pv);
}

static const struct port_ops vxlan_ops = {
	.type = "vxlan",
	.start = vx_start,
	.rx = vx_rx,
	.tx = vx_tx,
	.sleep_prepare = vx_sleep_prepare,
	.sleep_finish = vx_sleep_finish,
	.show = vx_show,
	.destroy = vx_destroy,
	.wake_fds = vx_wake_fds,
};

/* "N" from @min to @max into @out; 0 or -EINVAL. */
static int parse_number(const char *s, unsigned long min, unsigned long max,
			unsigned long *out)
{
	char *end;

	*out = strtoul(s, &end, 10);
	return *s && !*end && *out >= min && *out <= max ? 0 : -EINVAL;
}

/* One ",option"; 0 or -EINVAL with @why set. */
static int vx_parse_option(struct port_vxlan *pv, const char *opt, bool *have_vni,
			   char *why, size_t whylen)
{
	unsigned long v;

	if (!strncmp(opt, "vni=", 4)) {
		if (parse_number(opt + 4, 0, VNI_MAX, &v))
			goto bad;
		pv->vni = (uint32_t)v;
		*have_vni = true;
	} else if (!strncmp(opt, "port=", 5)) {
		if (parse_number(opt + 5, 1, 65535, &v))
			goto bad;
		pv->udp_port = (uint16_t)v;
	} else if (!strncmp(opt, "local=", 6)) {
		if (addr_parse(opt + 6, &pv->local))
			goto bad;
	} else if (!strcmp(opt, "evpn")) {
		pv->evpn = true;
	} else {
		snprintf(why, whylen, "unknown option '%s' (known: vni=N, local=IP, "
			 "port=N, evpn)", opt);
		return -EINVAL;
	}
	return 0;
bad:
	snprintf(why, whylen, "bad '%s' (vni: 0..%u, port: 1..65535, local: an "
		 "IPv4 or IPv6 address)", opt, VNI_MAX);
	return -EINVAL;
}

/* What the options together must satisfy; 0 or -EINVAL with @why set. */
static int vx_check(const struct port_vxlan *pv, bool have_remote,
		    bool have_vni, char *why, size_t whylen)
{
	if (!have_vni) {
		snprintf(why, whylen, "vni=N is required");
		return -EINVAL;
	}
	if (pv->evpn && (have_remote || pv->local.sa.sa_family == AF_UNSPEC)) {
		snprintf(why, whylen, "evpn takes local=IP and no REMOTE (EVPN "
			 "finds the VTEPs): vxlan:vni=N,local=IP,evpn");
		return -EINVAL;
	}
	if (!pv->evpn && !have_remote) {
		snprintf(why, whylen, "expected vxlan:REMOTE_IP,vni=N[,local=IP]"
			 "[,port=N] or vxlan:vni=N,local=IP,evpn");
		return -EINVAL;
	}
	return 0;
}

/*
 * "REMOTE_IP,vni=N[,local=IP][,port=N]" or "vni=N,local=IP[,port=N],evpn"
 * into @pv; 0 or -EINVAL.
 */
static int vx_parse(struct port_vxlan *pv, const char *args, char *why,
		    size_t whylen)
{
	char buf[256], *opt, *save;
	bool have_vni = false, have_remote = false;
	int rc = 0;

	if (snprintf(buf, sizeof(buf), "%s", args) >= (int)sizeof(buf) ||
	    !(opt = strtok_r(buf, ",", &save)) ||
	    (!strchr(opt, '=') && strcmp(opt, "evpn") != 0 &&
	     addr_parse(opt, &pv->remote))) {
		snprintf(why, whylen, "expected vxlan:REMOTE_IP,vni=N[,local=IP]"
			 "[,port=N] with an IPv4 or IPv6 address, or "
			 "vxlan:vni=N,local=IP[,port=N],evpn");
		return -EINVAL;
	}
	if (pv->remote.sa.sa_family != AF_UNSPEC)
		have_remote = true;
	else
		rc = vx_parse_option(pv, opt, &have_vni, why, whylen);
	while (!rc && (opt = strtok_r(NULL, ",", &save)))
		rc = vx_parse_option(pv, opt, &have_vni, why, whylen);
	if (rc || (rc = vx_check(pv, have_remote, have_vni, why, whylen)))
		return rc;
	if (have_remote && pv->local.sa.sa_family != AF_UNSPEC &&
	    pv->local.sa.sa_family != pv->remote.sa.sa_family) {
		snprintf(why, whylen, "local and remote addresses must both be "
			 "IPv4 or both IPv6");
		return -EINVAL;
	}
	return 0;
}

/**
 * port_vxlan_create() - a VXLAN port from "REMOTE_IP,vni=N[,local=IP][,port=N]"
 * or "vni=N,local=IP[,port=N],evpn"
 * @name:	port name
 * @args:	the part after "vxlan:"
 * @out:	the new port
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * The sockets are opened by ->start().
 *
 * Return: 0 or -errno
 */
int port_vxlan_create(const char *name, const char *args, struct port **out,
		      char *why, size_t whylen)
{
	struct port_vxlan *pv = calloc(1, sizeof(*pv));
	char reason[200];
	int rc;

	if (!pv)
		return -ENOMEM;
	port_init(&pv->port, name, &vxlan_ops);
	pv->udp_port = VXLAN_DEFAULT_PORT;
	rc = vx_parse(pv, args, reason, sizeof(reason));
	if (rc) {
		snprintf(why, whylen, "port %s: %s", name, reason);
		free(pv);
		return rc;
	}
	if (pv->evpn) {
		pv->remotes = malloc(sizeof(*pv->remotes));
		if (!pv->remotes || vx_remotes_init(pv->remotes)) {
			free(pv->remotes);
			free(pv);
			return -ENOMEM;
		}
	}
	pv->rx_fd = pv->tx_fd = -1;
	pv->rx_ev.fd = pv->tx_ev.fd = -1;
	*out = &pv->port;
	return 0;
}

/** port_is_vxlan() - is @port a VXLAN port (either form)? */
bool port_is_vxlan(const struct port *port)
{
	return port->ops == &vxlan_ops;
}

/** port_vxlan_evpn() - the remote table of an EVPN VXLAN port, else NULL */
struct vx_remotes *port_vxlan_evpn(struct port *port)
{
	return port_is_vxlan(port) ? to_vxlan(port)->remotes : NULL;
}

/** port_vxlan_vni() - the VNI of VXLAN port @port */
uint32_t port_vxlan_vni(const struct port *port)
{
	return container_of(port, const struct port_vxlan, port)->vni;
}

/** port_vxlan_local() - the local VTEP address of VXLAN port @port */
const union vx_addr *port_vxlan_local(const struct port *port)
{
	return &container_of(port, const struct port_vxlan, port)->local;
}
