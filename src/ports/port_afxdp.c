/* SPDX-License-Identifier: MIT */
/*
 * port_afxdp.c - a port on a kernel network interface through an AF_XDP
 * socket: the fast uplink to a NIC ("afxdp:IFNAME[,queue=N]")
 *
 * libxdp (xsk.h) sets up the socket, its UMEM and four rings, and attaches
 * its default XDP program, which redirects the frames of one queue of the
 * interface into the socket. Native (driver) mode is tried first, generic
 * (SKB) mode second.
 *
 * The UMEM is split in two fixed halves. RX frames live in the fill ring
 * (the kernel's to fill) or the RX ring (ours to read); each frame is copied
 * into a pool packet and goes straight back to the fill ring, so the UMEM
 * never leaves this file. TX frames are on our free stack, in the TX ring, or
 * in flight until the completion ring returns them. A packet the socket
 * cannot take now stays queued on port->tx (like a guest without buffers).
 *
 * Built only when the Makefile finds libxdp (HAVE_AFXDP); otherwise creating
 * such a port fails with a message saying how to get it.
 */
#include <errno.h>
#include <string.h>

#include "core/log.h"
#include "ports/port.h"

#ifdef HAVE_AFXDP

#include <net/if.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <linux/if_link.h>
#include <linux/if_xdp.h>
#include <xdp/libxdp.h>
#include <xdp/xsk.h>

#include "core/evloop.h"
#include "ports/netdev.h"

#define AFXDP_FRAME_SIZE	((unsigned int)XSK_UMEM__DEFAULT_FRAME_SIZE)	/* 4096 */
#define AFXDP_FRAMES		4096u
#define AFXDP_RX_FRAMES		(AFXDP_FRAMES / 2)	/* the rest are for TX */
#define AFXDP_TX_FRAMES		(AFXDP_FRAMES - AFXDP_RX_FRAMES)
#define AFXDP_RING		2048u	/* every ring; >= the frames it carries */
#define AFXDP_KICKS_MAX		16	/* sendto()s per pass; copy mode sends 32 each */
#define AFXDP_L2_OVERHEAD	18	/* Ethernet header and one VLAN tag over the MTU */
#define MTU_CHECK_NS		(1000ull * 1000 * 1000)

enum afxdp_mode { MODE_AUTO, MODE_NATIVE, MODE_GENERIC };

struct port_afxdp {
	struct port port;
	char ifname[IF_NAMESIZE];
	unsigned int queue;
	enum afxdp_mode want;		/* what the spec asked for */
	bool native;			/* XDP program attached in driver mode */
	bool zerocopy;			/* the kernel chose zero-copy */
	void *umem_area;		/* AFXDP_FRAMES * AFXDP_FRAME_SIZE bytes */
	struct xsk_umem *umem;
	struct xsk_socket *xsk;
	struct xsk_ring_prod fill;
	struct xsk_ring_cons comp;
	struct xsk_ring_cons rxr;	/* frames the switch receives */
	struct xsk_ring_prod txr;	/* frames the switch transmits */
	int fd;
	struct ev_handler ev;
	unsigned int mtu;
	unsigned int max_frame;		/* longest frame to transmit */
	struct ev_timer mtu_timer;
	unsigned int ntx_free;
	uint64_t tx_free[AFXDP_TX_FRAMES];	/* UMEM addresses, a stack */
	uint64_t tx_kicks;
	uint64_t fill_kicks;
	char error[128];		/* why the socket stopped, if it did */
};

static struct port_afxdp *to_afxdp(struct port *port)
{
	return container_of(port, struct port_afxdp, port);
}

/* ---- the TX side: completions and kicks ---------------------------------- */

/* Take the frames the kernel has finished sending back onto the free stack. */
static void reap_completions(struct port_afxdp *pa)
{
	uint32_t idx, i, n;

	n = xsk_ring_cons__peek(&pa->comp, AFXDP_TX_FRAMES, &idx);
	for (i = 0; i < n && pa->ntx_free < AFXDP_TX_FRAMES; i++) {
		uint64_t addr = *xsk_ring_cons__comp_addr(&pa->comp, idx + i);

		pa->tx_free[pa->ntx_free++] = addr & ~(uint64_t)(AFXDP_FRAME_SIZE - 1);
	}
	if (n)
		xsk_ring_cons__release(&pa->comp, n);
}

