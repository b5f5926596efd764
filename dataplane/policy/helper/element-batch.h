// Binary element batches of policyc-nft (format in policyc-nft.c's header): adds and deletes of
// hash set/map elements sent to the kernel as one nfnetlink batch, without libnftables.
#ifndef POLICYC_ELEMENT_BATCH_H
#define POLICYC_ELEMENT_BATCH_H
#include <stddef.h>
#include <stdint.h>

// Runs one batch. Returns 0 when the kernel committed it, else a negative errno (the kernel
// aborted the whole batch, or it could not be sent); *err is then a message ending in a newline
// ("" on success), valid until the next call. A malformed body exits the process (status 2).
int element_batch_run(const uint8_t *body, size_t len, const char **err);

#endif
