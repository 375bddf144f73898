/* SPDX-License-Identifier: MIT */
/* virtio_net.c - frames between virtqueue chains and packets */
#include <errno.h>

#include "core/copy.h"
#include "core/iov.h"
#include "pkt/gso.h"
#include "vhost/ring.h"
#include "vhost/virtio_net.h"

#define VNET_SKIP_MAX	8	/* unusable chains completed empty per frame */

/*
 * The rest of vnet_chain_to_packet(): a header asking for offloads, a
 * frame over PACKET_DATA_MAX, or one spread over several buffers. The
 * whole header is copied once and every check reads the copy.
 */
static int chain_to_packet_slow(const struct vring_chain *c,
				unsigned int hdr_len, unsigned int caps,
				struct packet *p)
{
	uint32_t frame_len = c->len - hdr_len;
	struct virtio_net_hdr h = { 0 };
	const char *why;

	if (iov_to_buf(c->iov, c->niov, 0, &h, hdr_len) != hdr_len)
		return -EINVAL;
	if (frame_len > PACKET_DATA_MAX) {
		/* Only a segmentation offload makes a frame this long. */
		if (frame_len > PACKET_LARGE_MAX || h.gso_type == VIRTIO_NET_HDR_GSO_NONE ||
		    !(caps & (PKT_OFL_TSO4 | PKT_OFL_TSO6 | PKT_OFL_USO4 | PKT_OFL_USO6)))
			return -EMSGSIZE;
		if (packet_make_large(p))
			return -ENOBUFS;
	}
	iov_to_buf(c->iov, c->niov, hdr_len, p->data, frame_len);
	p->len = frame_len;
	if (!h.flags && h.gso_type == VIRTIO_NET_HDR_GSO_NONE)
		return 0;
	if (pkt_offload_from_vnet_hdr(&h, p->data, frame_len, caps, &p->ofl, &why))
		return -EPROTO;
	/* Its segments must fit a packet: no port could take one otherwise. */
	if (p->ofl.gso_type != PKT_GSO_NONE &&
	    pkt_offload_hlen(&p->ofl) + p->ofl.gso_size > PACKET_DATA_MAX)
		return -EMSGSIZE;
	/* Whatever the sender put there, a receiver sees a valid one. */
	if (p->ofl.gso_type != PKT_GSO_NONE && p->ofl.l3_proto == PKT_L3_IPV4)
		gso_ipv4_csum(p->data + p->ofl.l3_off);
	return 0;
}

/**
 * vnet_chain_to_packet() - copy a frame the guest transmitted into @p
 * @c:		translated TX chain: virtio-net header, then the frame
 * @hdr_len:	10 or 12
 * @caps:	PKT_OFL_* the guest may ask for (pkt_offload_caps_tx())
 * @p:		empty packet, owned by the caller
 * @borrow:	a large frame in one segment may leave its tail in the
 *		guest's buffer (see packet_borrow()); the caller then holds
 *		the chain's completion until the pass ends
 *
 * A header asking for an offload the guest did not negotiate, or one that
 * does not match the frame, is the guest's error (pkt/offload.c checks
 * it). The header may share a descriptor with the frame or span several
 * (ANY_LAYOUT); the iovec walk handles both. Frames with offloads are
 * copied whole: their headers are checked and may be rewritten.
 *
 * Return: 0; -EINVAL for a chain shorter than header + Ethernet header;
 *	   -EMSGSIZE for a frame over PACKET_DATA_MAX without GSO, over
 *	   PACKET_LARGE_MAX, or with segments over PACKET_DATA_MAX; -ENOBUFS when no large buffer is free; -EPROTO
 *	   for a bad offload header
 */
int vnet_chain_to_packet(const struct vring_chain *c, unsigned int hdr_len,
			 unsigned int caps, struct packet *p, bool borrow)
{
	uint8_t h[2];		/* flags and gso_type: zero for a plain frame */
	uint32_t frame_len;

	if (c->len < hdr_len + ETH_HLEN_MIN)
		return -EINVAL;
	frame_len = c->len - hdr_len;
	if (likely(c->iov[0].iov_len >= hdr_len + frame_len)) {
		/* The common case: one segment holds it all. */
		const uint8_t *base = c->iov[0].iov_base;

		memcpy(h, base, 2);
		if (likely(!(h[0] | h[1]) && frame_len <= PACKET_DATA_MAX)) {
			if (borrow && frame_len > PACKET_BORROW_MIN &&
			    packet_can_borrow()) {
				memcpy(p->data, base + hdr_len, PACKET_HEAD);
				packet_borrow(p, base + hdr_len + PACKET_HEAD,
					      (uint16_t)(frame_len - PACKET_HEAD));
			} else {
				copy_bytes(p->data, base + hdr_len, frame_len);
			}
			p->len = frame_len;
			return 0;
		}
	}
	return chain_to_packet_slow(c, hdr_len, caps, p);
}

