/* SPDX-License-Identifier: MIT */
/*
 * csum.h - finish TCP/UDP checksums a local sender left to "hardware"
 *
 * A frame the Linux stack hands over with CHECKSUM_PARTIAL (a tap's
 * NEEDS_CSUM header, AF_PACKET's TP_STATUS_CSUMNOTREADY, typically frames
 * sent on a veth) holds only the pseudo-header sum in its L4 checksum field.
 * Nobody downstream of us will complete it: we do, in software.
 */
#ifndef VMSW_CSUM_H
#define VMSW_CSUM_H

#include <stdint.h>

int csum_complete(uint8_t *frame, unsigned int len, unsigned int start,
		  unsigned int offset);
int csum_locate_l4(const uint8_t *frame, unsigned int len, unsigned int *start,
		   unsigned int *offset);

#endif /* VMSW_CSUM_H */
