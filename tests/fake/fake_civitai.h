/*
 * A fake Civitai for tests: a libmicrohttpd server on 127.0.0.1:0 shaped
 * like the real API (/api/v1/models/<id>, /api/v1/models?ids=1,2&types=&query=&limit=,
 * /api/v1/model-versions/<id>,
 * /api/v1/model-versions/by-hash/<hash>, POST /api/v1/model-versions/by-hash (a JSON
 * array of at most 100 SHA-256 digests), /api/download/models/<versionId>
 * answering 307 to a "CDN" URL on another host name, http://localhost:<port>/cdn/...).
 *
 * Model documents come from JSON files (the *.json in tests/fixtures/civitai) or are
 * added by the test. Every file of every version gets a deterministic body
 * (its bytes depend only on the file id and its size), and the served JSON
 * is rewritten so that files[].hashes.SHA256 / AutoV2 and sizeKB describe
 * that body, and every "https://civitai.com" becomes the fake's own base URL.
 *
 * It records every request and can be told to misbehave.
 */
#ifndef SYNAPSE_FAKE_CIVITAI_H
#define SYNAPSE_FAKE_CIVITAI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct fake_civitai;

/** Ways to misbehave, applied to matching requests (see fake_civitai_fault). */
enum fake_fault {
	FAKE_FAULT_NONE = 0,
	FAKE_FAULT_STATUS,       /* answer `status` with a JSON {"error": ...} body like Civitai's */
	FAKE_FAULT_CUT,          /* send the headers and half of the requested bytes, then drop the connection */
	FAKE_FAULT_WRONG_BYTES,  /* send the right length of wrong bytes (status 200/206 as usual) */
	FAKE_FAULT_IGNORE_RANGE, /* answer a Range request with 200 and the whole body */
	FAKE_FAULT_HTML,         /* answer 200 text/html "<html>login</html>" */
	FAKE_FAULT_STALL,        /* send the headers and a few bytes, then nothing for `stall_ms` */
};

/** One recorded request. */
struct fake_request {
	char method[8];
	char host[64];           /* the Host header, e.g. "127.0.0.1:4711" or "localhost:4711" */
	char path[256];          /* without the query */
	char query[512];         /* raw query string, "" when none */
	char authorization[256]; /* the Authorization header, "" when none */
	char range[64];          /* the Range header, "" when none */
	int status;              /* what the fake answered */
	uint64_t body_bytes;     /* body bytes it sent (for downloads) */
	int post_items;          /* a POST whose body is a JSON array: its length; else -1 */
};

/**
 * Start a fake on 127.0.0.1 with an ephemeral port. @fixtures_dir (may be
 * NULL) is a directory whose *.json files are loaded: a document with
 * "modelVersions" is a model (served at /api/v1/models/<id>, and each of its
 * versions at /api/v1/model-versions/<vid>), one with "modelId" and "files"
 * is a version. @file_size is the body size of every file (e.g. 256 KiB);
 * 0 means 64 KiB + (file id % 4096). Returns 0 or -1.
 */
int fake_civitai_start(struct fake_civitai **out, const char *fixtures_dir, size_t file_size);

/** Stop the server and free everything. NULL-safe. */
void fake_civitai_stop(struct fake_civitai *f);

/**
 * Wait until @f serves no connection (at most 5 s), its threads back at
 * rest: a caller about to fork() does so while no thread of the server is
 * in the middle of an allocation the child would inherit half done.
 */
void fake_civitai_wait_idle(struct fake_civitai *f);

/** "http://127.0.0.1:<port>": set SYNAPSE_CIVITAI_URL to this. */
const char *fake_civitai_url(const struct fake_civitai *f);

/** The port it listens on. */
unsigned int fake_civitai_port(const struct fake_civitai *f);

/**
 * Add (or replace) a model document (a Civitai /models/<id> object with
 * modelVersions; borrowed, copied). Its files get bodies and hashes as above.
 */
int fake_civitai_add_model(struct fake_civitai *f, const json_t *model);

/**
 * Remove model @id and the versions that came with it: /api/v1/models/<id>
 * and its /api/v1/model-versions/<vid> then answer 404, as for a model
 * deleted upstream, and lists leave it out. Returns 0, or -1 when there is
 * no such model. fake_civitai_add_model() brings it back.
 */
int fake_civitai_remove_model(struct fake_civitai *f, long long id);

/**
 * Leave model @id out of /api/v1/models list answers (with or without
 * ?ids=) when @hidden, as Civitai does with some models, while
 * /api/v1/models/<id> still serves it; false lists it again. Replacing the
 * model keeps the setting. No effect when there is no such model.
 */
void fake_civitai_hide_from_lists(struct fake_civitai *f, long long id, bool hidden);

/**
 * The served body of file @file_id (as the fake would send it) and its
 * lowercase SHA-256 hex. Returns false when there is no such file.
 */
bool fake_civitai_file(const struct fake_civitai *f, long long file_id, const unsigned char **body, size_t *len,
		       char sha256_hex[65]);

/**
 * Misbehave on the next @times requests whose path starts with @path_prefix
 * (e.g. "/api/download/", "/cdn/", "/api/v1/models/1102"); @times < 0 means
 * always. @status is used by FAKE_FAULT_STATUS; @stall_ms by FAKE_FAULT_STALL.
 * Faults are matched in the order they were added; a new call adds one.
 */
void fake_civitai_fault(struct fake_civitai *f, const char *path_prefix, enum fake_fault fault, int status,
			int stall_ms, int times);

/** As fake_civitai_fault(), letting the first @skip matching requests through unharmed. */
void fake_civitai_fault_after(struct fake_civitai *f, const char *path_prefix, int skip, enum fake_fault fault,
			      int status, int stall_ms, int times);

/**
 * Send every /cdn/ body at most @bytes_per_s bytes per second, each
 * response (so each connection) on its own, as CDNs cap a connection;
 * 0 lifts the cap.
 */
void fake_civitai_cdn_rate(struct fake_civitai *f, uint64_t bytes_per_s);

/** Remove every fault. */
void fake_civitai_clear_faults(struct fake_civitai *f);

/** Copy up to @max recorded requests (oldest first) into @out; returns how many were recorded in all. */
size_t fake_civitai_requests(struct fake_civitai *f, struct fake_request *out, size_t max);

/** Forget the recorded requests. */
void fake_civitai_clear_requests(struct fake_civitai *f);

/**
 * Require @token on /api/download/ requests (as "?token=<token>" or
 * "Authorization: Bearer <token>"); others get 401 {"error":"Unauthorized",
 * "message":"The creator of this asset requires you to be logged in to
 * download it"}. NULL stops requiring one (the default). @token is copied.
 */
void fake_civitai_require_token(struct fake_civitai *f, const char *token);

#endif
