/* check_listen.c -- listen address parsing, opening and describing. */

#include "evtaskd.h"
#include "check_main.h"

#include <string.h>
#include <unistd.h>

START_TEST(test_parse_v4)
{
	struct listen_addr a;
	char *err = NULL;

	ck_assert_int_eq(listen_parse("127.0.0.1:8080", &a, &err), 0);
	ck_assert_str_eq(a.host, "127.0.0.1");
	ck_assert_int_eq(a.port, 8080);
	ck_assert_int_eq(a.unix_socket, 0);
	ck_assert_int_eq(listen_parse("localhost:0", &a, &err), 0);
	ck_assert_int_eq(a.port, 0);
}
END_TEST

START_TEST(test_parse_v6)
{
	struct listen_addr a;
	char *err = NULL;

	ck_assert_int_eq(listen_parse("[::1]:65535", &a, &err), 0);
	ck_assert_str_eq(a.host, "::1");
	ck_assert_int_eq(a.port, 65535);
}
END_TEST

START_TEST(test_parse_unix)
{
	struct listen_addr a;
	char *err = NULL;

	ck_assert_int_eq(listen_parse("unix:/run/evtaskd.sock", &a, &err), 0);
	ck_assert_int_eq(a.unix_socket, 1);
	ck_assert_str_eq(a.path, "/run/evtaskd.sock");
}
END_TEST

START_TEST(test_parse_errors)
{
	static const char *bad[] = {
		"", "8080", ":8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:x",
		"127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:+1", "::1:80",
		"[::1]80", "[::1]", "[]:80", "unix:", "unix:relative/path",
		"127.0.0.1:80 ",
	};
	struct listen_addr a;
	char *err;
	size_t i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err = NULL;
		ck_assert_msg(listen_parse(bad[i], &a, &err) == -1, "'%s'",
		    bad[i]);
		ck_assert_ptr_nonnull(err);
		free(err);
	}
}
END_TEST

START_TEST(test_unix_too_long)
{
	char spec[300];
	struct listen_addr a;
	char *err = NULL;

	memset(spec, 'a', sizeof spec - 1);
	spec[sizeof spec - 1] = '\0';
	memcpy(spec, "unix:/", 6);
	ck_assert_int_eq(listen_parse(spec, &a, &err), -1);
	ck_assert_ptr_nonnull(strstr(err, "too long"));
	free(err);
}
END_TEST

START_TEST(test_open_port0)
{
	struct listen_addr a;
	char *err = NULL, url[128];
	int fd;

	ck_assert_int_eq(listen_parse("127.0.0.1:0", &a, &err), 0);
	fd = listen_open(&a, &err);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(listen_describe(fd, url, sizeof url), 0);
	ck_assert_int_eq(strncmp(url, "http://127.0.0.1:", 17), 0);
	ck_assert_str_ne(url + 17, "0");
	close(fd);
}
END_TEST

START_TEST(test_open_unix)
{
	struct listen_addr a;
	char *err = NULL, url[200], spec[128], dir[] = "/tmp/cklisten.XXXXXX";
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(spec, sizeof spec, "unix:%s/s.sock", dir);
	ck_assert_int_eq(listen_parse(spec, &a, &err), 0);
	fd = listen_open(&a, &err);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(listen_describe(fd, url, sizeof url), 0);
	ck_assert_str_eq(url, spec);
	close(fd);
	/* A stale socket file is replaced. */
	fd = listen_open(&a, &err);
	ck_assert_int_ge(fd, 0);
	close(fd);
	unlink(a.path);
	rmdir(dir);
}
END_TEST

START_TEST(test_open_error)
{
	struct listen_addr a;
	char *err = NULL;

	ck_assert_int_eq(listen_parse("192.0.2.1:1", &a, &err), 0);
	ck_assert_int_eq(listen_open(&a, &err), -1);
	ck_assert_ptr_nonnull(err);
	free(err);
}
END_TEST

static Suite *
listen_suite(void)
{
	Suite *s = suite_create("listen");
	TCase *tc = tcase_create("parse");

	tcase_add_test(tc, test_parse_v4);
	tcase_add_test(tc, test_parse_v6);
	tcase_add_test(tc, test_parse_unix);
	tcase_add_test(tc, test_parse_errors);
	tcase_add_test(tc, test_unix_too_long);
	suite_add_tcase(s, tc);
	tc = tcase_create("open");
	tcase_add_test(tc, test_open_port0);
	tcase_add_test(tc, test_open_unix);
	tcase_add_test(tc, test_open_error);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(listen_suite)
