/* SPDX-License-Identifier: MIT */
/* words.h - joining command words into one line */
#ifndef VMSW_WORDS_H
#define VMSW_WORDS_H

#include <stddef.h>

int words_join(char *buf, size_t size, char *const *words, int n);

#endif /* VMSW_WORDS_H */
