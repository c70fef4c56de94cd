/*
 * profile: use / back / reset and the profiles list. What it shares with the
 * operations above it beyond synapse/profile.h.
 */
#ifndef SYNAPSE_SRC_PROFILE_H
#define SYNAPSE_SRC_PROFILE_H

#include <stdbool.h>

#include "synapse/store.h"

/**
 * Write profile @work as the global profile with pack @pack moved last
 * (keeping keys of an existing @work it does not know), only when that
 * changes it. *@created tells whether @work had no profile, *@changed
 * whether it was written. The errors of reading the global profile and of
 * writing @work.
 */
int syn__profile_regenerate_work(struct syn_store *st, const char *pack, const char *work, bool *created,
				 bool *changed);

#endif
