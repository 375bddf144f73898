/* SPDX-License-Identifier: MIT */
/*
 * port_afpacket.c - a port on an existing kernel interface (a NIC, a veth)
 * through an AF_PACKET socket, as a Linux bridge or macvtap would attach it
 *
 * rx (what the switch receives): every frame the interface receives, in
 * promiscuous mode, from a TPACKET_V3 ring. The kernel fills blocks of
 * frames and hands a block over when it is full or after AFP_BLOCK_TOV_MS;
 * we copy each frame into a packet and give the block back.
 *
 * tx (what the switch sends out of the interface): sendmmsg() in bursts. A
 * TX ring would save nothing: the frame has to be copied out of our packet
 * either way (into the ring, or by the kernel into an skb), and sendmmsg
 * reports each frame's fate (EMSGSIZE, ENETDOWN, EAGAIN) and needs no ring
 * memory. PACKET_IGNORE_OUTGOING keeps our own transmissions out of the rx
 * ring.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "pkt/csum.h"
#include "ports/netdev.h"
#include "ports/port.h"

#define AFP_BLOCK_SIZE		(1u << 17)	/* 128 KiB: ~80 full-size frames */
#define AFP_BLOCKS		32u		/* 4 MiB of rx ring */
#define AFP_FRAME_HINT		2048		/* V3 frames are variable; for frame_nr */
#define AFP_BLOCK_TOV_MS	1		/* hand over a partial block after this */
#define AFP_TX_BURST		64
#define AFP_SNDBUF		(4 << 20)
#define AFP_REFRESH_NS		(1000ull * 1000 * 1000)
#define VLAN_HLEN		4

struct port_afpacket {
	struct port port;
	char ifname[IFNAMSIZ];
	int ifindex;
	unsigned int mtu;		/* refreshed every second */
	int fd;				/* -1: closed */
	struct ev_handler ev;
	uint32_t watching;		/* epoll events asked for now */
	struct ev_timer refresh;
	uint8_t *ring;			/* AFP_BLOCKS blocks, MAP_FAILED: none */
	unsigned int block;		/* the block read next */
	unsigned int left;		/* frames left in it (0: not taken yet) */
	const uint8_t *next;		/* its next struct tpacket3_hdr */
	struct mmsghdr msg[AFP_TX_BURST];
	struct iovec iov[AFP_TX_BURST];
	uint64_t blocks;		/* blocks taken from the kernel */
	uint64_t kernel_drops;		/* frames the kernel had no ring room for */
	uint64_t tx_stalls;		/* sendmmsg refused with EAGAIN */
	uint64_t csum_done;		/* partial checksums completed here */
	struct ratelimit rl;
};

static struct port_afpacket *to_afp(struct port *port)
{
	return container_of(port, struct port_afpacket, port);
}

static struct tpacket_block_desc *block_desc(struct port_afpacket *pa,
					     unsigned int i)
{
	return (struct tpacket_block_desc *)(pa->ring + (size_t)i * AFP_BLOCK_SIZE);
}

/* The wake-up is the point: the datapath reads the ring next. */
static void on_ready(struct ev_handler *h, uint32_t events)
{
	(void)h;
	(void)events;
}

/* Ask epoll for @events, if that is not what it watches already. */
static void afp_watch(struct port_afpacket *pa, uint32_t events)
{
	if (pa->watching != events && evloop_mod(&pa->ev, events) == 0)
		pa->watching = events;
}

/* ---- setup -------------------------------------------------------------- */

static int sockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	return setsockopt(fd, level, name, val, len) < 0 ? -errno : 0;
}

/* Version, options and the rx ring, before the socket is bound. */
static int afp_configure(int fd)
{
	struct tpacket_req3 req = {
		.tp_block_size = AFP_BLOCK_SIZE,
		.tp_block_nr = AFP_BLOCKS,
		.tp_frame_size = AFP_FRAME_HINT,
		.tp_frame_nr = AFP_BLOCK_SIZE / AFP_FRAME_HINT * AFP_BLOCKS,
		.tp_retire_blk_tov = AFP_BLOCK_TOV_MS,
	};
	int v3 = TPACKET_V3, one = 1, sndbuf = AFP_SNDBUF, rc;

	rc = sockopt(fd, SOL_PACKET, PACKET_VERSION, &v3, sizeof(v3));
	if (!rc)
		rc = sockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof(one));
	if (!rc)
		rc = sockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req));
	/* A deeper send queue absorbs bursts; best effort (needs CAP_NET_ADMIN). */
	if (!rc && sockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf)))
		sockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	return rc;
}

