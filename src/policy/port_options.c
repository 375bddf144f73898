/* SPDX-License-Identifier: MIT */
/* port_options.c - parse the options every port type shares */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "policy/port_options.h"

/**
 * parse_size() - "100M", "1.5G", "64K", "1000" (SI: K = 1000)
 * @s:		text
 * @out:	value
 *
 * Infinities, NaNs and values from 2^64 up have no uint64_t to become:
 * they are refused here, before any conversion.
 *
 * Return: 0, -EINVAL (not a number, negative, inf, nan) or -ERANGE
 */
int parse_size(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	double mult = 1;

	if (end == s || !isfinite(v) || v < 0)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': mult = 1e3; end++; break;
	case 'm': case 'M': mult = 1e6; end++; break;
	case 'g': case 'G': mult = 1e9; end++; break;
	}
	if (*end)
		return -EINVAL;
	v *= mult;
	if (v >= 18446744073709551616.0)	/* 2^64 */
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

/** parse_mac() - "52:54:00:00:00:01" into @mac. Return: 0 or -EINVAL */
int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char extra;
	int i;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
		   &b[4], &b[5], &extra) != 6)
		return -EINVAL;
	for (i = 0; i < 6; i++)
		mac[i] = (uint8_t)b[i];
	return 0;
}

static int parse_vlan(const char *s, uint16_t *vlan)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (*end || !*s || v < 1 || v > VLAN_MAX)
		return -EINVAL;
	*vlan = (uint16_t)v;
	return 0;
}

/* "10,20,30-40" */
static int parse_trunk(struct port_options *o, const char *s)
{
	char buf[512], *tok, *save;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return -EINVAL;
	memset(o->trunk_vlans, 0, sizeof(o->trunk_vlans));
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *dash = strchr(tok, '-');
		uint16_t lo, hi, v;

		if (dash)
			*dash = '\0';
		if (parse_vlan(tok, &lo) || parse_vlan(dash ? dash + 1 : tok, &hi) ||
		    hi < lo)
			return -EINVAL;
		for (v = lo; v <= hi; v++)
			vlan_trunk_add(o, v);
	}
	o->vlan_mode = VLAN_TRUNK;
	return 0;
}

/* "52:54:00:00:00:01,52:54:00:00:00:02" */
static int parse_macs(struct port_options *o, const char *s)
{
	char buf[PORT_MAX_MACS * 18 + 1], *tok, *save;

	if (snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
		return -EINVAL;
	o->nmacs = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (o->nmacs == PORT_MAX_MACS || parse_mac(tok, o->macs[o->nmacs]))
			return -EINVAL;
		o->nmacs++;
	}
	return 0;
}

static int copy_text(char *dst, size_t len, const char *s)
{
	return snprintf(dst, len, "%s", s) >= (int)len ? -EINVAL : 0;
}

/**
 * port_name_valid() - could @len bytes at @name name a port?
 * @name:	candidate (need not be NUL-terminated at @len)
 * @len:	its length
 *
 * Return: true for 1..PORT_NAME_MAX-1 letters, digits, '-', '_' or '.'
 */
