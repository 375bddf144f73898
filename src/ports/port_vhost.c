/* SPDX-License-Identifier: MIT */
/*
 * port_vhost.c - a port whose far end is a guest's virtio-net device,
 * reached over a vhost-user socket (we listen, or we connect and retry)
 *
 * The guest's TX queues (odd rings) are what the switch receives; its RX
 * queues (even rings) are where the switch transmits.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/evloop.h"
#include "core/log.h"
#include "core/unixsock.h"
#include "pkt/flow.h"
#include "ports/port.h"
#include "vhost/virtio_net.h"
#include "vhost/vu_dev.h"

#define RECONNECT_NS	(1000ull * 1000 * 1000)
#define DEFAULT_QUEUE_PAIRS	4
#define MSGS_PER_EVENT	8	/* frontend messages handled per wake-up */

struct queue_stats {
	uint64_t packets;
	uint64_t bytes;
};

struct port_vhost {
	struct port port;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	bool client;
	bool no_offloads;		/* offloads=off: none offered */
	bool no_packed;			/* packed=off: split rings only */
	bool sock_bound;		/* @path is our socket file: */
	dev_t sock_dev;			/* ... this one, removed on destroy */
	ino_t sock_ino;
	mode_t mode;			/* socket file permissions */
	uid_t owner;			/* (uid_t)-1: unchanged */
	gid_t group;
	int listen_fd;
	struct ev_handler listen_ev;
	int sock;			/* the frontend connection, -1: none */
	struct ev_handler sock_ev;
	struct ev_timer retry;
	bool waiting_logged;
	struct vu_reader reader;
	struct vu_dev dev;
	uint64_t connects;
	uint64_t faults;		/* connections closed for a broken rule */
	char last_fault[160];
	struct queue_stats q[VU_MAX_VQS];
	uint32_t held;			/* rings whose completions wait for settle */
	/* The rings the datapath uses, rebuilt after every message. */
	unsigned int nrx, ntx;
	struct vu_vq *rx_vq[VU_MAX_QUEUE_PAIRS];	/* guest TX, started */
	struct vu_vq *tx_vq[VU_MAX_QUEUE_PAIRS];	/* guest RX, started, enabled */
	struct vring_chain scratch[2];		/* receiving (the polling thread) */
};

/* Sending: each thread's own, as several may send to one guest at once. */
static __thread struct vring_chain tx_scratch[2];

static struct port_vhost *to_vhost(struct port *port)
{
	return container_of(port, struct port_vhost, port);
}

static inline bool is_guest_tx(unsigned int vq_index)
{
	return vq_index & 1;
}

/* ---- connection life cycle ---------------------------------------------- */

static void try_connect(struct ev_timer *t);

/*
 * The rings to poll and to deliver to, so that a pass does not look at
 * every possible queue. The port is up when the guest can receive.
 */
static void update_rings(struct port_vhost *pv)
{
	unsigned int ntx = 0;
	size_t i;

	pv->nrx = 0;
	for (i = 0; i < pv->dev.max_queue_pairs; i++) {
		struct vu_vq *rx = &pv->dev.vq[2 * i + 1], *tx = &pv->dev.vq[2 * i];

		if (rx->started)
			pv->rx_vq[pv->nrx++] = rx;
		if (tx->started && tx->enabled)
			pv->tx_vq[ntx++] = tx;
	}
	/* Senders read it before they take a queue's lock (vhost_tx_queues()). */
	__atomic_store_n(&pv->ntx, ntx, __ATOMIC_RELAXED);
	port_set_up(&pv->port, ntx > 0);
	pv->port.tx_offloads = pv->dev.tx_offloads;
}

static void disconnect(struct port_vhost *pv)
{
	if (pv->sock < 0)
		return;
	if (pv->dev.broken) {
		pv->faults++;
		snprintf(pv->last_fault, sizeof(pv->last_fault), "%s",
			 pv->dev.broken_why);
	}
	/* Frames borrowed from this guest must not outlive its memory. */
	packet_settle();
	pv->held = 0;
	evloop_del(&pv->sock_ev);
	close(pv->sock);
	pv->sock = -1;
	vu_reader_reset(&pv->reader);
	vu_dev_reset(&pv->dev);
	update_rings(pv);
	port_set_active(&pv->port, false);
	port_drop(&pv->port, DROP_PORT_DOWN, link_flush(&pv->port.tx));
	info("port %s: frontend disconnected", pv->port.name);
	if (pv->client) {
		pv->waiting_logged = false;
		evloop_timer_arm(&pv->retry, try_connect, RECONNECT_NS);
	}
}

/*
 * A broken rule seen on the datapath closes the connection. With datapath
 * threads, others may be sending to this guest or polling its rings: the
 * control thread closes it, with every thread paused (vhost_control()).
 */
static void disconnect_from_datapath(struct port_vhost *pv)
{
	if (port_threaded)
		port_want_control(&pv->port);
	else
		disconnect(pv);
}