/* Descriptors submitted on the TX ring that the kernel has not taken yet. */
static unsigned int tx_ring_pending(struct port_afxdp *pa)
{
	return AFXDP_RING - xsk_prod_nb_free(&pa->txr, AFXDP_RING);
}

/*
 * Make the kernel send what the TX ring holds. It asks for a sendto() by
 * setting need_wakeup (always, in copy mode); in copy mode one call sends
 * at most a small batch and fails with EAGAIN if more is left, so repeat.
 */
static void kick_tx(struct port_afxdp *pa)
{
	unsigned int i;

	for (i = 0; i < AFXDP_KICKS_MAX && tx_ring_pending(pa); i++) {
		if (!xsk_ring_prod__needs_wakeup(&pa->txr))
			return;
		pa->tx_kicks++;
		if (sendto(pa->fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 &&
		    errno != EAGAIN)
			return;		/* ENOBUFS, EBUSY, ENETDOWN: next pass */
	}
}

/* Reap and kick: keeps frames moving even when port->tx is empty. */
static void service_tx(struct port_afxdp *pa)
{
	if (pa->ntx_free < AFXDP_TX_FRAMES) {
		reap_completions(pa);
		kick_tx(pa);
	}
}

/* ---- datapath ------------------------------------------------------------ */

/* Copy one received frame into a packet on port->rx, or drop and count it. */
static void rx_frame(struct port_afxdp *pa, const struct xdp_desc *d)
{
	struct port *port = &pa->port;
	struct packet *p;

	if (unlikely(d->len < ETH_HLEN_MIN)) {
		port_drop(port, DROP_RUNT, 1);
		return;
	}
	if (unlikely(d->len > PACKET_DATA_MAX)) {
		port_drop(port, DROP_TOO_BIG, 1);
		return;
	}
	p = packet_alloc();
	if (unlikely(!p)) {
		port_drop(port, DROP_NO_PACKET, 1);
		return;
	}
	memcpy(p->data, xsk_umem__get_data(pa->umem_area, d->addr), d->len);
	p->len = (uint16_t)d->len;
	port_rx_put(port, p);
}

/* The fill ring ran dry at some point: the driver waits for a wake-up. */
static void kick_fill(struct port_afxdp *pa)
{
	if (xsk_ring_prod__needs_wakeup(&pa->fill)) {
		pa->fill_kicks++;
		recvfrom(pa->fd, NULL, 0, MSG_DONTWAIT, NULL, NULL);
	}
}

/**
 * afxdp_rx() - copy up to @budget frames from the RX ring into port->rx
 * @port:	the port
 * @budget:	most frames to take
 *
 * Every frame read is handed straight back to the kernel on the fill ring.
 *
 * Return: frames taken from the ring (received or dropped)
 */
static unsigned int afxdp_rx(struct port *port, unsigned int budget)
{
	struct port_afxdp *pa = to_afxdp(port);
	uint32_t idx, fidx, i, n;

	if (unlikely(!port->up))
		return 0;
	/* Threads: the TX side is the senders', under the port's lock. */
	if (!port_threaded)
		service_tx(pa);
	n = xsk_ring_cons__peek(&pa->rxr, MIN(budget, link_room(&port->rx)), &idx);
	if (!n)
		return 0;
	/* Cannot fail: the fill ring has room for every RX frame. */
	if (unlikely(xsk_ring_prod__reserve(&pa->fill, n, &fidx) != n)) {
		xsk_ring_cons__cancel(&pa->rxr, n);
		return 0;
	}
	for (i = 0; i < n; i++) {
		const struct xdp_desc *d = xsk_ring_cons__rx_desc(&pa->rxr, idx + i);

		rx_frame(pa, d);
		*xsk_ring_prod__fill_addr(&pa->fill, fidx + i) =
			d->addr & ~(uint64_t)(AFXDP_FRAME_SIZE - 1);
	}
	xsk_ring_cons__release(&pa->rxr, n);
	xsk_ring_prod__submit(&pa->fill, n);
	kick_fill(pa);
	return n;
}

/* Put @p on the TX ring; false if no frame or slot is free (keep it queued). */
static bool tx_one(struct port_afxdp *pa, struct packet *p, unsigned int *n)
{
	struct xdp_desc *d;
	uint32_t idx;
	uint64_t addr;

	if (!pa->ntx_free || xsk_ring_prod__reserve(&pa->txr, 1, &idx) != 1)
		return false;
	addr = pa->tx_free[--pa->ntx_free];
	memcpy(xsk_umem__get_data(pa->umem_area, addr), p->data, p->len);
	d = xsk_ring_prod__tx_desc(&pa->txr, idx);
	d->addr = addr;
	d->len = p->len;
	d->options = 0;
	pa->port.stats.tx_packets++;
	pa->port.stats.tx_bytes += p->len;
	(*n)++;
	return true;
}

/**
 * afxdp_tx() - copy frames from port->tx into UMEM frames and send them
 * @port:	the port
 *
 * Frames wait on the link while the socket has no free frame or TX slot;
 * the bridge drops them as link_full once the link is full.
 *
 * Return: frames submitted
 */
static unsigned int afxdp_tx(struct port *port)
{
	struct port_afxdp *pa = to_afxdp(port);
	unsigned int n = 0;

	if (unlikely(!port->up)) {
		port_drop(port, DROP_PORT_DOWN, link_flush(&port->tx));
		return 0;
	}
	reap_completions(pa);
	while (!link_empty(&port->tx)) {
		struct packet *p = link_peek(&port->tx, 0);

		if (unlikely(p->len > pa->max_frame))
			port_drop(port, DROP_TOO_BIG, 1);
		else if (!tx_one(pa, p, &n))
			break;
		link_get(&port->tx);
		packet_free(p);
	}
	if (n)
		xsk_ring_prod__submit(&pa->txr, n);
	kick_tx(pa);
	return n;
}

/* ---- sleeping ------------------------------------------------------------ */

/*
 * Registered edge-triggered for EPOLLIN (the RX ring got frames) and EPOLLOUT
 * (the kernel freed TX space): the wake-up is the point, the datapath reads
 * the rings next. An error means the interface went away.
 */
static void on_socket(struct ev_handler *h, uint32_t events)
{
	struct port_afxdp *pa = container_of(h, struct port_afxdp, ev);
	socklen_t len = sizeof(int);
	int e = 0;

	if (!(events & EPOLLERR) ||
	    getsockopt(pa->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || !e)
		return;
	snprintf(pa->error, sizeof(pa->error), "%s", strerror(e));
	warn("port %s: AF_XDP socket on %s failed: %s; port down", pa->port.name,
	     pa->ifname, pa->error);
	evloop_del(&pa->ev);
	pa->port.up = false;
}

/*
 * Returns true when frames wait in the RX ring, or on port->tx with TX frames
 * free. The socket fd is in epoll all along, so frames arriving after this
 * check still wake the loop.
 */
static bool afxdp_sleep_prepare(struct port *port)
{
	struct port_afxdp *pa = to_afxdp(port);

	if (!port->up)
		return false;
	service_tx(pa);
	if (xsk_cons_nb_avail(&pa->rxr, 1))
		return true;
	if (!link_empty(&port->tx) && pa->ntx_free)
		return true;
	kick_fill(pa);
	return false;
}

static void afxdp_sleep_finish(struct port *port)
{
	(void)port;
}

/*
 * The socket, readable while the RX ring holds frames; none once it
 * failed (an error would wake the thread for good). With datapath threads
 * frames waiting for TX room are on their senders' links (retried every
 * 1 ms), so EPOLLOUT is not asked for.
 */
static unsigned int afxdp_wake_fds(struct port *port, int *fds, unsigned int max)
{
	return port_is_up(port) ? port_wake_fd(to_afxdp(port)->fd, fds, max) : 0;
}

/* ---- setup --------------------------------------------------------------- */

/* libxdp and libbpf talk on stderr; route them to our log (-v -v shows them). */
static int lib_print(const char *fmt, va_list ap)
{
	char buf[256];
	size_t len;

	vsnprintf(buf, sizeof(buf), fmt, ap);
	len = strlen(buf);
	while (len && buf[len - 1] == '\n')
		buf[--len] = '\0';
	debug("%s", buf);
	return 0;
}

static int xdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return lib_print(fmt, ap);
}

static int bpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return lib_print(fmt, ap);
}

