/* SPDX-License-Identifier: MIT */
/*
 * port_tap.c - a port whose far end is the host's own network stack, through
 * a tap device (what a Linux bridge with a tap for the host does)
 *
 * Frames the host sends out of the tap are what the switch receives (rx);
 * frames the switch transmits here arrive at the host as if from a NIC. The
 * tap has IFF_VNET_HDR (12 bytes) and, unless the port says offloads=off,
 * TUNSETOFFLOAD CSUM|TSO4|TSO6|TSO_ECN: the host hands over TCP segments of
 * up to 64 KiB with partial checksums, and takes them back the same way.
 * The header of every frame read is checked (pkt_offload_from_vnet_hdr())
 * before the frame enters the switch; frames written carry the header
 * pkt_offload_to_vnet_hdr() makes, all zeros for a plain frame.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "pkt/gso.h"
#include "pkt/vnet_hdr.h"
#include "ports/netdev.h"
#include "ports/port.h"

#define TAP_HDR_LEN	12	/* struct virtio_net_hdr with num_buffers */
#define TAP_MTU_MIN	68
#define TAP_MTU_MAX	(PACKET_DATA_MAX - ETH_HLEN_MIN - 4)
/* What the tap takes and gives with offloads on (TUNSETOFFLOAD). */
#define TAP_TUN_OFFLOADS	(TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN)
#define TAP_OFFLOADS		(PKT_OFL_CSUM | PKT_OFL_TSO4 | PKT_OFL_TSO6 | PKT_OFL_ECN)

struct port_tap {
	struct port port;
	char ifname[IFNAMSIZ];
	unsigned int mtu;		/* to set at start; 0: leave it */
	bool no_offloads;		/* offloads=off: TUNSETOFFLOAD 0 */
	unsigned int rx_caps;		/* PKT_OFL_* the host may ask of us */
	int fd;				/* /dev/net/tun queue, -1: closed */
	struct ev_handler ev;
	uint32_t watching;		/* epoll events asked for now */
	struct packet *spare;		/* a large buffer for the next read, or NULL */
	uint64_t tx_stalls;		/* writes refused with EAGAIN */
	uint64_t large_rx;		/* frames read over PACKET_DATA_MAX */
	uint64_t large_tx;		/* frames written over PACKET_DATA_MAX */
	/* Two: with datapath threads, rx and tx run on different threads. */
	struct ratelimit rx_rl;
	struct ratelimit tx_rl;
};

static struct port_tap *to_tap(struct port *port)
{
	return container_of(port, struct port_tap, port);
}

/* The wake-up is the point: the datapath reads the tap next. */
static void on_ready(struct ev_handler *h, uint32_t events)
{
	(void)h;
	(void)events;
}

/* Ask epoll for @events, if that is not what it watches already. */
static void tap_watch(struct port_tap *pt, uint32_t events)
{
	if (pt->watching != events && evloop_mod(&pt->ev, events) == 0)
		pt->watching = events;
}

/*
 * Offloads, as the port allows: a kernel that refuses them (EINVAL from a
 * tun without TSO_ECN, say) leaves the tap without any, which always works:
 * the kernel then segments and checksums before handing frames over.
 * Return: 0 or -errno.
 */
static int tap_set_offloads(struct port_tap *pt, int fd)
{
	struct port *port = &pt->port;

	port->tx_offloads = 0;
	pt->rx_caps = PKT_OFL_CSUM | PKT_OFL_TRUST_VALID;
	if (!pt->no_offloads) {
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)TAP_TUN_OFFLOADS) == 0) {
			port->tx_offloads = TAP_OFFLOADS;
			pt->rx_caps |= TAP_OFFLOADS;
			return 0;
		}
		warn("port %s: the kernel refused tap offloads (%s): none used",
		     port->name, strerror(errno));
	}
	return ioctl(fd, TUNSETOFFLOAD, 0ul) < 0 ? -errno : 0;
}

