/*
 * hmac.c -- HMAC-SHA256 in lowercase hex, as callback signatures carry it
 * (CONTRACT §9), from OpenSSL's libcrypto.
 */

#include "evtaskd.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

/* The HMAC-SHA256 of msg under the key (a string) into hex (65 bytes). */
void
hmac_sha256_hex(const char *key, const void *msg, size_t len, char *hex)
{
	static const char digits[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int n = 0, i;

	if (HMAC(EVP_sha256(), key, (int)strlen(key), msg, len, mac, &n) ==
	    NULL)
		fatalx("HMAC-SHA256 failed");
	for (i = 0; i < n; i++) {
		hex[2 * i] = digits[mac[i] >> 4];
		hex[2 * i + 1] = digits[mac[i] & 0x0f];
	}
	hex[2 * n] = '\0';
}
