/*
 * check_store.c -- the store's reads as store.c's front hands them on: a
 * backend that answers later (as PostgreSQL does, from its socket) and a
 * read dropped before it answers. The backend here is a double of the
 * store_ops interface that queues each read until the test answers it;
 * SQLite's answers at once and the black-box tests drive it.
 */

#include "evtaskd.h"
#include "check_main.h"
#include "check_fixture.h"

#include <string.h>

#define FAKE_KNOWN	"01ARZ3NDEKTSV4RRFFQ69G5FAV"	/* stored */
#define FAKE_BROKEN	"01ARZ3NDEKTSV4RRFFQ69G5FAW"	/* the store fails */
#define FAKE_UNKNOWN	"01ARZ3NDEKTSV4RRFFQ69G5FAX"
#define FAKE_MAX	16

enum fake_kind { FAKE_GET, FAKE_IDEM, FAKE_LIST };

/* One read the fake backend holds until fake_answer. */
struct store_read {
	enum fake_kind		 kind;
	char			 id[ULID_LEN + 1];
	char			 key[64];
	int			 limit;
	store_got_cb		*got;
	store_idem_cb		*idem;
	store_row_cb		*row;
	store_listed_cb		*listed;
	void			*arg;
};

static struct store_read	*fake_reads[FAKE_MAX];
static size_t			 fake_nreads;
static int			 fake_drops;

/* Hold a read (the caller's arguments are copied: they may go). */
static struct store_read *
fake_hold(enum fake_kind kind, void *arg)
{
	struct store_read *rd = xcalloc(1, sizeof *rd);

	ck_assert_uint_lt(fake_nreads, FAKE_MAX);
	rd->kind = kind;
	rd->arg = arg;
	fake_reads[fake_nreads++] = rd;
	return rd;
}

static struct store_read *
fake_get(const struct ulid *id, store_got_cb *fn, void *arg)
{
	struct store_read *rd = fake_hold(FAKE_GET, arg);

	ulid_format(id, rd->id);
	rd->got = fn;
	return rd;
}

static struct store_read *
fake_find_idem(const char *key, store_idem_cb *fn, void *arg)
{
	struct store_read *rd = fake_hold(FAKE_IDEM, arg);

	snprintf(rd->key, sizeof rd->key, "%s", key);
	rd->idem = fn;
	return rd;
}

static struct store_read *
fake_list(const struct store_filter *f, store_row_cb *row,
    store_listed_cb *done, void *arg)
{
	struct store_read *rd = fake_hold(FAKE_LIST, arg);

	rd->limit = f->limit;
	rd->row = row;
	rd->listed = done;
	return rd;
}

/* Forget a held read: its callback never runs. */
static void
fake_read_drop(struct store_read *rd)
{
	size_t i;

	for (i = 0; i < fake_nreads; i++) {
		if (fake_reads[i] == rd) {
			fake_reads[i] = fake_reads[--fake_nreads];
			fake_drops++;
			free(rd);
			return;
		}
	}
	ck_abort_msg("a read dropped twice, or after it answered");
}

/* Answer a held get: FAKE_KNOWN is stored, FAKE_BROKEN fails. */
static void
fake_answer_get(struct store_read *rd)
{
	if (strcmp(rd->id, FAKE_KNOWN) == 0)
		rd->got(rd->arg, 1, xstrdup("{\"id\":\"" FAKE_KNOWN "\"}"));
	else if (strcmp(rd->id, FAKE_BROKEN) == 0)
		rd->got(rd->arg, -1, NULL);
	else
		rd->got(rd->arg, 0, NULL);
}

/* Answer a held key: "stored" is FAKE_KNOWN's, "broken" fails. */
static void
fake_answer_idem(struct store_read *rd)
{
	struct ulid id;

	ulid_parse(FAKE_KNOWN, &id);
	if (strcmp(rd->key, "stored") == 0)
		rd->idem(rd->arg, 1, &id, xstrdup("{\"body\":1}"));
	else if (strcmp(rd->key, "broken") == 0)
		rd->idem(rd->arg, -1, NULL, NULL);
	else
		rd->idem(rd->arg, 0, NULL, NULL);
}

/* Answer a held listing: three stored rows, newest first. */
static void
fake_answer_list(struct store_read *rd)
{
	static const char *const ids[] = {
		"01ARZ3NDEKTSV4RRFFQ69G5FA3", "01ARZ3NDEKTSV4RRFFQ69G5FA2",
		"01ARZ3NDEKTSV4RRFFQ69G5FA1"
	};
	int i;

	for (i = 0; i < 3 && i < rd->limit; i++)
		rd->row(ids[i], "{}", rd->arg);
	rd->listed(rd->arg, rd->limit < 3);
}