/* Header for a frame in @nbufs buffers: @base with the count filled in. */
static void write_header(const struct vring_chain *c, unsigned int hdr_len,
			 const struct virtio_net_hdr *base, uint16_t nbufs)
{
	struct virtio_net_hdr h = *base;

	h.num_buffers = cpu_to_le16(nbufs);
	iov_from_buf(c->iov, c->niov, 0, &h, hdr_len);
}

/* Are @n more chains available? Re-reads avail->idx only when needed. */
static inline int have_chains(union vring_any *r, const bool packed, unsigned int n)
{
	int rc;

	if (ring_avail_left(r, packed) >= n)
		return 1;
	rc = ring_avail_count(r, packed);
	if (rc < 0)
		return rc;
	return ring_avail_left(r, packed) >= n;
}

/* Copy bytes [@from, @from + @take) of header + frame into chain @c. */
static void fill_chain(const struct vring_chain *c, const struct packet *p,
		       unsigned int hdr_len, unsigned int from, unsigned int take)
{
	/* Header bytes are written last, once the buffer count is known. */
	unsigned int skip = from < hdr_len ? hdr_len - from : 0;

	if (take > skip)
		iov_from_buf(c->iov, c->niov, skip,
			     p->data + from + skip - hdr_len, take - skip);
}

/*
 * Mergeable: spread header + frame over as many chains as needed and put
 * the count in the first chain's header. @first was popped already; the
 * rest are popped into @c. Short of chains, every chain taken is given
 * back (-ENOBUFS); a later chain of zero bytes or too many segments ends
 * them all, empty (-EAGAIN: the frame may try the chains after them).
 */
static int deliver_merged(union vring_any *r, const bool packed, struct vring_chain *first,
			  struct vring_chain *c, const struct packet *p,
			  unsigned int hdr_len, const struct virtio_net_hdr *vh)
{
	unsigned int need = hdr_len + p->len, done = 0;
	uint16_t popped = 1, pushed = 0;
	struct vring_chain *cur = first;
	int rc;

	for (;;) {
		unsigned int take = MIN(cur->len, need - done);

		fill_chain(cur, p, hdr_len, done, take);
		ring_log_written(r, packed, cur, take);
		ring_push(r, packed, cur->head, take);
		pushed++;
		done += take;
		if (done == need)
			break;
		cur = c;
		rc = have_chains(r, packed, 1);
		if (rc <= 0) {
			rc = rc ? rc : -ENOBUFS;
			goto undo;
		}
		rc = ring_pop(r, packed, cur, true);
		popped++;
		if (rc == -EIO)
			return rc;
		if (rc || cur->len == 0) {
			/*
			 * No byte fits in it, now or ever: give every chain
			 * taken for this frame back empty, in order, so that
			 * it cannot hold up the ring. The frame tries again.
			 */
			ring_empty_pushed(r, packed, pushed);
			ring_push(r, packed, cur->head, 0);
			(*ring_unusable(r, packed))++;
			return -EAGAIN;
		}
	}
	write_header(first, hdr_len, vh, popped);
	ring_log_written(r, packed, first, hdr_len);
	return 0;
undo:
	ring_unpop(r, packed, popped);
	ring_unpush(r, packed, pushed);
	return rc;
}

/* The frame into one guest buffer: straight from a borrowed tail if any. */
static inline void copy_frame(uint8_t *dst, const struct packet *p)
{
	unsigned int head = packet_head_len(p);

	copy_bytes(dst, p->data, head);
	if (p->ext)
		memcpy(dst + head, p->ext, p->ext_len);
}

/* Can a frame start in @c? Not if it is shorter than the header (or,
 * without mergeable buffers, header + Ethernet header): never. */
static inline bool chain_usable(const struct vring_chain *c, unsigned int hdr_len,
				bool mergeable)
{
	return c->len >= (mergeable ? hdr_len : hdr_len + ETH_HLEN_MIN);
}

/*
 * Everything but one buffer that holds the frame: chains no frame fits in
 * (completed empty, counted in the ring's unusable count, and the frame tries the next
 * one, VNET_SKIP_MAX times at most), mergeable frames over several chains,
 * and one chain of several buffers. @c was popped with result @rc.
 */
static int deliver_slow(union vring_any *r, const bool packed, struct vring_chain scratch[2],
			struct packet *p, unsigned int hdr_len, bool mergeable,
			const struct virtio_net_hdr *vh, int rc)
{
	struct vring_chain *c = &scratch[0];
	unsigned int need = hdr_len + p->len, tries = 0;

	for (;;) {
		if (rc == -EIO)
			return rc;
		if (rc || !chain_usable(c, hdr_len, mergeable)) {
			/* Too many segments, or too short: never a frame here. */
			ring_push(r, packed, c->head, 0);
			(*ring_unusable(r, packed))++;
		} else if (mergeable) {
			packet_linearize(p);
			rc = deliver_merged(r, packed, c, &scratch[1], p, hdr_len, vh);
			if (rc != -EAGAIN)
				return rc;
		} else if (c->len >= need) {
			packet_linearize(p);
			write_header(c, hdr_len, vh, 1);
			iov_from_buf(c->iov, c->niov, hdr_len, p->data, p->len);
			ring_log_written(r, packed, c, need);
			ring_push(r, packed, c->head, need);
			return 0;
		} else {
			ring_unpop(r, packed, 1);	/* kept for a smaller frame */
			return -EMSGSIZE;
		}
		if (++tries == VNET_SKIP_MAX)
			return -ENOBUFS;	/* the next pass goes on */
		rc = have_chains(r, packed, 1);
		if (rc <= 0)
			return rc ? rc : -ENOBUFS;
		rc = ring_pop(r, packed, c, true);
	}
}

