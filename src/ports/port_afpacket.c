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
 * Offloads (unless the port says offloads=off): PACKET_VNET_HDR puts a
 * virtio-net header in front of every frame both ways, so the interface
 * may keep GRO and TSO on. A GRO or TSO frame of up to 64 KiB arrives whole
 * with its header (a 128 KiB block holds it: the kernel's bound is the
 * block size less its header) and is checked like a guest's; frames sent
 * carry their segmentation and partial checksum to the kernel, which
 * segments in software for a device without TSO.
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
#include "pkt/gso.h"
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
/* PACKET_VNET_HDR: struct virtio_net_hdr without num_buffers */
#define AFP_VNET_LEN		10
#define AFP_OFFLOADS		(PKT_OFL_CSUM | PKT_OFL_TSO4 | PKT_OFL_TSO6 | PKT_OFL_ECN)
/* The kernel hands over UDP GSO too (UDP_SEGMENT senders on a veth). */
#define AFP_RX_CAPS		(AFP_OFFLOADS | PKT_OFL_USO4 | PKT_OFL_USO6 | \
				 PKT_OFL_TRUST_VALID)

struct port_afpacket {
	struct port port;
	char ifname[IFNAMSIZ];
	int ifindex;
	unsigned int mtu;		/* refreshed every second */
	bool no_offloads;		/* offloads=off: no vnet header */
	bool vnet;			/* PACKET_VNET_HDR in use, both ways */
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
	uint64_t large_rx;		/* frames received over PACKET_DATA_MAX */
	uint64_t large_tx;		/* frames sent over PACKET_DATA_MAX */
	/* Two: with datapath threads, rx and tx run on different threads. */
	struct ratelimit rx_rl;
	struct ratelimit tx_rl;
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

/*
 * The virtio-net header both ways, before the ring exists (the kernel
 * refuses it after). A kernel without it leaves the port without offloads.
 */
static void afp_set_vnet(struct port_afpacket *pa)
{
	int one = 1, rc;

	pa->vnet = false;
	pa->port.tx_offloads = 0;
	if (pa->no_offloads)
		return;
	rc = sockopt(pa->fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one));
	if (rc) {
		warn("port %s: no PACKET_VNET_HDR (%s): no offloads", pa->port.name,
		     strerror(-rc));
		return;
	}
	pa->vnet = true;
	pa->port.tx_offloads = AFP_OFFLOADS;
}

/* Version, options and the rx ring, before the socket is bound. */
static int afp_configure(struct port_afpacket *pa)
{
	int fd = pa->fd;
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
		afp_set_vnet(pa);
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
	rc = afp_configure(pa);
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
	/* With datapath threads, the polling thread sleeps on it (afp_wake_fds()). */
	if (!rc && !port_threaded)
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
		p->len = h->tp_len;
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
	p->len = h->tp_len + VLAN_HLEN;
}

/* A frame sent by this host with CHECKSUM_PARTIAL (veth): finish it here. */
static void afp_complete_csum(struct port_afpacket *pa, struct packet *p)
{
	unsigned int start, offset;

	if (csum_locate_l4(p->data, p->len, &start, &offset) == 0 &&
	    csum_complete(p->data, p->len, start, offset) == 0)
		pa->csum_done++;
}

/* Over what the interface carries in one frame: MTU, Ethernet header, a tag. */
static bool afp_over_mtu(const struct port_afpacket *pa, uint32_t len)
{
	return len > pa->mtu + ETH_HLEN + VLAN_HLEN;
}

/**
 * afp_check_header() - the vnet header the kernel put in front of @h's frame
 * @pa:		the port
 * @h:		the frame's ring header; the vnet header ends at its tp_mac
 * @p:		the frame, copied, with any VLAN tag put back
 *
 * Checked like a guest's: a frame that does not match its header must not
 * reach another port. The kernel counts csum_start from the frame as it is
 * in the ring, without the tag we put back.
 *
 * Return: 0 (p->ofl set), -EPROTO for a bad header, -EMSGSIZE for a frame
 * without segmentation over the interface's MTU
 */
