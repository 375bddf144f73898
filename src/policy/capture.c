/* SPDX-License-Identifier: MIT */
/*
 * capture.c - write a port's frames to a pcap file (libpcap's format and
 * writer), optionally filtered and limited to a count
 */
#include <errno.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include "policy/policy.h"

/*
 * A dumper writing to @file. The file is opened here, not by
 * pcap_dump_open(), which takes "-" for the switch's own stdout (and closes
 * it when the capture stops).
 */
static pcap_dumper_t *dump_open(pcap_t *dead, const char *file, char *why,
				size_t whylen)
{
	FILE *f = fopen(file, "wbe");
	pcap_dumper_t *d;

	if (!f) {
		snprintf(why, whylen, "cannot write %s: %s", file, strerror(errno));
		return NULL;
	}
	/* On failure libpcap has closed @f (it cannot write the header). */
	d = pcap_dump_fopen(dead, f);
	if (!d)
		snprintf(why, whylen, "cannot write %s: %s", file, pcap_geterr(dead));
	return d;
}

/**
 * policy_capture_start() - start capturing a port's rx and tx into @file
 * @pol:	the port's policy; an earlier capture is stopped first
 * @file:	pcap file to create
 * @filter:	pcap-filter expression, or NULL/"" for every frame
 * @count:	stop after this many frames; 0: until stopped
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Return: 0 or -errno
 */
int policy_capture_start(struct policy *pol, const char *file,
			 const char *filter, uint64_t count, char *why,
			 size_t whylen)
{
	struct bpf_program *prog = NULL;
	pcap_dumper_t *d;
	pcap_t *dead;

	if (filter && *filter && policy_compile(filter, &prog, why, whylen))
		return -EINVAL;
	dead = pcap_open_dead(DLT_EN10MB, PACKET_LARGE_MAX);
	d = dead ? dump_open(dead, file, why, whylen) : NULL;
	if (!d) {
		if (dead)
			pcap_close(dead);
		else
			snprintf(why, whylen, "cannot write %s: out of memory", file);
		policy_free_filter(&prog);
		return -EIO;
	}
	policy_capture_stop(pol);
	pol->capture = (struct capture){ .file = d, .dead = dead, .filter = prog,
					 .remaining = count };
	policy_update_active(pol);
	return 0;
}

/** policy_capture_stop() - close the capture file, if any */
void policy_capture_stop(struct policy *pol)
{
	struct capture *c = &pol->capture;

	if (!c->file)
		return;
	pcap_dump_close(c->file);
	pcap_close(c->dead);
	policy_free_filter(&c->filter);
	memset(c, 0, sizeof(*c));
	policy_update_active(pol);
}

/** policy_capture() - write @p if it passes the capture filter */
void policy_capture(struct policy *pol, const struct packet *p)
{
	struct capture *c = &pol->capture;
	struct pcap_pkthdr h = { .caplen = p->len, .len = p->len };

	if (c->filter && !bpf_filter(c->filter->bf_insns, p->data, p->len, p->len))
		return;
	gettimeofday(&h.ts, NULL);
	pcap_dump(c->file, &h, p->data);
	c->written++;
	if (c->remaining && !--c->remaining)
		policy_capture_stop(pol);
}