/* Create or attach @pt->ifname; 0 or -errno. */
static int tap_open(struct port_tap *pt)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr_len = TAP_HDR_LEN, fd, rc;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", pt->ifname);
	rc = ioctl(fd, TUNSETIFF, &ifr) < 0 ? -errno : 0;
	if (!rc && ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0)
		rc = -errno;
	if (!rc)
		rc = tap_set_offloads(pt, fd);
	if (rc) {
		close(fd);
		return rc;
	}
	snprintf(pt->ifname, sizeof(pt->ifname), "%s", ifr.ifr_name);
	pt->fd = fd;
	return 0;
}

static int tap_start(struct port *port)
{
	struct port_tap *pt = to_tap(port);
	int rc = tap_open(pt);

	if (rc) {
		err("port %s: cannot open tap %s: %s%s", port->name, pt->ifname,
		    strerror(-rc), rc == -EPERM ? " (needs CAP_NET_ADMIN)" : "");
		return rc;
	}
	/* The port's own "mtu" option (config file, ctl) sizes the tap too. */
	if (!pt->mtu)
		pt->mtu = port->policy.opt.mtu;
	if (pt->mtu && (rc = netdev_set_mtu(pt->ifname, pt->mtu)) < 0) {
		err("port %s: cannot set the MTU of %s to %u: %s", port->name,
		    pt->ifname, pt->mtu, strerror(-rc));
		return rc;
	}
	rc = netdev_set_up(pt->ifname);
	if (rc)
		warn("port %s: cannot bring %s up: %s", port->name, pt->ifname,
		     strerror(-rc));
	/* With datapath threads, the polling thread sleeps on it (tap_wake_fds()). */
	if (!port_threaded) {
		rc = evloop_add(&pt->ev, pt->fd, on_ready, EPOLLIN);
		if (rc)
			return rc;
		pt->watching = EPOLLIN;
	}
	port->up = true;
	info("port %s: tap %s", port->name, pt->ifname);
	return 0;
}

/* ---- datapath ----------------------------------------------------------- */

/*
 * Reading frames of up to 64 KiB. A read goes into the packet's own buffer
 * (up to PACKET_DATA_MAX bytes) and, past that, straight into the same
 * offset of a spare large buffer held for the next read: a small frame costs
 * nothing extra, a large one a copy of its first PACKET_DATA_MAX bytes into
 * the large buffer, which then carries the frame (the rest is already in
 * place). Without a spare (the large pool is empty) a 4-byte spill area
 * catches the overflow: tun reports the full length even when it truncates.
 */

/* A spare large buffer for the next read, if there is none and one is free. */
static void tap_take_spare(struct port_tap *pt)
{
	struct packet *q;

	if (pt->spare || !(pt->rx_caps & (PKT_OFL_TSO4 | PKT_OFL_TSO6)))
		return;
	q = packet_alloc();
	if (q && packet_make_large(q) == 0)
		pt->spare = q;
	else if (q)
		packet_free(q);
}

/* The frame of @n bytes overflowed @p into the spare: the spare carries it. */
static struct packet *tap_use_spare(struct port_tap *pt, struct packet *p)
{
	struct packet *q = pt->spare;

	memcpy(q->data - TAP_HDR_LEN, p->data - TAP_HDR_LEN,
	       TAP_HDR_LEN + PACKET_DATA_MAX);
	pt->spare = NULL;
	pt->large_rx++;
	packet_free(p);
	return q;
}

/**
 * tap_check_header() - the vnet header in front of @p's frame, checked
 * @pt:		the port, for its offloads and warnings
 * @p:		frame of p->len bytes, header in the TAP_HDR_LEN bytes before
 *
 * The kernel wrote the header, yet it is checked like a guest's: a frame
 * that does not match its header must not reach another port. Only a
 * segmentation offload makes a frame longer than PACKET_DATA_MAX.
 *
 * Return: 0 (p->ofl set), -EPROTO for a bad header, -EMSGSIZE for a frame
 * too long for what its header says
 */
