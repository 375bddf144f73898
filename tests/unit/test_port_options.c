/* SPDX-License-Identifier: MIT */
/*
 * test_port_options.c - the options every port shares, as text: numbers
 * that have no uint64_t (inf, nan, 1e30) and values out of range are
 * refused with a reason, before anything is converted
 */
#include <errno.h>
#include <string.h>

#include "policy/port_options.h"
#include "unit.h"

static const char *const not_numbers[] = {
	"inf", "-inf", "INF", "infinity", "nan", "NAN", "-nan", "nan(1)",
	"1e30", "1e30K", "18446744073709551616", "0x1p64", "1e400", "-1",
	"-0.5", "", "K", "1KB", "1 ", " ", "0x", "1e",
};

/* Set @key to @value on fresh options; returns the result, @why filled. */
static int set(const char *key, const char *value, char *why, size_t whylen)
{
	struct port_options o = { 0 };

	why[0] = '\0';
	return port_options_set(&o, key, value, why, whylen);
}

TEST(sizes_refuse_inf_nan_and_overflow)
{
	uint64_t n = 12345;
	size_t i;

	for (i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++) {
		if (parse_size(not_numbers[i], &n) == 0)
			printf("  parse_size(\"%s\") accepted: %llu\n", not_numbers[i],
			       (unsigned long long)n);
		CHECK(parse_size(not_numbers[i], &n) < 0);
	}
	CHECK_EQ(n, 12345);		/* untouched on failure */
	CHECK_EQ(parse_size("1.5G", &n), 0);
	CHECK_EQ(n, 1500000000ull);
	CHECK_EQ(parse_size("1e19", &n), 0);	/* below 2^64: fine */
	CHECK(n == 10000000000000000000ull);
	CHECK_EQ(parse_size("0", &n), 0);
	CHECK_EQ(n, 0);
}

TEST(numeric_options_refuse_inf_nan_and_huge_values)
{
	static const char *const keys[] = {
		"rx_rate", "tx_rate", "rx_burst", "tx_burst", "mtu",
	};
	char why[160];
	size_t i, k;

	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		for (i = 0; i < sizeof(not_numbers) / sizeof(not_numbers[0]); i++) {
			if (!*not_numbers[i])
				continue;	/* "" is "none" */
			CHECK_EQ(set(keys[k], not_numbers[i], why, sizeof(why)), -EINVAL);
			CHECK(strstr(why, "bad value") && strstr(why, keys[k]));
		}
		CHECK_EQ(set(keys[k], "1e19", why, sizeof(why)), -EINVAL);
		CHECK_EQ(set(keys[k], "none", why, sizeof(why)), 0);
	}
}

TEST(numeric_options_give_their_range)
{
	struct port_options o = { 0 };
	char why[160];

	CHECK_EQ(set("rx_rate", "1001G", why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "8 to 1000000000000") != NULL);
	CHECK_EQ(set("tx_rate", "7", why, sizeof(why)), -EINVAL);	/* 0 bytes/s */
	CHECK_EQ(set("mtu", "9199", why, sizeof(why)), -EINVAL);
	CHECK(strstr(why, "68 to 9198") != NULL);
	CHECK_EQ(set("mtu", "67", why, sizeof(why)), -EINVAL);
	CHECK_EQ(port_options_set(&o, "rx_rate", "1000G", why, sizeof(why)), 0);
	CHECK(o.rx_rate == 1000000000000ull);
	CHECK_EQ(port_options_set(&o, "tx_burst", "1000G", why, sizeof(why)), 0);
	CHECK(o.tx_burst == 1000000000000ull);
	CHECK_EQ(port_options_set(&o, "tx_rate", "8", why, sizeof(why)), 0);
	CHECK_EQ(o.tx_rate, 8);
	CHECK_EQ(port_options_set(&o, "mtu", "9198", why, sizeof(why)), 0);
	CHECK_EQ(o.mtu, 9198);
	CHECK_EQ(port_options_set(&o, "mtu", "none", why, sizeof(why)), 0);
	CHECK_EQ(o.mtu, 0);
}

TEST(mirror_must_name_a_port)
{
	struct port_options o = { 0 };
	char why[160];

	CHECK_EQ(set("mirror", "\xff\xfe", why, sizeof(why)), -EINVAL);
	CHECK_EQ(set("mirror", "a b", why, sizeof(why)), -EINVAL);
	CHECK_EQ(set("mirror", "a\"b", why, sizeof(why)), -EINVAL);
	CHECK_EQ(set("mirror", "0123456789012345678901234567890123", why,
		     sizeof(why)), -EINVAL);
	CHECK_EQ(port_options_set(&o, "mirror", "vm-2.x_y", why, sizeof(why)), 0);
	CHECK(!strcmp(o.mirror, "vm-2.x_y"));
	CHECK_EQ(port_options_set(&o, "mirror", "none", why, sizeof(why)), 0);
	CHECK(!strcmp(o.mirror, ""));
}

UNIT_MAIN(T(sizes_refuse_inf_nan_and_overflow),
	  T(numeric_options_refuse_inf_nan_and_huge_values),
	  T(numeric_options_give_their_range), T(mirror_must_name_a_port))
