/* check_hmac.c -- HMAC-SHA256 in hex against RFC 4231's test vectors and
 * a callback signature as a receiver computes it. */

#include "evtaskd.h"
#include "check_main.h"

#include <string.h>

/* Key, message, and the HMAC-SHA256 they must give. */
static const struct {
	const char	*key;
	const char	*msg;
	const char	*hex;
} cases[] = {
	/* RFC 4231 test case 1 */
	{ "\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b\x0b"
	    "\x0b\x0b\x0b\x0b", "Hi There",
	    "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	/* RFC 4231 test case 2 */
	{ "Jefe", "what do ya want for nothing?",
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	/* a signature: t + "." + body (python3 hmac.new(...).hexdigest()) */
	{ "s3cret", "1700000000.{\"type\":\"task.finished\"}",
	    "5d3439c0279aa1785a14791f2b0d1eed5cf84d7548c66bc50fc5809e8f1a405b" },
};

/* Each case gives its known HMAC. */
START_TEST(test_vectors)
{
	char hex[HMAC_SHA256_HEX_LEN + 1];

	hmac_sha256_hex(cases[_i].key, cases[_i].msg, strlen(cases[_i].msg),
	    hex);
	ck_assert_str_eq(hex, cases[_i].hex);
}
END_TEST

static Suite *
hmac_suite(void)
{
	Suite *s = suite_create("hmac");
	TCase *tc = tcase_create("vectors");

	tcase_add_loop_test(tc, test_vectors, 0,
	    (int)(sizeof cases / sizeof cases[0]));
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(hmac_suite)