/* Socket, ring, binding to the interface, promiscuous mode; 0 or -errno. */
static int afp_open(struct port_afpacket *pa)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET,
				   .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = pa->ifindex };
	struct packet_mreq mr = { .mr_ifindex = pa->ifindex,
				  .mr_type = PACKET_MR_PROMISC };
	int rc;

	/* Protocol 0: nothing is queued before the ring exists. */
	pa->fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (pa->fd < 0)
		return -errno;
	rc = afp_configure(pa->fd);
	if (rc)
		return rc;
	pa->ring = mmap(NULL, (size_t)AFP_BLOCKS * AFP_BLOCK_SIZE,
			PROT_READ | PROT_WRITE, MAP_SHARED, pa->fd, 0);
	if (pa->ring == MAP_FAILED)
		return -errno;
	if (bind(pa->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		return -errno;
	/* Promiscuity ends with the socket. */
	return sockopt(pa->fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr));
}

/* Fold the kernel's ring-overflow count (reset on read) into ours. */
static void afp_read_kernel_drops(struct port_afpacket *pa)
{
	struct tpacket_stats_v3 st;
	socklen_t len = sizeof(st);

	if (getsockopt(pa->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) == 0)
		pa->kernel_drops += st.tp_drops;
}

/* Once a second: MTU and link state may change under us. */
static void afp_refresh(struct ev_timer *t)
{
	struct port_afpacket *pa = container_of(t, struct port_afpacket, refresh);
	unsigned int flags = 0, mtu;
	bool up;

	if (netdev_get_mtu(pa->ifname, &mtu) == 0)
		pa->mtu = mtu;
	up = netdev_get_flags(pa->ifname, &flags) == 0 &&
	     (flags & IFF_UP) && (flags & IFF_RUNNING);
	if (up != pa->port.up)
		info("port %s: %s is %s", pa->port.name, pa->ifname,
		     up ? "up" : "down (or has no carrier)");
	pa->port.up = up;
	afp_read_kernel_drops(pa);
	evloop_timer_arm(t, afp_refresh, AFP_REFRESH_NS);
}

static int afp_start(struct port *port)
{
	struct port_afpacket *pa = to_afp(port);
	int rc;

	pa->ifindex = netdev_ifindex(pa->ifname);
	if (pa->ifindex < 0) {
		err("port %s: no interface %s", port->name, pa->ifname);
		return pa->ifindex;
	}
	rc = afp_open(pa);
	if (!rc)
		rc = evloop_add(&pa->ev, pa->fd, on_ready, EPOLLIN);
	if (rc) {
		err("port %s: cannot attach to %s: %s%s", port->name, pa->ifname,
		    strerror(-rc), rc == -EPERM ? " (needs CAP_NET_RAW)" : "");
		return rc;
	}
	pa->watching = EPOLLIN;
	afp_refresh(&pa->refresh);
	info("port %s: afpacket on %s (ifindex %d, mtu %u)", port->name,
	     pa->ifname, pa->ifindex, pa->mtu);
	return 0;
}

/* ---- datapath: receive -------------------------------------------------- */

/* Give the current block back to the kernel and move to the next one. */
static void afp_release_block(struct port_afpacket *pa)
{
	/* Our reads of the block happen before the kernel may refill it. */
	__atomic_store_n(&block_desc(pa, pa->block)->hdr.bh1.block_status,
			 TP_STATUS_KERNEL, __ATOMIC_RELEASE);
	pa->block = (pa->block + 1) % AFP_BLOCKS;
	pa->left = 0;
}

/* Take the next block if the kernel has handed it over; false if not. */
static bool afp_take_block(struct port_afpacket *pa)
{
	for (;;) {
		struct tpacket_block_desc *bd = block_desc(pa, pa->block);

		/* Pairs with the kernel's release of the block to us. */
		if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) &
		      TP_STATUS_USER))
			return false;
		pa->blocks++;
		pa->left = bd->hdr.bh1.num_pkts;
		pa->next = (const uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
		if (pa->left)
			return true;
		afp_release_block(pa);
	}
}

