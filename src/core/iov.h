/* SPDX-License-Identifier: MIT */
/* iov.h - copy between flat buffers and scatter lists */
#ifndef VMSW_IOV_H
#define VMSW_IOV_H

#include <stddef.h>
#include <string.h>
#include <sys/uio.h>

/**
 * iov_to_buf() - copy @len bytes starting @off bytes into @iov out to @dst
 *
 * Return: bytes copied (less than @len if the iov is shorter)
 */
static inline size_t iov_to_buf(const struct iovec *iov, unsigned int n,
				size_t off, void *dst, size_t len)
{
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l = l - off < len - done ? l - off : len - done;
		memcpy((char *)dst + done, (char *)iov[i].iov_base + off, l);
		done += l;
		off = 0;
	}
	return done;
}

/**
 * iov_from_buf() - copy @len bytes from @src into @iov, starting @off bytes in
 *
 * Return: bytes copied (less than @len if the iov is shorter)
 */
static inline size_t iov_from_buf(const struct iovec *iov, unsigned int n,
				  size_t off, const void *src, size_t len)
{
	size_t done = 0;
	unsigned int i;

	for (i = 0; i < n && done < len; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		l = l - off < len - done ? l - off : len - done;
		memcpy((char *)iov[i].iov_base + off, (const char *)src + done, l);
		done += l;
		off = 0;
	}
	return done;
}

#endif /* VMSW_IOV_H */