static int tap_check_header(struct port_tap *pt, struct packet *p)
{
	struct virtio_net_hdr h;
	const char *why;

	memcpy(&h, p->data - TAP_HDR_LEN, TAP_HDR_LEN);
	if (!h.flags && h.gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return p->len <= PACKET_DATA_MAX ? 0 : -EMSGSIZE;
	if (pkt_offload_from_vnet_hdr(&h, p->data, p->len, pt->rx_caps,
				      &p->ofl, &why)) {
		if (ratelimit_ok(&pt->rx_rl))
			warn("port %s: bad vnet header from %s: %s",
			     pt->port.name, pt->ifname, why);
		return -EPROTO;
	}
	if (p->ofl.gso_type == PKT_GSO_NONE)
		return p->len <= PACKET_DATA_MAX ? 0 : -EMSGSIZE;
	/* A receiver sees a valid IPv4 header checksum, whatever came. */
	if (p->ofl.l3_proto == PKT_L3_IPV4)
		gso_ipv4_csum(p->data + p->ofl.l3_off);
	return 0;
}

/*
 * Read one frame into a packet (see above for frames over PACKET_DATA_MAX).
 * Return: 0 (a frame was taken, delivered or dropped), or -errno.
 */
static int tap_read_one(struct port_tap *pt)
{
	struct port *port = &pt->port;
	struct packet *p = packet_alloc();
	uint8_t spill[TAP_HDR_LEN + 4];
	struct iovec iov[2] = { { spill, sizeof(spill) } };
	size_t room = TAP_HDR_LEN + PACKET_DATA_MAX;
	ssize_t n;
	int rc;

	if (p) {
		tap_take_spare(pt);
		iov[0] = (struct iovec){ p->data - TAP_HDR_LEN, room };
		iov[1] = (struct iovec){ spill, 4 };
		if (pt->spare)
			iov[1] = (struct iovec){ pt->spare->data + PACKET_DATA_MAX,
						 PACKET_LARGE_MAX - PACKET_DATA_MAX };
	}
	/* Without a packet, the frame is read into @spill: taken and dropped. */
	n = readv(pt->fd, iov, p ? 2 : 1);
	if (n < 0) {
		if (p)
			packet_free(p);
		return -errno;
	}
	if (unlikely(!p)) {
		port_drop(port, DROP_NO_PACKET, 1);
		return 0;
	}
	if (unlikely(n > (ssize_t)room)) {
		if (!pt->spare || n > TAP_HDR_LEN + PACKET_LARGE_MAX) {
			/* No spare with offloads on: the large pool is empty. */
			port_drop_packet(port, pt->spare || !port->tx_offloads ?
					 DROP_TOO_BIG : DROP_NO_PACKET, p);
			return 0;
		}
		p = tap_use_spare(pt, p);
	}
	if (unlikely(n < TAP_HDR_LEN + ETH_HLEN_MIN)) {
		port_drop_packet(port, DROP_RUNT, p);
		return 0;
	}
	p->len = (uint32_t)(n - TAP_HDR_LEN);
	rc = tap_check_header(pt, p);
	if (unlikely(rc))
		port_drop_packet(port, rc == -EMSGSIZE ? DROP_TOO_BIG :
				 DROP_BAD_HEADER, p);
	else
		port_rx_put(port, p);
	return 0;
}

/* Take up to @budget frames the host sent out of the tap. */
static unsigned int tap_rx(struct port *port, unsigned int budget)
{
	struct port_tap *pt = to_tap(port);
	unsigned int n = 0, max = MIN(budget, link_room(&port->rx));
	int rc = 0;

	while (n < max && (rc = tap_read_one(pt)) == 0)
		n++;
	if (unlikely(rc < 0 && rc != -EAGAIN) && ratelimit_ok(&pt->rx_rl))
		warn("port %s: reading tap %s: %s", port->name, pt->ifname,
		     strerror(-rc));
	return n;
}

/*
 * The vnet header for @p, in the TAP_HDR_LEN bytes of headroom in front of
 * the frame: one write per frame. Return: 0, or -errno for a frame whose
 * offload state no header can describe (dropped).
 */
static int tap_put_header(struct port *port, struct packet *p)
{
	uint8_t *hdr = p->data - TAP_HDR_LEN;
	struct virtio_net_hdr h;
	int rc;

	if (likely(!pkt_offloaded(p))) {
		memset(hdr, 0, TAP_HDR_LEN);
		return 0;
	}
	rc = pkt_offload_to_vnet_hdr(&p->ofl, port->tx_offloads, &h);
	if (rc)
		return rc;
	h.num_buffers = 0;
	memcpy(hdr, &h, TAP_HDR_LEN);
	return 0;
}

/*
 * Write the front frame of the tx link. Return: 1 (written), 0 (dropped:
 * no header describes it), or -errno from write().
 */
static int tap_write_front(struct port_tap *pt)
{
	struct port *port = &pt->port;
	struct packet *p = link_peek(&port->tx, 0);

	if (unlikely(tap_put_header(port, p))) {
		port_drop(port, DROP_BAD_HEADER, 1);
		return 0;
	}
	if (write(pt->fd, p->data - TAP_HDR_LEN, TAP_HDR_LEN + p->len) < 0)
		return -errno;
	if (p->len > PACKET_DATA_MAX)
		pt->large_tx++;
	port->stats.tx_packets++;
	port->stats.tx_bytes += p->len;
	return 1;
}

/* Hand frames to the host; a full kernel queue keeps the rest on the link. */
static unsigned int tap_tx(struct port *port)
{
	struct port_tap *pt = to_tap(port);
	unsigned int n = 0;
	int rc;

	while (!link_empty(&port->tx)) {
		rc = tap_write_front(pt);
		if (rc == -EAGAIN) {
			pt->tx_stalls++;
			break;
		}
		if (rc < 0) {
			/* EIO: the interface is down. */
			port_drop(port, rc == -EIO ? DROP_PORT_DOWN : DROP_TX_ERROR, 1);
			if (rc != -EIO && ratelimit_ok(&pt->tx_rl))
				warn("port %s: writing tap %s: %s", port->name,
				     pt->ifname, strerror(-rc));
		}
		n += rc > 0;
		packet_free(link_get(&port->tx));
	}
	return n;
}

/* ---- sleeping, setup and reporting -------------------------------------- */

/*
 * Readable wakes us anyway (level-triggered); writable only if frames wait.
 * With datapath threads the tap is not in the control loop, and frames
 * waiting for room are on their senders' links (who retry every 1 ms).
 */
static bool tap_sleep_prepare(struct port *port)
{
	if (!port_threaded)
		tap_watch(to_tap(port), link_empty(&port->tx) ? EPOLLIN :
			  EPOLLIN | EPOLLOUT);
	return false;
}

static void tap_sleep_finish(struct port *port)
{
	if (!port_threaded)
		tap_watch(to_tap(port), EPOLLIN);
}

/* ---- datapath threads --------------------------------------------------- */

/* The tap's queue: readable while the host has frames for us. */
static unsigned int tap_wake_fds(struct port *port, int *fds, unsigned int max)
{
	return port_wake_fd(to_tap(port)->fd, fds, max);
}

/*
 * The spare large buffer goes back to the pool it came from (the polling
 * thread's): before another thread polls the tap, and when the tap goes.
 * Its thread is paused then, or is this one.
 */
static void tap_release(struct port *port)
{
	struct port_tap *pt = to_tap(port);

	if (pt->spare)
		packet_free_home(pt->spare);
	pt->spare = NULL;
}

static void tap_show(struct port *port, FILE *out)
{
	struct port_tap *pt = to_tap(port);
	char mtu[16] = "?";	/* unknown when moved to another namespace */
	unsigned int m;

	if (netdev_get_mtu(pt->ifname, &m) == 0)
		snprintf(mtu, sizeof(mtu), "%u", m);
	fprintf(out, "  tap %s: mtu %s, vnet header %d bytes, %s, %llu frames "
		"over %d bytes read, %llu written, %llu tx stalls\n", pt->ifname,
		mtu, TAP_HDR_LEN, port->tx_offloads ?
		"offloads csum tso4 tso6 ecn" : pt->no_offloads ?
		"no offloads (offloads=off)" : "no offloads",
		(unsigned long long)pt->large_rx, PACKET_DATA_MAX,
		(unsigned long long)pt->large_tx,
		(unsigned long long)pt->tx_stalls);
}

static void tap_destroy(struct port *port)
{
	struct port_tap *pt = to_tap(port);

	evloop_del(&pt->ev);
	tap_release(port);
	if (pt->fd >= 0)
		close(pt->fd);	/* a tap we created goes away with it */
	free(pt);
}

static const struct port_ops tap_ops = {
	.type = "tap",
	.start = tap_start,
	.rx = tap_rx,
	.tx = tap_tx,
	.sleep_prepare = tap_sleep_prepare,
	.sleep_finish = tap_sleep_finish,
	.show = tap_show,
	.destroy = tap_destroy,
	.wake_fds = tap_wake_fds,
	.release = tap_release,
};

#define TAP_USAGE	"tap:IFNAME[,mtu=N][,offloads=on|off]"

/* One ",option" of a tap spec; 0 or -EINVAL with @why set. */
static int tap_parse_option(struct port_tap *pt, const char *opt, char *why,
			    size_t whylen)
{
	unsigned long v;
	char *end;

	if (!strcmp(opt, "offloads=on") || !strcmp(opt, "offloads=off")) {
		pt->no_offloads = !strcmp(opt, "offloads=off");
		return 0;
	}
	if (strncmp(opt, "mtu=", 4) != 0) {
		snprintf(why, whylen, "unknown option '%s' (known: mtu=N, "
			 "offloads=on|off)", opt);
		return -EINVAL;
	}
	v = strtoul(opt + 4, &end, 10);
	if (*end || !opt[4] || v < TAP_MTU_MIN || v > TAP_MTU_MAX) {
		snprintf(why, whylen, "mtu must be %d..%d", TAP_MTU_MIN,
			 TAP_MTU_MAX);
		return -EINVAL;
	}
	pt->mtu = (unsigned int)v;
	return 0;
}

/* TAP_USAGE into @pt; 0 or -EINVAL with @why set. */
static int tap_parse(struct port_tap *pt, const char *args, char *why,
		     size_t whylen)
{
	char buf[128], *opt, *save;
	int rc = 0;

	if (snprintf(buf, sizeof(buf), "%s", args) >= (int)sizeof(buf) ||
	    !(opt = strtok_r(buf, ",", &save)) || !netdev_valid_name(opt)) {
		snprintf(why, whylen, "expected " TAP_USAGE " with an "
			 "interface name of 1-%d characters", IFNAMSIZ - 1);
		return -EINVAL;
	}
	snprintf(pt->ifname, sizeof(pt->ifname), "%s", opt);
	while (!rc && (opt = strtok_r(NULL, ",", &save)))
		rc = tap_parse_option(pt, opt, why, whylen);
	return rc;
}

/**
 * port_tap_create() - a tap port from "IFNAME[,mtu=N][,offloads=on|off]"
 * @name:	port name
 * @args:	the part after "tap:"
 * @out:	the new port
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * The tap is created (or attached, if it exists) by ->start().
 *
 * Return: 0 or -errno
 */
int port_tap_create(const char *name, const char *args, struct port **out,
		    char *why, size_t whylen)
{
	struct port_tap *pt = calloc(1, sizeof(*pt));
	char reason[160];
	int rc;

	if (!pt)
		return -ENOMEM;
	port_init(&pt->port, name, &tap_ops);
	rc = tap_parse(pt, args, reason, sizeof(reason));
	if (rc) {
		snprintf(why, whylen, "port %s: %s", name, reason);
		free(pt);
		return rc;
	}
	pt->fd = -1;
	pt->ev.fd = -1;
	*out = &pt->port;
	return 0;
}