/* Copy the frame of @h into @p, putting back a VLAN tag the kernel took off. */
static void afp_copy_frame(const struct tpacket3_hdr *h, struct packet *p)
{
	const uint8_t *d = (const uint8_t *)h + h->tp_mac;
	uint16_t tpid = ETH_P_8021Q;

	if (!(h->tp_status & TP_STATUS_VLAN_VALID)) {
		memcpy(p->data, d, h->tp_len);
		p->len = (uint16_t)h->tp_len;
		return;
	}
	if (h->tp_status & TP_STATUS_VLAN_TPID_VALID)
		tpid = h->hv1.tp_vlan_tpid;
	memcpy(p->data, d, 12);
	p->data[12] = (uint8_t)(tpid >> 8);
	p->data[13] = (uint8_t)tpid;
	p->data[14] = (uint8_t)(h->hv1.tp_vlan_tci >> 8);
	p->data[15] = (uint8_t)h->hv1.tp_vlan_tci;
	memcpy(p->data + 12 + VLAN_HLEN, d + 12, h->tp_len - 12);
	p->len = (uint16_t)(h->tp_len + VLAN_HLEN);
}

/* A frame sent by this host with CHECKSUM_PARTIAL (veth): finish it here. */
static void afp_complete_csum(struct port_afpacket *pa, struct packet *p)
{
	unsigned int start, offset;

	if (csum_locate_l4(p->data, p->len, &start, &offset) == 0 &&
	    csum_complete(p->data, p->len, start, offset) == 0)
		pa->csum_done++;
}

/* One frame from the ring: into a packet on the rx link, or dropped. */
static void afp_rx_frame(struct port_afpacket *pa, const struct tpacket3_hdr *h)
{
	struct port *port = &pa->port;
	unsigned int len = h->tp_len;
	struct packet *p;

	if (h->tp_status & TP_STATUS_VLAN_VALID)
		len += VLAN_HLEN;
	/* Truncated into the block, or a GRO/TSO super-frame over the MTU. */
	if (unlikely(h->tp_snaplen < h->tp_len || len > PACKET_DATA_MAX ||
		     len > pa->mtu + ETH_HLEN + VLAN_HLEN)) {
		port_drop(port, DROP_TOO_BIG, 1);
		return;
	}
	if (unlikely(h->tp_len < ETH_HLEN_MIN)) {
		port_drop(port, DROP_RUNT, 1);
		return;
	}
	p = packet_alloc();
	if (unlikely(!p)) {
		port_drop(port, DROP_NO_PACKET, 1);
		return;
	}
	afp_copy_frame(h, p);
	if (h->tp_status & TP_STATUS_CSUMNOTREADY)
		afp_complete_csum(pa, p);
	p->in_port = port->idx;
	p->in_queue = 0;
	port->stats.rx_packets++;
	port->stats.rx_bytes += p->len;
	link_put(&port->rx, p);
}

/* Up to @budget frames from the ring; a block may be left half read. */
static unsigned int afp_rx(struct port *port, unsigned int budget)
{
	struct port_afpacket *pa = to_afp(port);
	unsigned int n = 0, max = MIN(budget, link_room(&port->rx));

	while (n < max && (pa->left || afp_take_block(pa))) {
		const struct tpacket3_hdr *h = (const void *)pa->next;

		afp_rx_frame(pa, h);
		n++;
		pa->next += h->tp_next_offset;
		if (!--pa->left)
			afp_release_block(pa);
	}
	return n;
}

/* ---- datapath: transmit ------------------------------------------------- */

/* Largest frame the kernel takes: MTU plus Ethernet header, plus a tag if tagged. */
static bool afp_fits(const struct port_afpacket *pa, const struct packet *p)
{
	const uint8_t *d = p->data;
	bool tagged = (d[12] == 0x81 && d[13] == 0x00) ||
		      (d[12] == 0x88 && d[13] == 0xa8);

	return p->len <= pa->mtu + ETH_HLEN + (tagged ? VLAN_HLEN : 0);
}

/* Drop the front packet for @why (errno of a failed send, or too big). */
static void afp_drop_front(struct port_afpacket *pa, enum port_drop why, int e)
{
	port_drop_packet(&pa->port, why, link_get(&pa->port.tx));
	if (why == DROP_TX_ERROR && ratelimit_ok(&pa->rl))
		warn("port %s: sending on %s: %s", pa->port.name, pa->ifname,
		     strerror(e));
}

/* Fill the send burst with the front frames that fit; returns how many. */
static unsigned int afp_fill_burst(struct port_afpacket *pa)
{
	unsigned int cnt = 0, avail = MIN(link_count(&pa->port.tx), AFP_TX_BURST);

	for (; cnt < avail; cnt++) {
		struct packet *p = link_peek(&pa->port.tx, cnt);

		if (!afp_fits(pa, p))
			break;
		pa->iov[cnt].iov_base = p->data;
		pa->iov[cnt].iov_len = p->len;
		pa->msg[cnt].msg_hdr = (struct msghdr){ .msg_iov = &pa->iov[cnt],
							.msg_iovlen = 1 };
	}
	return cnt;
}

