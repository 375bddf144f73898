/* SPDX-License-Identifier: MIT */
/* words.c - joining command words into one line */
#include <errno.h>
#include <string.h>

#include "core/words.h"

/**
 * words_join() - @n words into @buf, separated by single spaces
 * @buf:	destination, always terminated
 * @size:	bytes at @buf, at least 1
 * @words:	the words
 * @n:		how many
 *
 * Return: 0, or -E2BIG if they do not fit (@buf then holds those that did)
 */
int words_join(char *buf, size_t size, char *const *words, int n)
{
	size_t used = 0;
	int i;

	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		size_t len = strlen(words[i]), sep = i ? 1 : 0;

		if (used + sep + len >= size)
			return -E2BIG;
		if (sep)
			buf[used++] = ' ';
		memcpy(buf + used, words[i], len + 1);
		used += len;
	}
	return 0;
}
