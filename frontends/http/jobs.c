/*
 * Jobs: a long operation run on a thread of its own, with its own store
 * handle, so that it survives the client going away. Its result is kept
 * until it is read, then ten minutes more.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "http.h"

/* How long a finished job stays once its result was read. */
#define JOB_KEEP_SECONDS 600

enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED };
static const char *const state_names[] = { "queued", "running", "done", "failed" };

struct job {
	struct job *next;
	char id[17];
	const struct syn_op *op;
	json_t *args;
	enum job_state state;
	json_t *progress;  /* {item: [done, total]} */
	uint64_t done, total;
	json_t *result;    /* the report, when any */
	char *detail;      /* the failure's message */
	int status;        /* the failure's HTTP status */
	time_t expires;    /* 0 until read after finishing */
	pthread_t thread;
	bool joined;
};

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct job *jobs;
	size_t running;
	struct syn_registry *reg;
	char *root;
} J = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, NULL, NULL };

static void job_free(struct job *j)
{
	json_decref(j->args);
	json_decref(j->progress);
	json_decref(j->result);
	free(j->detail);
	free(j);
}

int http_jobs_init(struct syn_registry *reg, const char *root)
{
	J.reg = reg;
	J.root = strdup(root);
	return J.root ? 0 : syn_error_set(SYN_ENOMEM, "out of memory");
}

/* Free the finished jobs whose last ten minutes are over (J.mu held). */
static void expire(void)
{
	struct job **pp = &J.jobs;
	time_t now = time(NULL);

	while (*pp) {
		struct job *j = *pp;

		if (j->expires && j->expires <= now && j->state >= JOB_DONE) {
			*pp = j->next;
			if (!j->joined)
				pthread_join(j->thread, NULL);
			job_free(j);
			continue;
		}
		pp = &j->next;
	}
}

static void on_progress(const char *item, const char *file, uint64_t done, uint64_t total, void *payload)
{
	struct job *j = payload;
	json_t *entry;
	const char *key;
	uint64_t sum_done = 0, sum_total = 0;

	(void)file;
	pthread_mutex_lock(&J.mu);
	if (j->progress && json_object_set_new(j->progress, item ? item : "", json_pack("[I, I]", (json_int_t)done,
											    (json_int_t)total)) == 0) {
		json_object_foreach(j->progress, key, entry) {
			sum_done += (uint64_t)json_integer_value(json_array_get(entry, 0));
			sum_total += (uint64_t)json_integer_value(json_array_get(entry, 1));
		}
		j->done = sum_done;
		j->total = sum_total;
	}
	pthread_mutex_unlock(&J.mu);
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct syn_progress progress = { on_progress, j };
	struct syn_store *st = NULL;
	json_t *report = NULL;
	int rc;

	pthread_mutex_lock(&J.mu);
	j->state = JOB_RUNNING;
	pthread_mutex_unlock(&J.mu);
	rc = syn_store_open(&st, J.reg, J.root);
	if (!rc)
		rc = syn_op_run(j->op, st, j->args, &progress, &report);
	/* the watches see the change too; this also covers a store not watched */
	if (j->op->flags & SYN_OP_CHANGES_STATE)
		http_cache_invalidate();
	pthread_mutex_lock(&J.mu);
	j->result = report;
	if (rc < 0) {
		const char *msg = syn_error_last();

		j->detail = strdup(*msg ? msg : syn_strerror(rc));
		j->status = syn_error_http_status(rc);
		j->state = JOB_FAILED;
	} else {
		j->state = JOB_DONE;
	}
	J.running--;
	pthread_cond_broadcast(&J.cond);
	pthread_mutex_unlock(&J.mu);
	syn_store_free(st);
	return NULL;
}

int http_job_start(const struct syn_op *op, const json_t *args, char id[17])
{
	unsigned char raw[8];
	struct job *j;
	size_t i;
	int err;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return syn_error_set_errno(SYN_ERROR, errno, "cannot make a job id");
	j = calloc(1, sizeof(*j));
	if (!j)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	for (i = 0; i < sizeof(raw); i++)
		snprintf(j->id + 2 * i, 3, "%02x", raw[i]);
	j->op = op;
	j->args = json_deep_copy(args);
	j->progress = json_object();
	if (!j->args || !j->progress) {
		job_free(j);
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&J.mu);
	expire();
	J.running++;
	j->next = J.jobs;
	J.jobs = j;
	err = pthread_create(&j->thread, NULL, job_main, j);
	if (err) {
		J.jobs = j->next;
		J.running--;
		pthread_mutex_unlock(&J.mu);
		job_free(j);
		return syn_error_set_errno(SYN_ERROR, err, "cannot start a job");
	}
	memcpy(id, j->id, sizeof(j->id));
	pthread_mutex_unlock(&J.mu);
	return 0;
}

json_t *http_job_get(const char *id)
{
	json_t *doc = NULL;
	struct job *j;

	pthread_mutex_lock(&J.mu);
	expire();
	for (j = J.jobs; j && strcmp(j->id, id); j = j->next)
		;
	if (!j) {
		pthread_mutex_unlock(&J.mu);
		syn_error_set(SYN_ENOTFOUND, "no job '%s' (finished jobs are kept ten minutes after they are read)", id);
		return NULL;
	}
	doc = json_pack("{s:s, s:s, s:s, s:{s:I, s:I}}", "id", j->id, "operation", j->op->name, "state",
			state_names[j->state], "progress", "bytes_done", (json_int_t)j->done, "bytes_total",
			(json_int_t)j->total);
	if (doc && j->result && json_object_set(doc, "result", j->result))
		json_object_clear(doc);
	if (doc && j->detail &&
	    (json_object_set_new(doc, "detail", json_string(j->detail)) ||
	     json_object_set_new(doc, "status", json_integer(j->status))))
		json_object_clear(doc);
	if (doc && !json_object_size(doc)) {
		json_decref(doc);
		doc = NULL;
	}
	if (doc && j->state >= JOB_DONE && !j->expires)
		j->expires = time(NULL) + JOB_KEEP_SECONDS;
	pthread_mutex_unlock(&J.mu);
	if (!doc)
		syn_error_set(SYN_ENOMEM, "out of memory");
	return doc;
}

bool http_jobs_idle(void)
{
	bool idle;

	pthread_mutex_lock(&J.mu);
	idle = !J.running;
	pthread_mutex_unlock(&J.mu);
	return idle;
}

void http_jobs_shutdown(void)
{
	struct job *j;

	pthread_mutex_lock(&J.mu);
	while (J.running)
		pthread_cond_wait(&J.cond, &J.mu);
	while ((j = J.jobs)) {
		J.jobs = j->next;
		pthread_join(j->thread, NULL);
		job_free(j);
	}
	pthread_mutex_unlock(&J.mu);
	free(J.root);
	J.root = NULL;
}