/* A frame with offload state: its header says so (pkt_offload_to_vnet_hdr()). */
static int deliver_offloaded(union vring_any *r, const bool packed,
			     struct vring_chain scratch[2],
			     struct packet *p, unsigned int hdr_len,
			     bool mergeable, unsigned int caps)
{
	struct virtio_net_hdr vh;
	int rc;

	if (pkt_offload_to_vnet_hdr(&p->ofl, caps, &vh))
		return -EPROTO;
	rc = have_chains(r, packed, 1);
	if (rc <= 0)
		return rc ? rc : -ENOBUFS;
	rc = ring_pop(r, packed, &scratch[0], true);
	return deliver_slow(r, packed, scratch, p, hdr_len, mergeable, &vh, rc);
}

/* vnet_packet_to_guest()'s body, for a split or a packed ring (vhost/ring.h). */
static inline __attribute__((always_inline)) int
to_guest(union vring_any *r, const bool packed, struct vring_chain scratch[2],
	 struct packet *p, unsigned int hdr_len, bool mergeable, unsigned int caps)
{
	static const struct virtio_net_hdr plain;
	struct vring_chain *c = &scratch[0];
	unsigned int need = hdr_len + p->len;
	int rc;

	if (unlikely(pkt_offloaded(p)))
		return deliver_offloaded(r, packed, scratch, p, hdr_len, mergeable, caps);
	rc = have_chains(r, packed, 1);
	if (unlikely(rc <= 0))
		return rc ? rc : -ENOBUFS;
	rc = ring_pop(r, packed, c, true);
	if (unlikely(rc == -EIO))
		return rc;
	if (likely(!rc && c->niov == 1 && c->len >= need)) {
		/* The common case: one buffer holds header and frame. */
		static const struct virtio_net_hdr one = { .num_buffers = LE16_CONST(1) };
		uint8_t *dst = c->iov[0].iov_base;

		if (hdr_len == 12)	/* fixed sizes: stores, not a call */
			memcpy(dst, &one, 12);
		else
			memcpy(dst, &one, 10);
		copy_frame(dst + hdr_len, p);
		ring_log_written(r, packed, c, need);
		ring_push(r, packed, c->head, need);
		return 0;
	}
	return deliver_slow(r, packed, scratch, p, hdr_len, mergeable, &plain, rc);
}

/**
 * vnet_packet_to_guest() - copy @p into the guest's receive buffers
 * @vr:		the guest's RX ring (split; vnet_packet_to_guest_packed() for packed)
 * @scratch:	two chains of working space
 * @p:		packet, still owned by the caller (a borrowed tail may be
 *		brought in)
 * @hdr_len:	10 or 12
 * @mergeable:	VIRTIO_NET_F_MRG_RXBUF negotiated
 * @caps:	PKT_OFL_* the guest accepts (pkt_offload_caps_rx()); @p asks
 *		for nothing beyond them (the port layer prepared it)
 *
 * The completion is written but not published: the caller publishes and
 * notifies once per burst.
 *
 * A chain that can hold no frame at all (shorter than the header, or
 * without mergeable buffers shorter than header + Ethernet header; a later
 * chain of a mergeable frame with zero bytes; too many segments) is
 * completed with length 0, which guests drop as a runt, and counted in
 * the ring's unusable count for the caller; the frame goes on to the next chain. Left in
 * place, such a chain would hold up every later frame to the guest.
 *
 * Return: 0; -ENOBUFS if the guest has too few buffers posted (or
 *	   VNET_SKIP_MAX unusable ones in a row); -EMSGSIZE if its buffer
 *	   cannot hold this frame (it is kept for a smaller one); -EPROTO if
 *	   @p's offloads are more than @caps; -EIO on a guest fault
 */
int vnet_packet_to_guest(struct vring *vr, struct vring_chain scratch[2],
			 struct packet *p, unsigned int hdr_len,
			 bool mergeable, unsigned int caps)
{
	return to_guest((union vring_any *)vr, false, scratch, p, hdr_len, mergeable, caps);
}

/** vnet_packet_to_guest_packed() - vnet_packet_to_guest() on a packed ring */
int vnet_packet_to_guest_packed(struct vring_packed *vr, struct vring_chain scratch[2],
				struct packet *p, unsigned int hdr_len,
				bool mergeable, unsigned int caps)
{
	return to_guest((union vring_any *)vr, true, scratch, p, hdr_len, mergeable, caps);
}