static void close_socket(struct port_afxdp *pa)
{
	if (pa->xsk)
		xsk_socket__delete(pa->xsk);
	if (pa->umem)
		xsk_umem__delete(pa->umem);
	pa->xsk = NULL;
	pa->umem = NULL;
	pa->fd = -1;
}

/**
 * open_socket() - UMEM, socket and XDP program in one attach mode
 * @pa:		the port
 * @xdp_flags:	XDP_FLAGS_DRV_MODE or XDP_FLAGS_SKB_MODE
 *
 * A socket binds once, before libxdp attaches the program, so a failed
 * attempt closes everything and the next one starts from a new UMEM.
 *
 * Return: 0 or -errno
 */
static int open_socket(struct port_afxdp *pa, uint32_t xdp_flags)
{
	const struct xsk_umem_config ucfg = {
		.fill_size = AFXDP_RING,
		.comp_size = AFXDP_RING,
		.frame_size = AFXDP_FRAME_SIZE,
		.frame_headroom = 0,
	};
	struct xsk_socket_config scfg = {
		.rx_size = AFXDP_RING,
		.tx_size = AFXDP_RING,
		.xdp_flags = xdp_flags,
		/* Copy mode is all generic XDP can do; native lets the kernel pick. */
		.bind_flags = XDP_USE_NEED_WAKEUP |
			      (xdp_flags & XDP_FLAGS_SKB_MODE ? XDP_COPY : 0),
	};
	int rc;

	rc = xsk_umem__create(&pa->umem, pa->umem_area,
			      (uint64_t)AFXDP_FRAMES * AFXDP_FRAME_SIZE,
			      &pa->fill, &pa->comp, &ucfg);
	if (rc) {
		pa->umem = NULL;
		return rc;
	}
	rc = xsk_socket__create(&pa->xsk, pa->ifname, pa->queue, pa->umem,
				&pa->rxr, &pa->txr, &scfg);
	if (rc) {
		pa->xsk = NULL;
		close_socket(pa);
		return rc;
	}
	pa->fd = xsk_socket__fd(pa->xsk);
	pa->native = xdp_flags & XDP_FLAGS_DRV_MODE;
	return 0;
}