/* The backend's socket is readable at last: every held read answers. */
static void
fake_answer(void)
{
	struct store_read *rd;

	while (fake_nreads > 0) {
		rd = fake_reads[0];
		fake_reads[0] = fake_reads[--fake_nreads];
		if (rd->kind == FAKE_GET)
			fake_answer_get(rd);
		else if (rd->kind == FAKE_IDEM)
			fake_answer_idem(rd);
		else
			fake_answer_list(rd);
		free(rd);
	}
}

static int
fake_open(struct event_base *b, const char *path, char **err)
{
	return 0;
}

static void
fake_close(void)
{
}

/* A batch is stored at once (the tests change nothing). */
static void
fake_submit(struct store_batch *b)
{
	store_done(b);
}

static void
fake_wait(void)
{
}

static const struct store_ops fake_later = {
	.name = "fake-later",
	.open = fake_open,
	.close = fake_close,
	.submit = fake_submit,
	.wait = fake_wait,
	.get = fake_get,
	.find_idem = fake_find_idem,
	.list = fake_list,
	.read_drop = fake_read_drop,
};

static void
fake_done_cb(uint64_t seq, int rc, struct task *const *lost, size_t n,
    void *arg)
{
}

/* What one read's callback heard. */
struct heard {
	int		 calls;
	int		 rc;
	char		*text;		/* a document or a body */
	char		 id[ULID_LEN + 1];
	int		 rows;
};

static void
heard_got_cb(void *arg, int rc, char *doc)
{
	struct heard *h = arg;

	h->calls++;
	h->rc = rc;
	h->text = doc;
}

static void
heard_idem_cb(void *arg, int rc, const struct ulid *id, char *body)
{
	struct heard *h = arg;

	h->calls++;
	h->rc = rc;
	h->text = body;
	if (id != NULL)
		ulid_format(id, h->id);
}

static int
heard_row_cb(const char *id, const char *doc, void *arg)
{
	struct heard *h = arg;

	ck_assert_int_eq(h->calls, 0);	/* rows come before the end */
	h->rows++;
	snprintf(h->id, sizeof h->id, "%s", id);
	return 0;
}

static void
heard_listed_cb(void *arg, int rc)
{
	struct heard *h = arg;

	h->calls++;
	h->rc = rc;
}

static void
store_setup(void)
{
	char *err = NULL;

	setup();
	fake_nreads = 0;
	fake_drops = 0;
	ck_assert_int_eq(store_open_ops(base, &fake_later, NULL, fake_done_cb,
	    NULL, &err), 0);
}

static void
store_teardown(void)
{
	store_close();
	ck_assert_uint_eq(fake_nreads, 0);	/* every read answered */
	teardown();
}

static const struct {
	const char	*id;
	int		 rc;
	int		 has_doc;
} get_cases[] = {
	{ FAKE_KNOWN, 1, 1 },
	{ FAKE_UNKNOWN, 0, 0 },
	{ FAKE_BROKEN, -1, 0 },		/* a 500, never a 404 */
};

/* A get answers later, not before: found, not there, the store failed. */
START_TEST(test_get_later)
{
	struct heard h = { 0 };
	struct store_read *rd;
	struct ulid id;

	ck_assert_int_eq(ulid_parse(get_cases[_i].id, &id), 0);
	rd = store_get(&id, heard_got_cb, &h);
	ck_assert_ptr_nonnull(rd);
	ck_assert_int_eq(h.calls, 0);
	fake_answer();
	ck_assert_int_eq(h.calls, 1);
	ck_assert_int_eq(h.rc, get_cases[_i].rc);
	if (get_cases[_i].has_doc)
		ck_assert_ptr_nonnull(strstr(h.text, FAKE_KNOWN));
	else
		ck_assert_ptr_null(h.text);
	free(h.text);
}
END_TEST

static const struct {
	const char	*key;
	int		 rc;
	const char	*body;
} idem_cases[] = {
	{ "stored", 1, "{\"body\":1}" },
	{ "new", 0, NULL },
	{ "broken", -1, NULL },
};

/* A key's read answers later with the task's id and the create's body. */
START_TEST(test_find_idem_later)
{
	struct heard h = { 0 };

	ck_assert_ptr_nonnull(store_find_idem(idem_cases[_i].key,
	    heard_idem_cb, &h));
	ck_assert_int_eq(h.calls, 0);
	fake_answer();
	ck_assert_int_eq(h.calls, 1);
	ck_assert_int_eq(h.rc, idem_cases[_i].rc);
	if (idem_cases[_i].body != NULL) {
		ck_assert_str_eq(h.text, idem_cases[_i].body);
		ck_assert_str_eq(h.id, FAKE_KNOWN);
	} else
		ck_assert_ptr_null(h.text);
	free(h.text);
}
END_TEST

