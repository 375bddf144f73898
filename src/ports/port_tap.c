/* SPDX-License-Identifier: MIT */
/*
 * port_tap.c - a port whose far end is the host's own network stack, through
 * a tap device (what a Linux bridge with a tap for the host does)
 *
 * Frames the host sends out of the tap are what the switch receives (rx);
 * frames the switch transmits here arrive at the host as if from a NIC. The
 * tap has IFF_VNET_HDR with no offloads negotiated, so every frame is
 * complete; the 12-byte header is stripped on rx and written as zeros on tx.
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
#include "pkt/csum.h"
#include "pkt/vnet_hdr.h"
#include "ports/netdev.h"
#include "ports/port.h"

#define TAP_HDR_LEN	12	/* struct virtio_net_hdr with num_buffers */
#define TAP_MTU_MIN	68
#define TAP_MTU_MAX	(PACKET_DATA_MAX - ETH_HLEN_MIN - 4)

struct port_tap {
	struct port port;
	char ifname[IFNAMSIZ];
	unsigned int mtu;		/* to set at start; 0: leave it */
	int fd;				/* /dev/net/tun queue, -1: closed */
	struct ev_handler ev;
	uint32_t watching;		/* epoll events asked for now */
	uint64_t tx_stalls;		/* writes refused with EAGAIN */
	uint64_t csum_done;		/* NEEDS_CSUM frames completed here */
	struct ratelimit rl;
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

/* Create or attach @pt->ifname; 0 or -errno. */
static int tap_open(struct port_tap *pt)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR };
	int hdr_len = TAP_HDR_LEN, fd, rc;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", pt->ifname);
	/* No offloads: the kernel segments and checksums before handing over. */
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || ioctl(fd, TUNSETOFFLOAD, 0ul) < 0 ||
	    ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		rc = -errno;
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
	rc = evloop_add(&pt->ev, pt->fd, on_ready, EPOLLIN);
	if (rc)
		return rc;
	pt->watching = EPOLLIN;
	port->up = true;
	info("port %s: tap %s", port->name, pt->ifname);
	return 0;
}

/* ---- datapath ----------------------------------------------------------- */

