// Rule counters of policyc-nft (flag bit 2; format in policyc-nft.c's header): the table's rules
// dumped over raw nfnetlink, without libnftables, which fetches every set element for any
// listing (terse too).
#ifndef POLICYC_RULE_COUNTERS_H
#define POLICYC_RULE_COUNTERS_H
#include <stddef.h>
#include <stdint.h>

// Dumps the rules of table inet <body> (1..255 bytes, no NUL; anything else exits the process,
// status 2) and answers one line per rule with a counter expression (its first):
// CHAIN \t PACKETS \t BYTES \t COMMENT \n (CHAIN and COMMENT with bytes < 0x20, 0x7f and '\'
// written as \xHH; COMMENT empty when the rule has none). Returns 0 and *out = the lines ("" when
// the table has no such rule, or does not exist), else a negative errno and *err = a message
// ending in a newline. Both valid until the next call.
int rule_counters_run(const uint8_t *body, size_t len, const char **out, const char **err);

#endif