/* A key not yet committed is found in memory: answered at once (NULL). */
START_TEST(test_find_idem_in_flight)
{
	struct task *t = task_new(&kind_sleep);
	struct heard h = { 0 };
	char id[ULID_LEN + 1];

	registry_next_id(&t->id);
	ulid_format(&t->id, id);
	store_note_key(t, xstrdup("in-flight"), xstrdup("{\"x\":2}"));
	ck_assert_ptr_null(store_find_idem("in-flight", heard_idem_cb, &h));
	ck_assert_int_eq(h.calls, 1);
	ck_assert_int_eq(h.rc, 1);
	ck_assert_str_eq(h.id, id);
	ck_assert_str_eq(h.text, "{\"x\":2}");
	ck_assert_uint_eq(fake_nreads, 0);	/* the backend was not asked */
	free(h.text);
	store_close();
	task_free(t);
}
END_TEST

/*
 * A key noted while its read was out (another create of the same key got
 * there first) wins over the backend's "new": no second task for it.
 */
START_TEST(test_find_idem_noted_meanwhile)
{
	struct task *t = task_new(&kind_sleep);
	struct heard h = { 0 };
	char id[ULID_LEN + 1];

	registry_next_id(&t->id);
	ulid_format(&t->id, id);
	ck_assert_ptr_nonnull(store_find_idem("racing", heard_idem_cb, &h));
	store_note_key(t, xstrdup("racing"), xstrdup("{\"x\":3}"));
	fake_answer();
	ck_assert_int_eq(h.calls, 1);
	ck_assert_int_eq(h.rc, 1);
	ck_assert_str_eq(h.id, id);
	ck_assert_str_eq(h.text, "{\"x\":3}");
	free(h.text);
	store_close();
	task_free(t);
}
END_TEST

static const struct {
	int	limit;
	int	rows;
	int	more;
} list_cases[] = {
	{ 100, 3, 0 },
	{ 2, 2, 1 },
};

/* A listing answers later: its rows, then its end (more or not). */
START_TEST(test_list_later)
{
	struct store_filter f;
	struct heard h = { 0 };
	struct store_read *rd;

	memset(&f, 0, sizeof f);
	f.limit = list_cases[_i].limit;
	rd = store_list(&f, heard_row_cb, heard_listed_cb, &h);
	memset(&f, 0xff, sizeof f);	/* the backend copied what it needs */
	ck_assert_ptr_nonnull(rd);
	ck_assert_int_eq(h.rows + h.calls, 0);
	fake_answer();
	ck_assert_int_eq(h.calls, 1);
	ck_assert_int_eq(h.rows, list_cases[_i].rows);
	ck_assert_int_eq(h.rc, list_cases[_i].more);
}
END_TEST

/* A dropped read never calls back; the others still do. */
START_TEST(test_drop)
{
	struct heard gone = { 0 }, kept = { 0 }, listed = { 0 }, key = { 0 };
	struct store_filter f;
	struct store_read *rd, *rl, *rk;
	struct ulid id;

	ulid_parse(FAKE_KNOWN, &id);
	memset(&f, 0, sizeof f);
	f.limit = 10;
	rd = store_get(&id, heard_got_cb, &gone);
	ck_assert_ptr_nonnull(store_get(&id, heard_got_cb, &kept));
	rl = store_list(&f, heard_row_cb, heard_listed_cb, &listed);
	rk = store_find_idem("stored", heard_idem_cb, &key);
	store_read_drop(rd);
	store_read_drop(rl);
	store_read_drop(rk);
	store_read_drop(NULL);		/* one that answered already */
	ck_assert_int_eq(fake_drops, 3);
	fake_answer();
	ck_assert_int_eq(gone.calls, 0);
	ck_assert_int_eq(key.calls, 0);
	ck_assert_int_eq(listed.calls + listed.rows, 0);
	ck_assert_int_eq(kept.calls, 1);
	ck_assert_int_eq(kept.rc, 1);
	free(kept.text);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("reads");

	tcase_add_checked_fixture(tc, store_setup, store_teardown);
	tcase_add_loop_test(tc, test_get_later, 0,
	    (int)(sizeof get_cases / sizeof get_cases[0]));
	tcase_add_loop_test(tc, test_find_idem_later, 0,
	    (int)(sizeof idem_cases / sizeof idem_cases[0]));
	tcase_add_test(tc, test_find_idem_in_flight);
	tcase_add_test(tc, test_find_idem_noted_meanwhile);
	tcase_add_loop_test(tc, test_list_later, 0,
	    (int)(sizeof list_cases / sizeof list_cases[0]));
	tcase_add_test(tc, test_drop);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(store_suite)