/*
 * The frontend's socket is readable: handle at most MSGS_PER_EVENT messages,
 * then let the datapath run. The socket stays readable, so the loop comes
 * back; a frontend that streams messages at full speed gets a share of the
 * switch's time, never all of it.
 */
static void on_socket(struct ev_handler *h, uint32_t events)
{
	struct port_vhost *pv = container_of(h, struct port_vhost, sock_ev);
	unsigned int handled;
	int rc = 1;

	for (handled = 0; handled < MSGS_PER_EVENT; handled++) {
		rc = vu_msg_read(pv->sock, &pv->reader);
		if (rc <= 0)
			break;		/* 0: the rest has not arrived yet */
		rc = vu_dev_handle(&pv->dev, &pv->reader.msg, pv->sock);
		vu_reader_reset(&pv->reader);
		update_rings(pv);
		if (rc < 0)
			break;
		rc = 1;			/* handled; more may wait */
	}
	if (rc == -EMSGSIZE)
		vu_dev_fail(&pv->dev, "message payload of %u bytes is too large",
			    pv->reader.msg.hdr.size);
	if (rc < 0 || (rc == 0 && (events & (EPOLLHUP | EPOLLERR))))
		disconnect(pv);
}

static void attach(struct port_vhost *pv, int sock)
{
	pv->sock = sock;
	pv->connects++;
	if (evloop_add(&pv->sock_ev, sock, on_socket, EPOLLIN) < 0) {
		err("port %s: cannot watch the connection", pv->port.name);
		close(sock);
		pv->sock = -1;
		return;
	}
	port_set_active(&pv->port, true);
	info("port %s: frontend connected on %s", pv->port.name, pv->path);
}