static int afp_check_header(struct port_afpacket *pa,
			    const struct tpacket3_hdr *h, struct packet *p)
{
	struct virtio_net_hdr vh = { 0 };
	const char *why;

	memcpy(&vh, (const uint8_t *)h + h->tp_mac - AFP_VNET_LEN, AFP_VNET_LEN);
	if ((h->tp_status & TP_STATUS_VLAN_VALID) &&
	    (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		vh.csum_start = cpu_to_le16(le16_to_cpu(vh.csum_start) + VLAN_HLEN);
	if (!vh.flags && vh.gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return afp_over_mtu(pa, p->len) ? -EMSGSIZE : 0;
	if (pkt_offload_from_vnet_hdr(&vh, p->data, p->len, AFP_RX_CAPS,
				      &p->ofl, &why)) {
		if (ratelimit_ok(&pa->rx_rl))
			warn("port %s: bad vnet header from %s: %s",
			     pa->port.name, pa->ifname, why);
		return -EPROTO;
	}
	if (p->ofl.gso_type == PKT_GSO_NONE)
		return afp_over_mtu(pa, p->len) ? -EMSGSIZE : 0;
	/* A receiver sees a valid IPv4 header checksum, whatever came. */
	if (p->ofl.l3_proto == PKT_L3_IPV4)
		gso_ipv4_csum(p->data + p->ofl.l3_off);
	return 0;
}

/* A packet for a frame of @len bytes; NULL (counted) if there is none. */
static struct packet *afp_packet_for(struct port_afpacket *pa, uint32_t len)
{
	struct packet *p = packet_alloc();

	if (unlikely(!p)) {
		port_drop(&pa->port, DROP_NO_PACKET, 1);
		return NULL;
	}
	if (len > PACKET_DATA_MAX) {
		if (packet_make_large(p)) {
			port_drop_packet(&pa->port, DROP_NO_PACKET, p);
			return NULL;
		}
		pa->large_rx++;
	}
	return p;
}

/* Offload state of a copied frame; false, with @why set, to drop it. */
static bool afp_rx_offloads(struct port_afpacket *pa,
			    const struct tpacket3_hdr *h, struct packet *p,
			    enum port_drop *why)
{
	int rc;

	if (!pa->vnet) {
		if (h->tp_status & TP_STATUS_CSUMNOTREADY)
			afp_complete_csum(pa, p);
		return true;
	}
	rc = afp_check_header(pa, h, p);
	*why = rc == -EMSGSIZE ? DROP_TOO_BIG : DROP_BAD_HEADER;
	return rc == 0;
}

/* One frame from the ring: into a packet on the rx link, or dropped. */
static void afp_rx_frame(struct port_afpacket *pa, const struct tpacket3_hdr *h)
{
	struct port *port = &pa->port;
	uint32_t len = h->tp_len;
	enum port_drop why;
	struct packet *p;

	if (h->tp_status & TP_STATUS_VLAN_VALID)
		len += VLAN_HLEN;
	/*
	 * Truncated into the block, or over what a frame may be: without
	 * the vnet header, a GRO/TSO super-frame over the MTU is dropped.
	 */
	if (unlikely(h->tp_snaplen < h->tp_len || len > PACKET_LARGE_MAX ||
		     (!pa->vnet && (len > PACKET_DATA_MAX || afp_over_mtu(pa, len))))) {
		port_drop(port, DROP_TOO_BIG, 1);
		return;
	}
	if (unlikely(h->tp_len < ETH_HLEN_MIN)) {
		port_drop(port, DROP_RUNT, 1);
		return;
	}
	p = afp_packet_for(pa, len);
	if (unlikely(!p))
		return;
	afp_copy_frame(h, p);
	if (unlikely(!afp_rx_offloads(pa, h, p, &why))) {
		port_drop_packet(port, why, p);
		return;
	}
	port_rx_put(port, p);
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

/*
 * Largest frame the kernel takes: MTU plus Ethernet header, plus a tag if
 * tagged. A segmentation offload frame is judged by its segments-to-be.
 */
static bool afp_fits(const struct port_afpacket *pa, const struct packet *p)
{
	const uint8_t *d = p->data;
	bool tagged = (d[12] == 0x81 && d[13] == 0x00) ||
		      (d[12] == 0x88 && d[13] == 0xa8);

	if (unlikely(p->ofl.gso_type != PKT_GSO_NONE))
		return pkt_offload_hlen(&p->ofl) - p->ofl.l3_off +
		       p->ofl.gso_size <= pa->mtu;
	return p->len <= pa->mtu + ETH_HLEN + (tagged ? VLAN_HLEN : 0);
}

/* The vnet header for @p, in the headroom right in front of the frame. */
static int afp_put_header(struct port_afpacket *pa, struct packet *p)
{
	struct virtio_net_hdr vh;
	int rc;

	if (likely(!pkt_offloaded(p))) {
		memset(p->data - AFP_VNET_LEN, 0, AFP_VNET_LEN);
		return 0;
	}
	rc = pkt_offload_to_vnet_hdr(&p->ofl, pa->port.tx_offloads, &vh);
	if (!rc)
		memcpy(p->data - AFP_VNET_LEN, &vh, AFP_VNET_LEN);
	return rc;
}

/*
 * @p ready to send: fits the interface, header written (vnet header in
 * use). Return: 0, or why @p cannot go (it is dropped at the front).
 */
static int afp_tx_prepare(struct port_afpacket *pa, struct packet *p,
			  enum port_drop *why)
{
	*why = DROP_TOO_BIG;
	if (!afp_fits(pa, p))
		return -EMSGSIZE;
	*why = DROP_BAD_HEADER;
	return pa->vnet ? afp_put_header(pa, p) : 0;
}

/* Drop the front packet for @why (errno of a failed send, or too big). */
static void afp_drop_front(struct port_afpacket *pa, enum port_drop why, int e)
{
	port_drop_packet(&pa->port, why, link_get(&pa->port.tx));
	if (why == DROP_TX_ERROR && ratelimit_ok(&pa->tx_rl))
		warn("port %s: sending on %s: %s", pa->port.name, pa->ifname,
		     strerror(e));
}

/*
 * Fill the send burst with the front frames that can go; returns how
 * many. @why: the reason the first frame that cannot go is dropped.
 */
static unsigned int afp_fill_burst(struct port_afpacket *pa, enum port_drop *why)
{
	unsigned int cnt = 0, avail = MIN(link_count(&pa->port.tx), AFP_TX_BURST);
	unsigned int hdr = pa->vnet ? AFP_VNET_LEN : 0;

	for (; cnt < avail; cnt++) {
		struct packet *p = link_peek(&pa->port.tx, cnt);

		if (afp_tx_prepare(pa, p, why))
			break;
		pa->iov[cnt].iov_base = p->data - hdr;
		pa->iov[cnt].iov_len = hdr + p->len;
		pa->msg[cnt].msg_hdr = (struct msghdr){ .msg_iov = &pa->iov[cnt],
							.msg_iovlen = 1 };
	}
	return cnt;
}

/* Send the tx link out of the interface; EAGAIN keeps the rest queued. */
static unsigned int afp_tx(struct port *port)
{
	struct port_afpacket *pa = to_afp(port);
	enum port_drop why = DROP_TOO_BIG;
	unsigned int n = 0, cnt, i;
	int sent;

	if (!port->up) {
		port_drop(port, DROP_PORT_DOWN, link_flush(&port->tx));
		return 0;
	}
	while (!link_empty(&port->tx)) {
		cnt = afp_fill_burst(pa, &why);
		if (!cnt) {
			afp_drop_front(pa, why, 0);
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
		for (i = 0; i < (unsigned int)sent; i++)
			pa->large_tx += link_peek(&port->tx, i)->len > PACKET_DATA_MAX;
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
	/* Threads: not in the control loop; senders retry every 1 ms. */
	if (!port_threaded)
		afp_watch(pa, link_empty(&port->tx) ? EPOLLIN : EPOLLIN | EPOLLOUT);
	return false;
}

static void afp_sleep_finish(struct port *port)
{
	if (!port_threaded)
		afp_watch(to_afp(port), EPOLLIN);
}

/* The socket: readable while a block is handed over (datapath threads). */
static unsigned int afp_wake_fds(struct port *port, int *fds, unsigned int max)
{
	return port_wake_fd(to_afp(port)->fd, fds, max);
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
	if (pa->vnet)
		fprintf(out, "  afpacket %s: vnet header, offloads csum tso4 tso6 "
			"ecn (and uso received), %llu frames over %d bytes "
			"received, %llu sent\n", pa->ifname,
			(unsigned long long)pa->large_rx, PACKET_DATA_MAX,
			(unsigned long long)pa->large_tx);
	else
		fprintf(out, "  afpacket %s: no offloads%s\n", pa->ifname,
			pa->no_offloads ? " (offloads=off)" : "");
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
	.wake_fds = afp_wake_fds,
};

#define AFP_USAGE	"afpacket:IFNAME[,offloads=on|off]"

/* AFP_USAGE into @pa; 0 or -EINVAL with @why set. */
static int afp_parse(struct port_afpacket *pa, const char *args, char *why,
		     size_t whylen)
{
	char buf[128], *opt, *save;

	if (snprintf(buf, sizeof(buf), "%s", args) >= (int)sizeof(buf) ||
	    !(opt = strtok_r(buf, ",", &save)) || !netdev_valid_name(opt)) {
		snprintf(why, whylen, "expected " AFP_USAGE " with an interface "
			 "name of 1-%d characters", IFNAMSIZ - 1);
		return -EINVAL;
	}
	snprintf(pa->ifname, sizeof(pa->ifname), "%s", opt);
	while ((opt = strtok_r(NULL, ",", &save))) {
		if (strcmp(opt, "offloads=on") != 0 &&
		    strcmp(opt, "offloads=off") != 0) {
			snprintf(why, whylen, "unknown option '%s' (known: "
				 "offloads=on|off)", opt);
			return -EINVAL;
		}
		pa->no_offloads = !strcmp(opt, "offloads=off");
	}
	return 0;
}

/**
 * port_afpacket_create() - an AF_PACKET port from "IFNAME[,offloads=on|off]"
 * @name:	port name
 * @args:	the part after "afpacket:": an existing interface, options
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
	struct port_afpacket *pa = calloc(1, sizeof(*pa));
	char reason[160];
	int rc;

	if (!pa)
		return -ENOMEM;
	port_init(&pa->port, name, &afp_ops);
	rc = afp_parse(pa, args, reason, sizeof(reason));
	if (rc) {
		snprintf(why, whylen, "port %s: %s", name, reason);
		free(pa);
		return rc;
	}
	pa->fd = -1;
	pa->ev.fd = -1;
	pa->ring = MAP_FAILED;
	*out = &pa->port;
	return 0;
}