/* Native mode unless the spec says generic; generic if native fails. */
static int open_any_mode(struct port_afxdp *pa)
{
	int rc = -EOPNOTSUPP;

	if (pa->want != MODE_GENERIC) {
		rc = open_socket(pa, XDP_FLAGS_DRV_MODE);
		if (rc == -ENODEV)
			return rc;
		if (rc && pa->want == MODE_AUTO)
			info("port %s: native XDP on %s failed (%s), trying generic mode",
			     pa->port.name, pa->ifname, strerror(-rc));
	}
	if (rc && pa->want != MODE_NATIVE)
		rc = open_socket(pa, XDP_FLAGS_SKB_MODE);
	return rc;
}

/* All RX frames go to the kernel on the fill ring; all TX frames are free. */
static void prime_frames(struct port_afxdp *pa)
{
	uint32_t idx = 0, i;

	xsk_ring_prod__reserve(&pa->fill, AFXDP_RX_FRAMES, &idx);
	for (i = 0; i < AFXDP_RX_FRAMES; i++)
		*xsk_ring_prod__fill_addr(&pa->fill, idx + i) =
			(uint64_t)i * AFXDP_FRAME_SIZE;
	xsk_ring_prod__submit(&pa->fill, AFXDP_RX_FRAMES);
	for (i = 0; i < AFXDP_TX_FRAMES; i++)
		pa->tx_free[i] = (uint64_t)(AFXDP_RX_FRAMES + i) * AFXDP_FRAME_SIZE;
	pa->ntx_free = AFXDP_TX_FRAMES;
}

static bool is_zerocopy(int fd)
{
	struct xdp_options opts = { 0 };
	socklen_t len = sizeof(opts);

	return getsockopt(fd, SOL_XDP, XDP_OPTIONS, &opts, &len) == 0 &&
	       (opts.flags & XDP_OPTIONS_ZEROCOPY);
}