/* Complete a checksum the header asks for; false if the frame is bad. */
static bool tap_header_ok(struct port_tap *pt, struct packet *p,
			  const uint8_t *raw)
{
	struct virtio_net_hdr h;

	memcpy(&h, raw, TAP_HDR_LEN);
	if (h.gso_type != VIRTIO_NET_HDR_GSO_NONE)
		return false;
	if (!(h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return true;
	pt->csum_done++;
	return csum_complete(p->data, p->len, le16_to_cpu(h.csum_start),
			     le16_to_cpu(h.csum_offset)) == 0;
}

/*
 * Read one frame into a packet. The second iovec catches a frame longer than
 * a packet: tun reports the full length even when it truncates.
 * Return: 0 (a frame was taken, delivered or dropped), or -errno.
 */
static int tap_read_one(struct port_tap *pt)
{
	struct port *port = &pt->port;
	struct packet *p = packet_alloc();
	uint8_t spill[TAP_HDR_LEN + 4];
	struct iovec iov[2] = { { spill, sizeof(spill) } };
	ssize_t n;

	if (p) {
		iov[0].iov_base = p->data - TAP_HDR_LEN;
		iov[0].iov_len = TAP_HDR_LEN + PACKET_DATA_MAX;
		iov[1].iov_base = spill;
		iov[1].iov_len = 4;
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
	if (unlikely(n > TAP_HDR_LEN + PACKET_DATA_MAX)) {
		port_drop_packet(port, DROP_TOO_BIG, p);
		return 0;
	}
	if (unlikely(n < TAP_HDR_LEN + ETH_HLEN_MIN)) {
		port_drop_packet(port, DROP_RUNT, p);
		return 0;
	}
	p->len = (uint16_t)(n - TAP_HDR_LEN);
	if (unlikely(!tap_header_ok(pt, p, p->data - TAP_HDR_LEN))) {
		port_drop_packet(port, DROP_BAD_HEADER, p);
		return 0;
	}
	p->in_port = port->idx;
	p->in_queue = 0;
	port->stats.rx_packets++;
	port->stats.rx_bytes += p->len;
	link_put(&port->rx, p);
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
	if (unlikely(rc < 0 && rc != -EAGAIN) && ratelimit_ok(&pt->rl))
		warn("port %s: reading tap %s: %s", port->name, pt->ifname,
		     strerror(-rc));
	return n;
}

/* Hand frames to the host; a full kernel queue keeps the rest on the link. */
static unsigned int tap_tx(struct port *port)
{
	struct port_tap *pt = to_tap(port);
	unsigned int n = 0;

	while (!link_empty(&port->tx)) {
		struct packet *p = link_peek(&port->tx, 0);
		uint8_t *hdr = p->data - TAP_HDR_LEN;

		/* The zero header goes in the headroom: one write per frame. */
		memset(hdr, 0, TAP_HDR_LEN);
		if (write(pt->fd, hdr, TAP_HDR_LEN + p->len) < 0) {
			int e = errno;

			if (e == EAGAIN) {
				pt->tx_stalls++;
				break;
			}
			/* EIO: the interface is down. */
			port_drop(port, e == EIO ? DROP_PORT_DOWN : DROP_TX_ERROR, 1);
			if (e != EIO && ratelimit_ok(&pt->rl))
				warn("port %s: writing tap %s: %s", port->name,
				     pt->ifname, strerror(e));
		} else {
			port->stats.tx_packets++;
			port->stats.tx_bytes += p->len;
			n++;
		}
		packet_free(link_get(&port->tx));
	}
	return n;
}

/* ---- sleeping, setup and reporting -------------------------------------- */

/* Readable wakes us anyway (level-triggered); writable only if frames wait. */
static bool tap_sleep_prepare(struct port *port)
{
	tap_watch(to_tap(port), link_empty(&port->tx) ? EPOLLIN : EPOLLIN | EPOLLOUT);
	return false;
}

static void tap_sleep_finish(struct port *port)
{
	tap_watch(to_tap(port), EPOLLIN);
}

static void tap_show(struct port *port, FILE *out)
{
	struct port_tap *pt = to_tap(port);
	char mtu[16] = "?";	/* unknown when moved to another namespace */
	unsigned int m;

	if (netdev_get_mtu(pt->ifname, &m) == 0)
		snprintf(mtu, sizeof(mtu), "%u", m);
	fprintf(out, "  tap %s: mtu %s, vnet header %d bytes, no offloads, "
		"%llu tx stalls, %llu checksums completed\n", pt->ifname, mtu,
		TAP_HDR_LEN, (unsigned long long)pt->tx_stalls,
		(unsigned long long)pt->csum_done);
}

static void tap_destroy(struct port *port)
{
	struct port_tap *pt = to_tap(port);

	evloop_del(&pt->ev);
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
};

/* "IFNAME[,mtu=N]" into @pt; 0 or -EINVAL with @why set. */
static int tap_parse(struct port_tap *pt, const char *args, char *why,
		     size_t whylen)
{
	char buf[128], *opt, *save, *end;

	if (snprintf(buf, sizeof(buf), "%s", args) >= (int)sizeof(buf) ||
	    !(opt = strtok_r(buf, ",", &save)) || !netdev_valid_name(opt)) {
		snprintf(why, whylen, "expected tap:IFNAME[,mtu=N] with an "
			 "interface name of 1-%d characters", IFNAMSIZ - 1);
		return -EINVAL;
	}
	snprintf(pt->ifname, sizeof(pt->ifname), "%s", opt);
	while ((opt = strtok_r(NULL, ",", &save))) {
		unsigned long v;

		if (strncmp(opt, "mtu=", 4) != 0) {
			snprintf(why, whylen, "unknown option '%s' (known: mtu=N)", opt);
			return -EINVAL;
		}
		v = strtoul(opt + 4, &end, 10);
		if (*end || !opt[4] || v < TAP_MTU_MIN || v > TAP_MTU_MAX) {
			snprintf(why, whylen, "mtu must be %d..%d", TAP_MTU_MIN,
				 TAP_MTU_MAX);
			return -EINVAL;
		}
		pt->mtu = (unsigned int)v;
	}
	return 0;
}

/**
 * port_tap_create() - a tap port from "IFNAME[,mtu=N]"
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