/* Send the tx link out of the interface; EAGAIN keeps the rest queued. */
static unsigned int afp_tx(struct port *port)
{
	struct port_afpacket *pa = to_afp(port);
	unsigned int n = 0, cnt;
	int sent;

	if (!port->up) {
		port_drop(port, DROP_PORT_DOWN, link_flush(&port->tx));
		return 0;
	}
	while (!link_empty(&port->tx)) {
		cnt = afp_fill_burst(pa);
		if (!cnt) {
			afp_drop_front(pa, DROP_TOO_BIG, 0);
			continue;
		}
		sent = sendmmsg(pa->fd, pa->msg, cnt, MSG_DONTWAIT);
		if (sent < 0) {
			int e = errno;

			if (e == EAGAIN) {
				pa->tx_stalls++;
				break;
			}
			afp_drop_front(pa, e == ENETDOWN || e == ENXIO ?
				       DROP_PORT_DOWN : DROP_TX_ERROR, e);
			continue;
		}
		port_tx_sent(port, (unsigned int)sent);
		n += (unsigned int)sent;
	}
	return n;
}

/* ---- sleeping, reporting ------------------------------------------------ */

/* A handed-over block means work; else sleep until the socket is ready. */
static bool afp_sleep_prepare(struct port *port)
{
	struct port_afpacket *pa = to_afp(port);

	if (pa->left || (__atomic_load_n(&block_desc(pa, pa->block)->hdr.bh1.block_status,
					 __ATOMIC_ACQUIRE) & TP_STATUS_USER))
		return true;
	afp_watch(pa, link_empty(&port->tx) ? EPOLLIN : EPOLLIN | EPOLLOUT);
	return false;
}

static void afp_sleep_finish(struct port *port)
{
	afp_watch(to_afp(port), EPOLLIN);
}

static void afp_show(struct port *port, FILE *out)
{
	struct port_afpacket *pa = to_afp(port);

	if (pa->fd >= 0)
		afp_read_kernel_drops(pa);
	fprintf(out, "  afpacket %s: ifindex %d, mtu %u, promiscuous, rx ring "
		"TPACKET_V3 %u x %u KiB blocks (%llu taken, %llu frames dropped by "
		"the kernel), %llu tx stalls, %llu checksums completed\n",
		pa->ifname, pa->ifindex, pa->mtu, AFP_BLOCKS, AFP_BLOCK_SIZE / 1024,
		(unsigned long long)pa->blocks,
		(unsigned long long)pa->kernel_drops,
		(unsigned long long)pa->tx_stalls,
		(unsigned long long)pa->csum_done);
}

static void afp_destroy(struct port *port)
{
	struct port_afpacket *pa = to_afp(port);

	evloop_timer_cancel(&pa->refresh);
	evloop_del(&pa->ev);
	if (pa->ring != MAP_FAILED)
		munmap(pa->ring, (size_t)AFP_BLOCKS * AFP_BLOCK_SIZE);
	if (pa->fd >= 0)
		close(pa->fd);
	free(pa);
}

static const struct port_ops afp_ops = {
	.type = "afpacket",
	.start = afp_start,
	.rx = afp_rx,
	.tx = afp_tx,
	.sleep_prepare = afp_sleep_prepare,
	.sleep_finish = afp_sleep_finish,
	.show = afp_show,
	.destroy = afp_destroy,
};

/**
 * port_afpacket_create() - an AF_PACKET port from "IFNAME"
 * @name:	port name
 * @args:	the part after "afpacket:": an existing interface
 * @out:	the new port
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * The interface is looked up and attached by ->start().
 *
 * Return: 0 or -errno
 */
int port_afpacket_create(const char *name, const char *args, struct port **out,
			 char *why, size_t whylen)
{
	struct port_afpacket *pa;

	if (!netdev_valid_name(args)) {
		snprintf(why, whylen, "port %s: expected afpacket:IFNAME with an "
			 "interface name of 1-%d characters", name, IFNAMSIZ - 1);
		return -EINVAL;
	}
	pa = calloc(1, sizeof(*pa));
	if (!pa)
		return -ENOMEM;
	port_init(&pa->port, name, &afp_ops);
	snprintf(pa->ifname, sizeof(pa->ifname), "%s", args);
	pa->fd = -1;
	pa->ev.fd = -1;
	pa->ring = MAP_FAILED;
	*out = &pa->port;
	return 0;
}