/*
 * The kernel does not send a frame longer than the interface's MTU allows;
 * drop those here and count them. The MTU may change: look once a second.
 */
static void check_mtu(struct ev_timer *t)
{
	struct port_afxdp *pa = container_of(t, struct port_afxdp, mtu_timer);
	unsigned int mtu;

	if (netdev_get_mtu(pa->ifname, &mtu) == 0 && mtu != pa->mtu) {
		pa->mtu = mtu;
		pa->max_frame = MIN(mtu + AFXDP_L2_OVERHEAD, AFXDP_FRAME_SIZE);
	}
	evloop_timer_arm(t, check_mtu, MTU_CHECK_NS);
}

static const char *mode_name(const struct port_afxdp *pa)
{
	return pa->native ? "native" : "generic";
}

static int afxdp_start(struct port *port)
{
	struct port_afxdp *pa = to_afxdp(port);
	size_t size = (size_t)AFXDP_FRAMES * AFXDP_FRAME_SIZE;
	int rc;

	libxdp_set_print(xdp_print);
	libbpf_set_print(bpf_print);
	pa->umem_area = mmap(NULL, size, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (pa->umem_area == MAP_FAILED) {
		pa->umem_area = NULL;
		return -errno;
	}
	rc = open_any_mode(pa);
	if (rc) {
		err("port %s: cannot open an AF_XDP socket on %s queue %u: %s%s "
		    "(-v -v shows libxdp's messages)", port->name, pa->ifname,
		    pa->queue, strerror(-rc),
		    rc == -EINVAL ? " (no such queue, or XDP refused)" : "");
		return rc;
	}
	prime_frames(pa);
	check_mtu(&pa->mtu_timer);
	pa->zerocopy = is_zerocopy(pa->fd);
	/*
	 * With datapath threads the polling thread sleeps on the socket
	 * (afxdp_wake_fds()); the control loop watches only for an error.
	 */
	rc = evloop_add(&pa->ev, pa->fd, on_socket, port_threaded ? EPOLLET :
			EPOLLIN | EPOLLOUT | EPOLLET);
	if (rc) {
		close_socket(pa);
		return rc;
	}
	port->up = true;
	info("port %s: AF_XDP on %s queue %u, %s mode, %s", port->name,
	     pa->ifname, pa->queue, mode_name(pa),
	     pa->zerocopy ? "zero-copy" : "copy");
	return 0;
}

/* ---- reporting and teardown ---------------------------------------------- */

static void afxdp_show(struct port *port, FILE *out)
{
	struct port_afxdp *pa = to_afxdp(port);
	struct xdp_statistics st = { 0 };
	socklen_t len = sizeof(st);

	fprintf(out, "  afxdp %s queue %u: %s mode, %s, mtu %u, %s\n", pa->ifname,
		pa->queue, pa->xsk ? mode_name(pa) : "not bound",
		pa->zerocopy ? "zero-copy" : "copy", pa->mtu,
		pa->error[0] ? pa->error : "ok");
	fprintf(out, "  umem %u frames of %u bytes (%u rx, %u tx, %u tx free), "
		"rings rx %u tx %u fill %u completion %u\n", AFXDP_FRAMES,
		AFXDP_FRAME_SIZE, AFXDP_RX_FRAMES, AFXDP_TX_FRAMES, pa->ntx_free,
		AFXDP_RING, AFXDP_RING, AFXDP_RING, AFXDP_RING);
	if (pa->fd < 0 || getsockopt(pa->fd, SOL_XDP, XDP_STATISTICS, &st, &len))
		return;
	fprintf(out, "  kernel: rx_dropped %llu rx_ring_full %llu "
		"fill_ring_empty %llu invalid rx %llu tx %llu; "
		"tx kicks %llu, fill kicks %llu\n",
		(unsigned long long)st.rx_dropped,
		(unsigned long long)st.rx_ring_full,
		(unsigned long long)st.rx_fill_ring_empty_descs,
		(unsigned long long)st.rx_invalid_descs,
		(unsigned long long)st.tx_invalid_descs,
		(unsigned long long)pa->tx_kicks,
		(unsigned long long)pa->fill_kicks);
}

static void afxdp_destroy(struct port *port)
{
	struct port_afxdp *pa = to_afxdp(port);

	evloop_del(&pa->ev);
	evloop_timer_cancel(&pa->mtu_timer);
	close_socket(pa);
	if (pa->umem_area)
		munmap(pa->umem_area, (size_t)AFXDP_FRAMES * AFXDP_FRAME_SIZE);
	port_drop(port, DROP_PORT_DOWN, link_flush(&port->tx));
	free(pa);
}

static const struct port_ops afxdp_ops = {
	.type = "afxdp",
	.start = afxdp_start,
	.rx = afxdp_rx,
	.tx = afxdp_tx,
	.sleep_prepare = afxdp_sleep_prepare,
	.sleep_finish = afxdp_sleep_finish,
	.show = afxdp_show,
	.destroy = afxdp_destroy,
	.wake_fds = afxdp_wake_fds,
};

/* One ",option" of an afxdp spec. */
static int parse_option(struct port_afxdp *pa, const char *opt, char *why,
			size_t whylen)
{
	char *end;

	if (!strncmp(opt, "queue=", 6)) {
		unsigned long v = strtoul(opt + 6, &end, 10);

		if (*end || !opt[6] || v > 4095) {
			snprintf(why, whylen, "queue must be 0..4095");
			return -EINVAL;
		}
		pa->queue = (unsigned int)v;
	} else if (!strcmp(opt, "mode=native")) {
		pa->want = MODE_NATIVE;
	} else if (!strcmp(opt, "mode=generic")) {
		pa->want = MODE_GENERIC;
	} else if (!strcmp(opt, "mode=auto")) {
		pa->want = MODE_AUTO;
	} else {
		snprintf(why, whylen, "unknown option '%s' (known: queue=N, "
			 "mode=auto|native|generic)", opt);
		return -EINVAL;
	}
	return 0;
}

/**
 * port_afxdp_create() - an AF_XDP port from "IFNAME[,queue=N][,mode=M]"
 * @name:	port name
 * @args:	the part after "afxdp:"
 * @out:	the new port
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Only parses; the socket is opened by ops->start.
 *
 * Return: 0 or -errno
 */
int port_afxdp_create(const char *name, const char *args, struct port **out,
		      char *why, size_t whylen)
{
	struct port_afxdp *pa;
	char buf[128], *opt, *save;
	int rc = 0;

	if (snprintf(buf, sizeof(buf), "%s", args) >= (int)sizeof(buf) || !*buf ||
	    *buf == ',') {
		snprintf(why, whylen, "port %s: expected afxdp:IFNAME[,queue=N]", name);
		return -EINVAL;
	}
	pa = calloc(1, sizeof(*pa));
	if (!pa)
		return -ENOMEM;
	port_init(&pa->port, name, &afxdp_ops);
	pa->fd = pa->ev.fd = -1;
	pa->max_frame = AFXDP_FRAME_SIZE;
	opt = strtok_r(buf, ",", &save);
	if (!netdev_valid_name(opt)) {
		snprintf(why, whylen, "port %s: '%s' is not an interface name",
			 name, opt);
		rc = -EINVAL;
	}
	snprintf(pa->ifname, sizeof(pa->ifname), "%s", opt);
	while (!rc && (opt = strtok_r(NULL, ",", &save))) {
		char reason[128];

		rc = parse_option(pa, opt, reason, sizeof(reason));
		if (rc)
			snprintf(why, whylen, "port %s: %s", name, reason);
	}
	if (rc) {
		free(pa);
		return rc;
	}
	*out = &pa->port;
	return 0;
}

#else /* !HAVE_AFXDP */

/**
 * port_afxdp_create() - refuse: this binary was built without libxdp
 * @name:	port name
 * @args:	the part after "afxdp:" (unused)
 * @out:	unused
 * @why:	reason
 * @whylen:	size of @why
 *
 * Return: -EOPNOTSUPP
 */
int port_afxdp_create(const char *name, const char *args, struct port **out,
		      char *why, size_t whylen)
{
	(void)args;
	(void)out;
	snprintf(why, whylen, "port %s: vmswitch was built without AF_XDP "
		 "(install libxdp-dev libbpf-dev and rebuild)", name);
	return -EOPNOTSUPP;
}

#endif /* HAVE_AFXDP */
