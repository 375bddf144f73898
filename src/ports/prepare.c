/* SPDX-License-Identifier: MIT */
/*
 * prepare.c - a frame made fit for the port it goes to (what OVS calls
 * send-prepare): a port that cannot take a frame's segmentation offload
 * gets it cut into MSS-sized frames, one that cannot take a partial
 * checksum gets it completed. Ports that can take both see the frame as
 * it came, with its offload state for their own header.
 */
#include <errno.h>
#include <sys/uio.h>

#include "pkt/gso.h"
#include "ports/port.h"

/* A frame cut in more pieces than a link holds is refused whole. */
#define PREPARE_SEGS_MAX	LINK_SIZE

/* Give back the first @n packets of @seg. */
static void free_segments(struct packet **seg, unsigned int n)
{
	while (n--)
		packet_free(seg[n]);
}

/* Take @n packets for the segments of one frame; false if the pool is short. */
static bool alloc_segments(struct packet **seg, struct gso_buf *out,
			   unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		seg[i] = packet_alloc();
		if (!seg[i]) {
			free_segments(seg, i);
			return false;
		}
		out[i] = (struct gso_buf){ .data = seg[i]->data, .size = PACKET_DATA_MAX };
	}
	return true;
}

/* Segments inherit what the switch knows of the frame they came from. */
static void segment_meta(struct packet *seg, const struct packet *p,
			 uint32_t len, unsigned int flags)
{
	seg->len = len;
	seg->in_port = p->in_port;
	seg->in_queue = p->in_queue;
	seg->vlan = p->vlan;
	seg->hash = p->hash;
	gso_segment_offload(&p->ofl, flags, &seg->ofl);
}

/* Send what @q's link holds now, to make room. */
static void flush(struct port *port, struct port_txq q)
{
	if (q.mask)
		port->ops->tx_from(port, q.mask, q.link);
	else
		port->ops->tx(port);
}

/* Cut @p into MSS-sized frames on @q's link; @p is consumed. */
static void segment(struct port *port, struct port_txq q, struct packet *p)
{
	unsigned int n = pkt_offload_nsegs(&p->ofl, p->len), i, flags;
	struct packet *seg[PREPARE_SEGS_MAX];
	struct gso_buf out[PREPARE_SEGS_MAX];
	struct iovec iov = { p->data, p->len };
	int rc;

	/*
	 * A burst of 64 KiB frames is 45 segments each: send what the link
	 * holds now, rather than drop a whole frame for want of room.
	 */
	if (n > link_room(q.link) && n <= PREPARE_SEGS_MAX)
		flush(port, q);
	if (n > PREPARE_SEGS_MAX || n > link_room(q.link)) {
		port_drop_packet(port, DROP_LINK_FULL, p);
		return;
	}
	if (!alloc_segments(seg, out, n)) {
		port_drop_packet(port, DROP_NO_PACKET, p);
		return;
	}
	/* A port that completes checksums itself gets them partial. */
	flags = port->tx_offloads & PKT_OFL_CSUM ? GSO_CSUM_PARTIAL : GSO_CSUM_FULL;
	rc = gso_segment(&iov, 1, p->len, &p->ofl, flags, out, n);
	if (rc != (int)n) {
		free_segments(seg, n);
		port_drop_packet(port, DROP_BAD_HEADER, p);
		return;
	}
	for (i = 0; i < n; i++) {
		segment_meta(seg[i], p, out[i].len, flags);
		link_put(q.link, seg[i]);
	}
	port_count_shared(&port->stats.gso_segmented, 1);
	packet_free(p);
}

/**
 * port_enqueue_prepared() - port_enqueue_txq() for a frame @port cannot
 * take as it is: segment it, or complete its checksum, then queue it
 * @port:	destination, up
 * @q:		the link to queue on, and the queues it goes through
 * @p:		frame with offload state beyond port->tx_offloads; consumed
 */
void port_enqueue_prepared(struct port *port, struct port_txq q, struct packet *p)
{
	unsigned int need = pkt_offload_needs(&p->ofl, port->tx_offloads);
	struct iovec iov;

	packet_linearize(p);
	if (need & PKT_NEED_SEGMENT) {
		segment(port, q, p);
		return;
	}
	iov = (struct iovec){ p->data, p->len };
	if (gso_csum_complete(&iov, 1, p->len, p->ofl.csum_start,
			      p->ofl.csum_offset)) {
		port_drop_packet(port, DROP_BAD_HEADER, p);
		return;
	}
	p->ofl.csum = PKT_CSUM_VALID;
	port_count_shared(&port->stats.csum_completed, 1);
	if (unlikely(link_full(q.link)))
		port_drop_packet(port, DROP_LINK_FULL, p);
	else
		link_put(q.link, p);
}