bool port_name_valid(const char *name, size_t len)
{
	size_t i;

	if (!len || len >= PORT_NAME_MAX)
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* "mirror=NAME": a port name (the port need not exist yet). */
static int set_mirror(struct port_options *o, const char *value, bool none)
{
	if (none) {
		o->mirror[0] = '\0';
		return 0;
	}
	if (!port_name_valid(value, strlen(value)))
		return -EINVAL;
	return copy_text(o->mirror, sizeof(o->mirror), value);
}

/*
 * A number option's @value: "none" (0, no limit) or @min to @max. With
 * K, M, G for a size; the range is in the message on failure.
 */
static int parse_range(const char *key, const char *value, bool none,
		       uint64_t min, uint64_t max, uint64_t *n, char *why,
		       size_t whylen)
{
	*n = 0;
	if (none)
		return 0;
	if (!parse_size(value, n) && *n >= min && *n <= max)
		return 0;
	snprintf(why, whylen, "bad value '%s' for %s (none, or %llu to %llu)",
		 value, key, (unsigned long long)min, (unsigned long long)max);
	return -EINVAL;
}

/* Where the rate or burst @key (one of the four) is kept. */
static uint64_t *size_option(struct port_options *o, const char *key)
{
	if (!strcmp(key, "rx_rate"))
		return &o->rx_rate;
	if (!strcmp(key, "tx_rate"))
		return &o->tx_rate;
	if (!strcmp(key, "rx_burst"))
		return &o->rx_burst;
	return &o->tx_burst;
}

/*
 * mtu (PORT_MTU_MIN to PORT_MTU_MAX), rx_rate and tx_rate (8 bit/s, one
 * byte a second, to PORT_SIZE_MAX), rx_burst and tx_burst (to PORT_SIZE_MAX
 * bytes); "none" is 0 (no limit) for each.
 */
static int set_number(struct port_options *o, const char *key,
		      const char *value, bool none, char *why, size_t whylen)
{
	bool mtu = !strcmp(key, "mtu");
	bool rate = !strcmp(key, "rx_rate") || !strcmp(key, "tx_rate");
	uint64_t n;
	int rc;

	rc = parse_range(key, value, none, mtu ? PORT_MTU_MIN : rate ? 8 : 0,
			 mtu ? PORT_MTU_MAX : PORT_SIZE_MAX, &n, why, whylen);
	if (rc)
		return rc;
	if (mtu)
		o->mtu = (uint16_t)n;
	else
		*size_option(o, key) = n;
	return 0;
}

static bool is_number_option(const char *key)
{
	return !strcmp(key, "rx_rate") || !strcmp(key, "rx_burst") ||
	       !strcmp(key, "tx_rate") || !strcmp(key, "tx_burst") ||
	       !strcmp(key, "mtu");
}

/**
 * port_options_set() - set one option from text
 * @o:		options to change
 * @key:	vlan, trunk, allowed_macs, ingress_filter, egress_filter,
 *		rx_rate, rx_burst, tx_rate, tx_burst, mirror, mtu
 * @value:	text ("" or "none" clears where that makes sense)
 * @why:	reason on failure
 * @whylen:	size of @why
 *
 * Numbers are checked against their ranges before they are stored: rates
 * 8 bit/s to PORT_SIZE_MAX, bursts up to PORT_SIZE_MAX bytes, mtu
 * PORT_MTU_MIN to PORT_MTU_MAX; inf, nan and out-of-range values are
 * refused with a message that gives the range.
 *
 * Return: 0, -ENOENT for a key that is not a common option, -EINVAL
 */
int port_options_set(struct port_options *o, const char *key, const char *value,
		     char *why, size_t whylen)
{
	bool none = !*value || !strcasecmp(value, "none");
	int rc = 0;

	if (is_number_option(key))
		return set_number(o, key, value, none, why, whylen);
	if (!strcmp(key, "vlan")) {
		o->vlan_mode = none ? VLAN_NONE : VLAN_ACCESS;
		rc = none ? 0 : parse_vlan(value, &o->access_vlan);
	} else if (!strcmp(key, "trunk")) {
		o->vlan_mode = VLAN_NONE;
		rc = none ? 0 : parse_trunk(o, value);
	} else if (!strcmp(key, "allowed_macs")) {
		o->nmacs = 0;
		rc = none ? 0 : parse_macs(o, value);
	} else if (!strcmp(key, "ingress_filter")) {
		rc = copy_text(o->ingress_filter, sizeof(o->ingress_filter), none ? "" : value);
	} else if (!strcmp(key, "egress_filter")) {
		rc = copy_text(o->egress_filter, sizeof(o->egress_filter), none ? "" : value);
	} else if (!strcmp(key, "mirror")) {
		rc = set_mirror(o, value, none);
	} else {
		return -ENOENT;
	}
	if (rc)
		snprintf(why, whylen, "bad value '%s' for %s", value, key);
	return rc;
}

/** port_options_equal() - same settings? (member by member: padding differs) */
bool port_options_equal(const struct port_options *a,
			const struct port_options *b)
{
	return a->mtu == b->mtu && a->vlan_mode == b->vlan_mode &&
	       a->access_vlan == b->access_vlan &&
	       !memcmp(a->trunk_vlans, b->trunk_vlans, sizeof(a->trunk_vlans)) &&
	       a->nmacs == b->nmacs &&
	       !memcmp(a->macs, b->macs, sizeof(a->macs[0]) * a->nmacs) &&
	       !strcmp(a->ingress_filter, b->ingress_filter) &&
	       !strcmp(a->egress_filter, b->egress_filter) &&
	       a->rx_rate == b->rx_rate && a->rx_burst == b->rx_burst &&
	       a->tx_rate == b->tx_rate && a->tx_burst == b->tx_burst &&
	       !strcmp(a->mirror, b->mirror);
}