/* False once the peer has closed its end (EOF or error waiting to be read). */
static bool peer_alive(int sock)
{
	char c;
	ssize_t n = recv(sock, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

static void on_listen(struct ev_handler *h, uint32_t events)
{
	struct port_vhost *pv = container_of(h, struct port_vhost, listen_ev);
	int s = accept4(pv->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)events;
	if (s < 0)
		return;
	/* The old frontend may have gone with its hang-up not yet handled. */
	if (pv->sock >= 0 && !peer_alive(pv->sock))
		disconnect(pv);
	if (pv->sock >= 0) {
		warn("port %s: refusing a second frontend connection",
		     pv->port.name);
		close(s);
		return;
	}
	attach(pv, s);
}

static void try_connect(struct ev_timer *t)
{
	struct port_vhost *pv = container_of(t, struct port_vhost, retry);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	memcpy(a.sun_path, pv->path, sizeof(a.sun_path));
	if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0) {
		attach(pv, s);
		return;
	}
	if (!pv->waiting_logged) {
		info("port %s: waiting for %s (%s)", pv->port.name, pv->path,
		     strerror(errno));
		pv->waiting_logged = true;
	}
	if (s >= 0)
		close(s);
	evloop_timer_arm(&pv->retry, try_connect, RECONNECT_NS);
}

/*
 * Make way for our socket at @a: nothing there, or a stale socket from an
 * earlier run, which is removed. A file that is not a socket, or a socket
 * someone still listens on (another port under another spelling of the
 * path, another switch, anything), is left alone and refused.
 */
static int clear_stale_socket(const char *name, const struct sockaddr_un *a)
{
	struct stat st;

	if (lstat(a->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		err("port %s: %s exists and is not a socket: not replaced", name,
		    a->sun_path);
		return -EEXIST;
	}
	if (unixsock_answers(a)) {
		err("port %s: %s is in use: something listens on it", name,
		    a->sun_path);
		return -EADDRINUSE;
	}
	if (unlink(a->sun_path) < 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/* Bind @s to @a as the port's socket file, remembering which file it is. */
static int bind_socket(struct port_vhost *pv, int s, const struct sockaddr_un *a)
{
	struct stat st;

	if (bind(s, (const struct sockaddr *)a, sizeof(*a)) < 0 ||
	    lstat(a->sun_path, &st) < 0)
		return -errno;
	pv->sock_dev = st.st_dev;
	pv->sock_ino = st.st_ino;
	pv->sock_bound = true;
	/* Owner and mode let e.g. QEMU running as libvirt-qemu connect. */
	if (listen(s, 4) < 0 || chmod(a->sun_path, pv->mode) < 0 ||
	    chown(a->sun_path, pv->owner, pv->group) < 0)
		return -errno;
	return 0;
}

/* Remove the socket file if it is still the one we bound (never another's). */
static void unlink_own_socket(struct port_vhost *pv)
{
	struct stat st;

	if (!pv->sock_bound)
		return;
	pv->sock_bound = false;
	if (lstat(pv->path, &st) == 0 && st.st_dev == pv->sock_dev &&
	    st.st_ino == pv->sock_ino)
		unlink(pv->path);
	else
		info("port %s: %s is no longer our socket: left in place",
		     pv->port.name, pv->path);
}

static int listen_on(struct port_vhost *pv)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int s, rc;

	memcpy(a.sun_path, pv->path, sizeof(a.sun_path));
	rc = unixsock_make_parent_dir(pv->path);
	if (!rc)
		rc = clear_stale_socket(pv->port.name, &a);
	if (rc)
		return rc;
	s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	pv->listen_fd = s;	/* closed (and the file removed) by destroy */
	rc = bind_socket(pv, s, &a);
	if (!rc)
		rc = evloop_add(&pv->listen_ev, s, on_listen, EPOLLIN);
	return rc;
}

static int vhost_start(struct port *port)
{
	struct port_vhost *pv = to_vhost(port);
	int rc;

	if (pv->client) {
		try_connect(&pv->retry);
		return 0;
	}
	rc = listen_on(pv);
	if (rc)
		err("port %s: cannot listen on %s: %s", port->name, pv->path,
		    strerror(-rc));
	else
		info("port %s: listening on %s", port->name, pv->path);
	return rc;
}

/* ---- rings coming and going --------------------------------------------- */

static void on_kick(struct ev_handler *h, uint32_t events)
{
	eventfd_t v;

	(void)events;
	/* The wake-up is the point; the datapath polls the ring next. */
	if (eventfd_read(h->fd, &v) < 0 && errno != EAGAIN)
		evloop_del(h);
}

static void vq_started(struct vu_dev *dev, struct vu_vq *vq)
{
	struct port_vhost *pv = dev->owner;

	/* With datapath threads, the polling thread sleeps on it (vhost_wake_fds()). */
	if (vq->kick_fd >= 0 && !port_threaded &&
	    evloop_add(&vq->kick_ev, vq->kick_fd, on_kick, EPOLLIN) < 0)
		vu_dev_fail(dev, "cannot watch the kick fd of ring %u", vq->index);
	/*
	 * The loop is awake now (this message woke it) and polls the ring, so
	 * the guest need not kick; sleep_prepare asks for kicks again before
	 * the loop sleeps. With --poll that never happens, and a guest that
	 * kicked anyway would pay a system call for every burst.
	 */
	ring_kick_enable(&vq->ring, vq->packed, false);
	debug("port %s: %s ring %u started, size %u", pv->port.name,
	      vq->packed ? "packed" : "split", vq->index, vq->num);
}

static void vq_stopping(struct vu_dev *dev, struct vu_vq *vq)
{
	ring_publish(&vq->ring, vq->packed);
	if (!port_threaded)
		evloop_del(&vq->kick_ev);
	debug("port %s: ring %u stopped at %u", ((struct port_vhost *)dev->owner)->port.name,
	      vq->index, vq->packed ? vq->vp.last_avail : vq->vr.last_avail);
}

/* A RARP (RFC 903 request) from @mac, 60 bytes with padding. */
static void build_rarp(uint8_t *f, const uint8_t mac[6])
{
	static const uint8_t arp_hdr[8] = { 0, 1, 8, 0, 6, 4, 0, 3 };

	memset(f, 0, 60);
	memset(f, 0xff, 6);			/* broadcast */
	memcpy(f + 6, mac, 6);
	f[12] = 0x80;				/* ETH_P_RARP 0x8035 */
	f[13] = 0x35;
	memcpy(f + 14, arp_hdr, 8);		/* Ethernet, IPv4, reverse request */
	memcpy(f + 22, mac, 6);			/* sender hardware address */
	memcpy(f + 32, mac, 6);			/* target hardware address */
}

/*
 * SEND_RARP after a migration: the frame enters the switch as if the guest
 * had sent it on this port, so the MAC table moves the guest here and
 * every other port (and host) hears of it.
 */
static void vhost_send_rarp(struct vu_dev *dev, const uint8_t mac[6])
{
	struct port_vhost *pv = dev->owner;
	struct port *port = &pv->port;
	struct packet *p = port_alloc_injected(port);

	if (!p) {
		port_drop(port, DROP_NO_PACKET, 1);
		return;
	}
	build_rarp(p->data, mac);
	p->len = 60;
	port_inject_rx(port, p);
	info("port %s: announcing %02x:%02x:%02x:%02x:%02x:%02x (SEND_RARP)",
	     port->name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

static const struct vu_dev_ops vhost_dev_ops = {
	.vq_started = vq_started,
	.vq_stopping = vq_stopping,
	.send_rarp = vhost_send_rarp,
};

/* ---- datapath ----------------------------------------------------------- */

/*
 * The burst functions below are bodies over a constant `packed`, each
 * instantiated for split and packed rings (vhost/ring.h); the port picks
 * the instance once per burst from the rings' layout.
 */
#define BURST_INLINE static inline __attribute__((always_inline))

/* Interrupt the guest if it asked; a call fd that takes no write breaks the device. */
BURST_INLINE void notify(struct port_vhost *pv, struct vu_vq *vq, const bool packed)
{
	int rc = ring_notify(&vq->ring, packed);

	if (unlikely(rc))
		vu_dev_fail(&pv->dev, "ring %u: cannot signal the call fd: %s",
			    vq->index, strerror(-rc));
}

static enum port_drop frame_drop_reason(int rc)
{
	switch (rc) {
	case -EMSGSIZE:
		return DROP_TOO_BIG;
	case -EPROTO:
		return DROP_BAD_HEADER;
	case -ENOBUFS:
		return DROP_NO_PACKET;	/* no large buffer free */
	default:
		return DROP_RUNT;
	}
}

/* A frame the guest sent on @vq, copied into a packet; returns its length, 0 if dropped. */
BURST_INLINE unsigned int rx_one(struct port_vhost *pv, struct vu_vq *vq,
				const struct vring_chain *c)
{
	struct port *port = &pv->port;
	struct packet *p;
	int rc;

	if (unlikely(!vq->enabled)) {
		port_drop(port, DROP_QUEUE_DISABLED, 1);
		return 0;
	}
	p = packet_alloc();
	if (unlikely(!p)) {
		port_drop(port, DROP_NO_PACKET, 1);
		return 0;
	}
	rc = vnet_chain_to_packet(c, pv->dev.hdr_len, pv->dev.rx_offloads, p,
				  !port->policy.active_in);
	if (unlikely(rc)) {
		port_drop_packet(port, frame_drop_reason(rc), p);
		return 0;
	}
	p->in_port = port->idx;
	p->in_queue = (uint16_t)(vq->index / 2);
	link_put(&port->rx, p);
	return p->len;
}

/*
 * Count a burst once rather than every frame. A ring's counters are its
 * user's alone; the port's transmit counters are shared by the threads
 * sending through its other rings.
 */
static void count_burst(struct port_stats *ps, struct queue_stats *qs, bool rx,
			unsigned int packets, uint64_t bytes)
{
	if (rx) {
		ps->rx_packets += packets;
		ps->rx_bytes += bytes;
	} else {
		port_count_shared(&ps->tx_packets, packets);
		port_count_shared(&ps->tx_bytes, bytes);
	}
	qs->packets += packets;
	qs->bytes += bytes;
}

/* Pop the next chain of a burst into @c and start loading its first buffer. */
BURST_INLINE int rx_pop(union vring_any *r, const bool packed, struct vring_chain *c)
{
	int rc = ring_pop(r, packed, c, false);

	if (likely(!rc))
		__builtin_prefetch(c->iov[0].iov_base);
	return rc;
}

/*
 * Take up to @budget frames from one guest TX ring. Chains are popped one
 * ahead of the frame being copied, so the next buffer's cache miss overlaps
 * the current copy.
 */
BURST_INLINE unsigned int rx_ring(struct port_vhost *pv, struct vu_vq *vq,
				  unsigned int budget, const bool packed)
{
	union vring_any *r = &vq->ring;
	unsigned int n, i, got = 0, borrowed = packet_pool.nborrowed;
	int avail = ring_avail_count(r, packed), rc, next_rc;
	uint64_t bytes = 0;

	if (unlikely(avail < 0)) {
		port_drop(&pv->port, DROP_INVALID_DESC, 1);
		vu_dev_fail(&pv->dev, "ring %u: %s", vq->index, ring_fault(r, packed));
		return 0;
	}
	n = MIN((unsigned int)avail, MIN(budget, link_room(&pv->port.rx)));
	if (!n)
		return 0;
	next_rc = rx_pop(r, packed, &pv->scratch[0]);
	for (i = 0; i < n; i++) {
		struct vring_chain *c = &pv->scratch[i & 1];

		rc = next_rc;
		if (unlikely(rc == -EIO)) {
			port_drop(&pv->port, DROP_INVALID_DESC, 1);
			vu_dev_fail(&pv->dev, "ring %u: %s", vq->index, ring_fault(r, packed));
			break;
		}
		if (i + 1 < n)
			next_rc = rx_pop(r, packed, &pv->scratch[(i + 1) & 1]);
		if (unlikely(rc == -E2BIG)) {
			port_drop(&pv->port, DROP_SEGMENTS, 1);
		} else {
			unsigned int len = rx_one(pv, vq, c);

			got += len != 0;
			bytes += len;
		}
		ring_push(r, packed, c->head, 0);
	}
	count_burst(&pv->port.stats, &pv->q[vq->index], true, got, bytes);
	if (packet_pool.nborrowed != borrowed)
		pv->held |= 1u << vq->index;	/* published by vhost_settle() */
	else if (ring_publish(r, packed))
		notify(pv, vq, packed);
	return i;
}

static unsigned int rx_ring_split(struct port_vhost *pv, struct vu_vq *vq,
				  unsigned int budget)
{
	return rx_ring(pv, vq, budget, false);
}

static unsigned int rx_ring_packed(struct port_vhost *pv, struct vu_vq *vq,
				   unsigned int budget)
{
	return rx_ring(pv, vq, budget, true);
}

/* The pass is over and borrowed tails are copied: give the guest its buffers. */
static void vhost_settle(struct port *port)
{
	struct port_vhost *pv = to_vhost(port);

	while (pv->held) {
		struct vu_vq *vq = &pv->dev.vq[__builtin_ctz(pv->held)];

		pv->held &= pv->held - 1;
		if (ring_publish(&vq->ring, vq->packed))
			notify(pv, vq, vq->packed);
	}
}

static unsigned int vhost_rx(struct port *port, unsigned int budget)
{
	struct port_vhost *pv = to_vhost(port);
	unsigned int i, n = 0;

	if (pv->sock < 0)
		return 0;
	for (i = 0; i < pv->nrx && !vu_dev_broken(&pv->dev); i++)
		n += pv->rx_vq[i]->packed ? rx_ring_packed(pv, pv->rx_vq[i], budget) :
					    rx_ring_split(pv, pv->rx_vq[i], budget);
	if (unlikely(guest_mem_faults) && guest_mem_faulted(&pv->dev.mem))
		vu_dev_fail(&pv->dev, "guest memory was truncated under us (SIGBUS)");
	if (unlikely(vu_dev_broken(&pv->dev)))
		disconnect_from_datapath(pv);
	return n;
}

/*
 * Deliver one packet: 0 if it went to the guest, -ENOBUFS if the ring is out
 * of buffers (keep it queued), else it was dropped and counted.
 */
BURST_INLINE int tx_one(struct port_vhost *pv, struct vu_vq *vq, struct packet *p,
			const bool packed)
{
	struct port *port = &pv->port;
	int rc = packed ?
		vnet_packet_to_guest_packed(&vq->vp, tx_scratch, p, pv->dev.hdr_len,
					    pv->dev.mergeable, pv->dev.tx_offloads) :
		vnet_packet_to_guest(&vq->vr, tx_scratch, p, pv->dev.hdr_len,
				     pv->dev.mergeable, pv->dev.tx_offloads);

	if (likely(rc == 0) || rc == -ENOBUFS)
		return rc;
	if (rc == -EIO) {
		port_drop(port, DROP_INVALID_DESC, 1);
		vu_dev_fail(&pv->dev, "ring %u: %s", vq->index, ring_fault(&vq->ring, packed));
	} else if (rc == -EPROTO) {
		port_drop(port, DROP_BAD_HEADER, 1);	/* not prepared for us */
	} else {
		port_drop(port, DROP_NO_RX_BUFFER, 1);
	}
	return rc;
}

/*
 * Send the frames on @from through @nrings of the guest's RX rings, each
 * flow to one ring by its hash; what the rings do not take stays on @from.
 */
BURST_INLINE unsigned int tx_burst(struct port_vhost *pv, struct link *from,
				   struct vu_vq *const *ring, unsigned int nrings,
				   const bool packed)
{
	struct port *port = &pv->port;
	unsigned int i, n = 0, left = link_count(from);
	uint32_t full = 0;		/* rings out of buffers in this call */
	bool broken = vu_dev_broken(&pv->dev);
	unsigned int sent[VU_MAX_QUEUE_PAIRS];
	uint64_t bytes[VU_MAX_QUEUE_PAIRS];

	if (pv->sock < 0 || !nrings) {
		port_drop(port, DROP_PORT_DOWN, link_flush(from));
		return 0;
	}
	for (i = 0; i < nrings; i++) {
		sent[i] = 0;
		bytes[i] = 0;
	}
	/*
	 * One pass over the frames queued now. A ring out of buffers stops a
	 * single-queue guest; in a multiqueue guest it holds back only its
	 * own frames, which go behind the others in their order. tx_one has
	 * this one call site, so it and the copy are inlined here. A ring that
	 * breaks a rule stops the burst; a break another thread saw (the
	 * device's other rings) stops the next one.
	 */
	while (left-- && !broken) {
		struct packet *p = link_peek(from, 0);
		unsigned int r = nrings > 1 ? flow_hash(p) % nrings : 0;
		int rc = unlikely(full & (1u << r)) ? -ENOBUFS : tx_one(pv, ring[r], p, packed);

		if (unlikely(rc == -ENOBUFS)) {
			if (nrings == 1)
				break;
			full |= 1u << r;
			link_put(from, link_get(from));
			continue;
		}
		link_get(from);
		if (likely(rc == 0)) {
			sent[r]++;
			bytes[r] += p->len;
		}
		broken = unlikely(rc == -EIO);
		packet_free(p);
		n++;
	}
	for (i = 0; i < nrings; i++) {
		union vring_any *r = &ring[i]->ring;
		uint32_t *unusable = ring_unusable(r, packed);

		if (sent[i])
			count_burst(&port->stats, &pv->q[ring[i]->index], false,
				    sent[i], bytes[i]);
		if (unlikely(*unusable)) {
			/* Completed empty: published below even if none was sent. */
			port_drop(port, DROP_RX_BUFFER_UNUSABLE, *unusable);
			*unusable = 0;
		}
		if (ring_publish(r, packed))
			notify(pv, ring[i], packed);
	}
	if (unlikely(guest_mem_faults) && guest_mem_faulted(&pv->dev.mem))
		vu_dev_fail(&pv->dev, "guest memory was truncated under us (SIGBUS)");
	if (unlikely(vu_dev_broken(&pv->dev)))
		disconnect_from_datapath(pv);
	return n;
}

static unsigned int tx_burst_split(struct port_vhost *pv, struct link *from,
				   struct vu_vq *const *ring, unsigned int nrings)
{
	return tx_burst(pv, from, ring, nrings, false);
}

static unsigned int tx_burst_packed(struct port_vhost *pv, struct link *from,
				    struct vu_vq *const *ring, unsigned int nrings)
{
	return tx_burst(pv, from, ring, nrings, true);
}

/* Every started ring of a device has the layout its features chose. */
static unsigned int tx_rings(struct port_vhost *pv, struct link *from,
			     struct vu_vq *const *ring, unsigned int nrings)
{
	return nrings && ring[0]->packed ? tx_burst_packed(pv, from, ring, nrings) :
					   tx_burst_split(pv, from, ring, nrings);
}

/* One thread: the port's tx link, spread over every ring. */
static unsigned int vhost_tx(struct port *port)
{
	struct port_vhost *pv = to_vhost(port);

	return tx_rings(pv, &port->tx, pv->tx_vq, pv->ntx);
}

/* The guest's RX rings the datapath delivers to. */
static unsigned int vhost_tx_queues(struct port *port)
{
	return __atomic_load_n(&to_vhost(port)->ntx, __ATOMIC_RELAXED);
}

/* Datapath threads: a thread's link, over its own rings (@mask). */
_Static_assert(VU_MAX_QUEUE_PAIRS <= PORT_TXQ_MAX, "a queue mask bit per ring");

static unsigned int vhost_tx_from(struct port *port, uint32_t mask, struct link *from)
{
	struct port_vhost *pv = to_vhost(port);
	struct vu_vq *ring[VU_MAX_QUEUE_PAIRS];
	unsigned int n = 0;

	mask &= (uint32_t)((1ull << pv->ntx) - 1);
	for (; mask; mask &= mask - 1)
		ring[n++] = pv->tx_vq[__builtin_ctz(mask)];
	return tx_rings(pv, from, ring, n);
}

/* ---- sleeping ----------------------------------------------------------- */

/*
 * The rings the polling thread sleeps on. With datapath threads, only the
 * guest's TX rings: its RX rings belong to the threads sending to it, each
 * under its queue's lock, and a sender whose frames wait for buffers tries
 * again within a millisecond rather than wait for a kick. So the polling
 * thread sleeps and wakes without taking the senders' locks.
 */
static bool sleeps_on(const struct port_vhost *pv, unsigned int i)
{
	return pv->dev.vq[i].started && (is_guest_tx(i) || !port_threaded);
}

static bool vhost_sleep_prepare(struct port *port)
{
	struct port_vhost *pv = to_vhost(port);
	bool pending = false;
	unsigned int i;

	for (i = 0; i < 2 * pv->dev.max_queue_pairs; i++) {
		struct vu_vq *vq = &pv->dev.vq[i];
		int avail;

		if (!sleeps_on(pv, i))
			continue;
		if (vq->polled)
			return true;	/* no kick will come: keep polling */
		ring_kick_enable(&vq->ring, vq->packed, true);
		avail = ring_avail_count(&vq->ring, vq->packed);
		if (avail && (is_guest_tx(i) || !link_empty(&port->tx)))
			pending = true;
	}
	return pending;
}

static void vhost_sleep_finish(struct port *port)
{
	struct port_vhost *pv = to_vhost(port);
	unsigned int i;

	for (i = 0; i < 2 * pv->dev.max_queue_pairs; i++)
		if (sleeps_on(pv, i))
			ring_kick_enable(&pv->dev.vq[i].ring, pv->dev.vq[i].packed, false);
}

/* ---- datapath threads --------------------------------------------------- */

/* The kick fds of the rings the polling thread sleeps on. */
static unsigned int vhost_wake_fds(struct port *port, int *fds, unsigned int max)
{
	struct port_vhost *pv = to_vhost(port);
	unsigned int i, n = 0;

	for (i = 0; i < 2 * pv->dev.max_queue_pairs && n < max; i++)
		if (sleeps_on(pv, i) && pv->dev.vq[i].kick_fd >= 0)
			fds[n++] = pv->dev.vq[i].kick_fd;
	return n;
}

/* On the control thread, threads paused: a datapath thread saw a broken rule. */
static void vhost_control(struct port *port)
{
	struct port_vhost *pv = to_vhost(port);

	if (pv->dev.broken)
		disconnect(pv);
}

/* ---- setup and reporting ------------------------------------------------ */

static const char *state_name(const struct port_vhost *pv)
{
	if (pv->sock < 0)
		return pv->client ? "connecting" : "listening";
	return pv->port.up ? "running" : "connected";
}

static void vhost_show(struct port *port, FILE *out)
{
	struct port_vhost *pv = to_vhost(port);
	unsigned int i;

	fprintf(out, "  vhost-user %s%s: %s, %llu connections, features %#llx, "
		"protocol %#llx, header %u bytes\n", pv->path,
		pv->client ? " (client)" : "", state_name(pv),
		(unsigned long long)pv->connects,
		(unsigned long long)pv->dev.features,
		(unsigned long long)pv->dev.protocol_features, pv->dev.hdr_len);
	if (pv->faults)
		fprintf(out, "  closed %llu times for a broken rule, last: %s\n",
			(unsigned long long)pv->faults, pv->last_fault);
	if (pv->dev.log.pages || pv->dev.rarps || vu_dev_logging(&pv->dev))
		fprintf(out, "  migration: logging %s, %llu page writes logged, "
			"%llu outside the log, %llu RARPs sent\n",
			vu_dev_logging(&pv->dev) ? "on" : "off",
			(unsigned long long)pv->dev.log.pages,
			(unsigned long long)pv->dev.log.beyond,
			(unsigned long long)pv->dev.rarps);
	for (i = 0; i < 2 * pv->dev.max_queue_pairs; i++) {
		const struct vu_vq *vq = &pv->dev.vq[i];

		if (!vq->started && !pv->q[i].packets)
			continue;
		fprintf(out, "  queue %u %s: %s%s %s size %u, %llu packets %llu bytes\n",
			i / 2, is_guest_tx(i) ? "rx" : "tx",
			vq->started ? "started" : "stopped",
			vq->enabled ? " enabled" : " disabled",
			vq->packed ? "packed" : "split", vq->num,
			(unsigned long long)pv->q[i].packets,
			(unsigned long long)pv->q[i].bytes);
	}
}

static const char *vhost_state(struct port *port)
{
	return state_name(to_vhost(port));
}

static unsigned int vhost_queues(struct port *port, struct port_queue_stats *out,
				 unsigned int max)
{
	struct port_vhost *pv = to_vhost(port);
	unsigned int n = MIN(max, pv->dev.max_queue_pairs);
	size_t i;

	for (i = 0; i < n; i++) {
		/* Ring 2i+1 is the guest's TX (our rx), 2i its RX (our tx). */
		out[i].rx_packets = pv->q[2 * i + 1].packets;
		out[i].rx_bytes = pv->q[2 * i + 1].bytes;
		out[i].tx_packets = pv->q[2 * i].packets;
		out[i].tx_bytes = pv->q[2 * i].bytes;
	}
	return n;
}

/* The socket path: one port per path, whether it listens or connects. */
static const char *vhost_endpoint(struct port *port)
{
	return to_vhost(port)->path;
}

static void vhost_destroy(struct port *port)
{
	struct port_vhost *pv = to_vhost(port);

	disconnect(pv);
	evloop_timer_cancel(&pv->retry);
	if (pv->listen_fd >= 0) {
		evloop_del(&pv->listen_ev);
		close(pv->listen_fd);
		unlink_own_socket(pv);
	}
	free(pv);
}

static const struct port_ops vhost_ops = {
	.type = "vhost-user",
	.start = vhost_start,
	.rx = vhost_rx,
	.tx = vhost_tx,
	.sleep_prepare = vhost_sleep_prepare,
	.sleep_finish = vhost_sleep_finish,
	.wake_fds = vhost_wake_fds,
	.wake_eventfds = true,
	.control = vhost_control,
	.tx_queues = vhost_tx_queues,
	.tx_from = vhost_tx_from,
	.settle = vhost_settle,
	.show = vhost_show,
	.destroy = vhost_destroy,
	.state = vhost_state,
	.queues = vhost_queues,
	.endpoint = vhost_endpoint,
};

/* "owner=NAME|UID" and "group=NAME|GID" of a server socket. */
static int parse_owner(struct port_vhost *pv, const char *opt, char *why,
		       size_t whylen)
{
	bool is_owner = !strncmp(opt, "owner=", 6);
	const char *name = strchr(opt, '=') + 1;
	char *end;
	unsigned long long id;

	errno = 0;
	id = strtoull(name, &end, 10);
	if (*name && !*end) {
		/* (uid_t)-1 means "unchanged" to chown: not a user to name. */
		if (*name == '-' || errno || id >= (uid_t)-1) {
			snprintf(why, whylen, "%s id '%s' out of range",
				 is_owner ? "user" : "group", name);
			return -ERANGE;
		}
		if (is_owner)
			pv->owner = (uid_t)id;
		else
			pv->group = (gid_t)id;
		return 0;
	}
	if (is_owner) {
		struct passwd *pw = getpwnam(name);

		if (pw) {
			pv->owner = pw->pw_uid;
			return 0;
		}
	} else {
		struct group *gr = getgrnam(name);

		if (gr) {
			pv->group = gr->gr_gid;
			return 0;
		}
	}
	snprintf(why, whylen, "no such %s '%s'", is_owner ? "user" : "group", name);
	return -EINVAL;
}

/* One ",option" of a vhost-user spec. */
static int parse_option(struct port_vhost *pv, const char *opt, unsigned int *qp,
			char *why, size_t whylen)
{
	char *end;

	if (!strncmp(opt, "owner=", 6) || !strncmp(opt, "group=", 6))
		return parse_owner(pv, opt, why, whylen);
	if (!strncmp(opt, "mode=", 5)) {
		unsigned long m = strtoul(opt + 5, &end, 8);

		if (*end || !opt[5] || m > 0777) {
			snprintf(why, whylen, "mode must be octal, e.g. mode=0660");
			return -EINVAL;
		}
		pv->mode = (mode_t)m;
	} else if (!strcmp(opt, "client")) {
		pv->client = true;
	} else if (!strcmp(opt, "server")) {
		pv->client = false;
	} else if (!strcmp(opt, "offloads=on") || !strcmp(opt, "offloads=off")) {
		pv->no_offloads = !strcmp(opt, "offloads=off");
	} else if (!strcmp(opt, "packed=on") || !strcmp(opt, "packed=off")) {
		pv->no_packed = !strcmp(opt, "packed=off");
	} else if (!strncmp(opt, "queues=", 7)) {
		unsigned long v = strtoul(opt + 7, &end, 10);

		if (*end || v < 1 || v > VU_MAX_QUEUE_PAIRS) {
			snprintf(why, whylen, "queues must be 1..%d",
				 VU_MAX_QUEUE_PAIRS);
			return -EINVAL;
		}
		*qp = (unsigned int)v;
	} else {
		snprintf(why, whylen, "unknown option '%s' (known: client, "
			 "server, queues=N, offloads=on|off, packed=on|off, owner=USER, "
			 "group=GROUP, mode=OCTAL)", opt);
		return -EINVAL;
	}
	return 0;
}

/**
 * port_vhost_create() - a vhost-user port from "PATH[,client][,queues=N]"
 * @name:	port name
 * @args:	the part after "vhost-user:"
 * @out:	the new port
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Return: 0 or -errno
 */
int port_vhost_create(const char *name, const char *args, struct port **out,
		      char *why, size_t whylen)
{
	unsigned int qp = DEFAULT_QUEUE_PAIRS;
	struct port_vhost *pv;
	char buf[256], *opt, *save;
	int rc = 0;

	if (snprintf(buf, sizeof(buf), "%s", args) >= (int)sizeof(buf) || !*buf) {
		snprintf(why, whylen, "port %s: expected vhost-user:PATH[,OPTION]...",
			 name);
		return -EINVAL;
	}
	pv = calloc(1, sizeof(*pv));
	if (!pv)
		return -ENOMEM;
	port_init(&pv->port, name, &vhost_ops);
	pv->port.tx_borrowed = true;
	pv->port.active = false;	/* until a frontend connects */
	pv->mode = 0660;
	pv->owner = (uid_t)-1;
	pv->group = (gid_t)-1;
	opt = strtok_r(buf, ",", &save);
	if (!opt) {
		snprintf(why, whylen, "port %s: no socket path", name);
		rc = -EINVAL;
	} else if (strlen(opt) >= sizeof(pv->path)) {
		snprintf(why, whylen, "port %s: socket path too long", name);
		rc = -ENAMETOOLONG;
	}
	if (!rc)
		snprintf(pv->path, sizeof(pv->path), "%s", opt);
	while (!rc && (opt = strtok_r(NULL, ",", &save))) {
		char reason[160];

		rc = parse_option(pv, opt, &qp, reason, sizeof(reason));
		if (rc)
			snprintf(why, whylen, "port %s: %s", name, reason);
	}
	if (rc) {
		free(pv);
		return rc;
	}
	pv->listen_fd = pv->sock = -1;
	pv->listen_ev.fd = pv->sock_ev.fd = -1;
	/* A frontend's messages change this port only: with datapath threads,
	 * only the threads that use it stop for them (switch/threads.c). */
	pv->listen_ev.scope = pv->sock_ev.scope = &pv->port;
	vu_dev_init(&pv->dev, pv->port.name, qp, &vhost_dev_ops, pv);
	if (pv->no_offloads)
		pv->dev.offered &= ~VU_OFFLOAD_FEATURES;
	if (pv->no_packed)
		pv->dev.offered &= ~(1ull << VIRTIO_F_RING_PACKED);
	*out = &pv->port;
	return 0;
}
