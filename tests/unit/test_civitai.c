/*
 * Tests of the Civitai source plugin, loaded from the build's plugin
 * directory the way the core loads it: reference parsing, metadata
 * normalization, downloads (resume, restarts, retries, faults), previews,
 * and where the token goes. The network is the fake Civitai on 127.0.0.1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "fake_civitai.h"

#define MAX_REQ 256

static struct syn_registry *reg;
static struct fake_civitai *fake;
static struct syn_source *src;
static struct fake_request reqs[MAX_REQ];

static struct syn_source *new_source(void)
{
	const struct syn_source_class *cls = syn_registry_source(reg, "civitai");
	struct syn_source_params params = { SYN_SOURCE_VERSION, test_dir, NULL };
	struct syn_source *s = NULL;

	ck_assert_ptr_nonnull(cls);
	ck_assert_str_eq(cls->name, "civitai");
	ck_assert_msg(cls->create(&s, &params) == 0, "create: %s", syn_error_last());
	ck_assert_ptr_nonnull(s);
	return s;
}

/* A fresh source after changing the environment. */
static void recreate(void)
{
	src->free(src);
	src = new_source();
}

static void clean_env(void)
{
	unsetenv("CIVITAI_API_TOKEN");
	unsetenv("CIVITAI_API_KEY");
	unsetenv("SYNAPSE_CIVITAI_URL");
	unsetenv("SYNAPSE_CIVITAI_RETRY_MS");
	unsetenv("SYNAPSE_CIVITAI_STALL_TIMEOUT");
}

static void ref_setup(void)
{
	tmp_setup();
	clean_env();
	reg = test_registry();
	src = new_source();
}

static void fake_setup(void)
{
	tmp_setup();
	clean_env();
	ck_assert_int_eq(fake_civitai_start(&fake, SYN_TEST_CIVITAI_FIXTURES, 0), 0);
	setenv("SYNAPSE_CIVITAI_URL", fake_civitai_url(fake), 1);
	setenv("SYNAPSE_CIVITAI_RETRY_MS", "10", 1);
	setenv("SYNAPSE_CIVITAI_STALL_TIMEOUT", "1", 1);
	reg = test_registry();
	src = new_source();
}

static void teardown(void)
{
	if (src)
		src->free(src);
	src = NULL;
	syn_registry_free(reg);
	reg = NULL;
	fake_civitai_stop(fake);
	fake = NULL;
	tmp_teardown();
}

/* ---- helpers --------------------------------------------------------------- */

/* A sink that keeps the bytes in memory and counts what happened to it. */
struct mem_sink {
	struct syn_sink sink;
	struct syn_buf data;
	int writes;
	int restarts;
	int progress_calls;
	uint64_t last_done, last_total;
};

static int ms_write(struct syn_sink *s, const void *data, size_t len)
{
	struct mem_sink *m = (struct mem_sink *)s;

	ck_assert_int_eq(syn_buf_put(&m->data, data, len), 0);
	m->writes++;
	s->offset = m->data.len;
	return 0;
}

static int ms_restart(struct syn_sink *s)
{
	struct mem_sink *m = (struct mem_sink *)s;

	syn_buf_clear(&m->data);
	m->restarts++;
	s->offset = 0;
	return 0;
}

static void ms_progress(struct syn_sink *s, uint64_t done, uint64_t total)
{
	struct mem_sink *m = (struct mem_sink *)s;

	ck_assert(total == 0 || done <= total);
	m->progress_calls++;
	m->last_done = done;
	m->last_total = total;
}

static void ms_init(struct mem_sink *m)
{
	memset(m, 0, sizeof(*m));
	m->sink.version = SYN_SOURCE_VERSION;
	m->sink.write = ms_write;
	m->sink.restart = ms_restart;
	m->sink.progress = ms_progress;
	m->data = (struct syn_buf)SYN_BUF_INIT;
}

/* Start the sink with the first @n bytes of @body, as a resumed .part would. */
static void ms_preload(struct mem_sink *m, const unsigned char *body, size_t n)
{
	ck_assert_int_eq(syn_buf_put(&m->data, body, n), 0);
	m->sink.offset = n;
}

static void file_body(long long file_id, const unsigned char **body, size_t *len, char sha[65])
{
	ck_assert_msg(fake_civitai_file(fake, file_id, body, len, sha), "no file %lld", file_id);
}

static char *url_of(const char *path)
{
	char *u;

	ck_assert_int_ge(asprintf(&u, "%s%s", fake_civitai_url(fake), path), 0);
	return u;
}

/* The same URL on host "localhost" instead of 127.0.0.1. */
static char *localhost_url(const char *path)
{
	char *u;

	ck_assert_int_ge(asprintf(&u, "http://localhost:%u%s", fake_civitai_port(fake), path), 0);
	return u;
}

static size_t requests(void)
{
	size_t n = fake_civitai_requests(fake, reqs, MAX_REQ);

	return n < MAX_REQ ? n : MAX_REQ;
}

/* How many recorded requests have a path starting with @prefix. */
static int count_path(const char *prefix)
{
	size_t i, n = requests();
	int c = 0;

	for (i = 0; i < n; i++)
		if (!strncmp(reqs[i].path, prefix, strlen(prefix)))
			c++;
	return c;
}

/* The last recorded request whose path starts with @prefix. */
static const struct fake_request *last_path(const char *prefix)
{
	size_t n = requests();

	while (n--)
		if (!strncmp(reqs[n].path, prefix, strlen(prefix)))
			return &reqs[n];
	ck_abort_msg("no request to %s", prefix);
	return NULL;
}

static json_t *parse(const char *ref)
{
	json_t *out = NULL;

	ck_assert_msg(src->parse_ref(src, ref, &out) == 0, "parse '%s': %s", ref, syn_error_last());
	return out;
}

static json_t *metadata_of(const char *ref)
{
	json_t *r = parse(ref), *m = NULL;

	ck_assert_msg(src->metadata(src, r, &m) == 0, "metadata '%s': %s", ref, syn_error_last());
	json_decref(r);
	return m;
}

static const char *str_at(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_string(v), "'%s' is not a string", key);
	return json_string_value(v);
}

static long long int_at(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(json_is_integer(v), "'%s' is not an integer", key);
	return (long long)json_integer_value(v);
}

static void assert_null(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	ck_assert_msg(v && json_is_null(v), "'%s' is not null", key);
}

static const json_t *version_at(const json_t *model, size_t i)
{
	const json_t *v = json_array_get(json_object_get(model, "versions"), i);

	ck_assert_ptr_nonnull(v);
	return v;
}

static const json_t *file_with_id(const json_t *version, long long id)
{
	const json_t *f;
	size_t i;

	json_array_foreach(json_object_get(version, "files"), i, f)
		if (json_integer_value(json_object_get(f, "file_id")) == id)
			return f;
	ck_abort_msg("no file %lld", id);
	return NULL;
}

static void assert_has(const char *hay, const char *needle)
{
	ck_assert_msg(strstr(hay, needle) != NULL, "'%s' not in '%s'", needle, hay);
}

static void assert_lacks(const char *hay, const char *needle)
{
	ck_assert_msg(strstr(hay, needle) == NULL, "'%s' found in '%s'", needle, hay);
}

/* ---- references ------------------------------------------------------------ */

START_TEST(refs_in_every_form)
{
	static const struct {
		const char *ref;
		long long model, version; /* version 0: null */
	} cases[] = {
		{ "https://civitai.com/models/1102", 1102, 0 },
		{ "https://civitai.com/models/1102/synthwavepunk", 1102, 0 },
		{ "https://civitai.com/models/1102/", 1102, 0 },
		{ "https://civitai.com/models/1102/synthwavepunk/", 1102, 0 },
		{ "https://civitai.com/models/1102/synthwavepunk?modelVersionId=1292", 1102, 1292 },
		{ "https://civitai.com/models/1102?modelVersionId=1292", 1102, 1292 },
		{ "https://civitai.com/models/1102?sort=new&modelVersionId=1292&modelVersionId=7#gallery", 1102, 1292 },
		{ "https://civitai.com/models/1102?utm_source=x", 1102, 0 },
		{ "https://www.civitai.com/models/1102", 1102, 0 },
		{ "https://civitai.red/models/1102/synthwavepunk?modelVersionId=1292", 1102, 1292 },
		{ "HTTPS://CIVITAI.COM/models/1102", 1102, 0 },
		{ "civitai.com/models/1102/synthwavepunk", 1102, 0 },
		{ "civitai:1102", 1102, 0 },
		{ "civitai:1102@1318", 1102, 1318 },
		{ "civitai:9223372036854775807", 9223372036854775807LL, 0 },
		{ "urn:air:sdxl:checkpoint:civitai:827184@2514310", 827184, 2514310 },
		{ "urn:air:sd1:lora:civitai:1102@1292", 1102, 1292 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *r = parse(cases[i].ref);
		char url[96];

		ck_assert_str_eq(str_at(r, "source"), "civitai");
		ck_assert_msg(int_at(r, "model_id") == cases[i].model, "model of '%s'", cases[i].ref);
		if (cases[i].version)
			ck_assert_msg(int_at(r, "version_id") == cases[i].version, "version of '%s'", cases[i].ref);
		else
			assert_null(r, "version_id");
		snprintf(url, sizeof(url), "https://civitai.com/models/%lld", cases[i].model);
		ck_assert_str_eq(str_at(r, "url"), url);
		json_decref(r);
	}
}
END_TEST

START_TEST(refs_of_others_pass_through)
{
	static const char *const refs[] = {
		"https://huggingface.co/models/1102",
		"hf:stabilityai/sdxl-vae",
		"ftp://civitai.com/models/1102",
		"file:///models/1102",
		"urn:air:sdxl:lora:huggingface:1102@1292",
		"/home/me/model.safetensors",
		"https://evil.example/?civitai.com/models/1102",
		"https://civitai.com.evil.example/models/1102",
		"https://evil.example/models/1102#civitai.com",
		"https://civitai.com@evil.example/models/1102",
		"",
	};
	size_t i;

	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		json_t *out = NULL;

		ck_assert_msg(src->parse_ref(src, refs[i], &out) == SYN_EPASSTHROUGH, "'%s' was taken: %s", refs[i],
			      syn_error_last());
		ck_assert_ptr_null(out);
		ck_assert_str_eq(syn_error_last(), "not a Civitai reference");
	}
}
END_TEST

START_TEST(refs_malformed_are_invalid)
{
	static const char *const refs[] = {
		"civitai:abc",
		"civitai:",
		"civitai:1102@",
		"civitai:@1318",
		"civitai:1102@abc",
		"civitai:0",
		"civitai:1102@0",
		"civitai:-5",
		"civitai:9223372036854775808",
		"civitai:99999999999999999999999",
		"civitai:1102@1318@1",
		"https://civitai.com/models/",
		"https://civitai.com/models/abc",
		"https://civitai.com/models/0",
		"https://civitai.com/models/1102abc",
		"https://civitai.com/models/1102/slug/extra",
		"https://civitai.com/models/1102?modelVersionId=xyz",
		"https://civitai.com/models/1102?modelVersionId=",
		"https://civitai.com/models/99999999999999999999",
		"https://civitai.com/user/someone",
		"https://civitai.com/",
		"http://civitai.com/models/1102",
		"urn:air:sdxl:lora:civitai:1102",
		"urn:air:sdxl:lora:civitai:abc@1",
		"urn:air:sdxl:lora:civitai:1102@1292x",
		"urn:air:civitai:1102@1292",
	};
	size_t i;

	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
		json_t *out = NULL;
		char quoted[256];

		ck_assert_msg(src->parse_ref(src, refs[i], &out) == SYN_EINVALID, "'%s': %d %s", refs[i],
			      syn_error_code(), syn_error_last());
		ck_assert_ptr_null(out);
		snprintf(quoted, sizeof(quoted), "'%s'", refs[i]);
		if (strncmp(refs[i], "http://", 7)) {
			assert_has(syn_error_last(), quoted);
			assert_has(syn_error_last(), "civitai:<id>[@<version>]");
		} else {
			assert_has(syn_error_last(), "https://");
		}
	}
}
END_TEST

START_TEST(refs_never_echo_a_token)
{
	json_t *out = NULL;

	ck_assert_int_eq(src->parse_ref(src, "https://civitai.com/api/download/models/1318?type=Model&token=hunter2", &out),
			 SYN_EINVALID);
	assert_lacks(syn_error_last(), "hunter2");
	assert_has(syn_error_last(), "https://civitai.com/api/download/models/1318?type=Model");
}
END_TEST

START_TEST(refs_on_the_configured_host)
{
	json_t *r;

	setenv("SYNAPSE_CIVITAI_URL", "http://127.0.0.1:4711/", 1);
	recreate();
	r = parse("http://127.0.0.1:4711/models/5/x?modelVersionId=6");
	ck_assert_int_eq(int_at(r, "model_id"), 5);
	ck_assert_int_eq(int_at(r, "version_id"), 6);
	ck_assert_str_eq(str_at(r, "url"), "http://127.0.0.1:4711/models/5");
	json_decref(r);
	/* plain http is fine now, and civitai.com still is Civitai */
	json_decref(parse("https://civitai.com/models/7"));
	json_decref(parse("http://civitai.com/models/7"));
}
END_TEST

START_TEST(bad_environment_is_refused)
{
	const struct syn_source_class *cls = syn_registry_source(reg, "civitai");
	struct syn_source_params params = { SYN_SOURCE_VERSION, test_dir, NULL };
	struct syn_source *s = NULL;

	setenv("SYNAPSE_CIVITAI_URL", "ftp://civitai.com", 1);
	ck_assert_int_eq(cls->create(&s, &params), SYN_EINVALID);
	assert_has(syn_error_last(), "SYNAPSE_CIVITAI_URL");
	ck_assert_ptr_null(s);
	unsetenv("SYNAPSE_CIVITAI_URL");
	setenv("SYNAPSE_CIVITAI_STALL_TIMEOUT", "soon", 1);
	ck_assert_int_eq(cls->create(&s, &params), SYN_EINVALID);
	assert_has(syn_error_last(), "SYNAPSE_CIVITAI_STALL_TIMEOUT");
	unsetenv("SYNAPSE_CIVITAI_STALL_TIMEOUT");
	setenv("CIVITAI_API_TOKEN", "abc\r\nX-Evil: 1", 1);
	ck_assert_int_eq(cls->create(&s, &params), SYN_EINVALID);
	assert_has(syn_error_last(), "CIVITAI_API_TOKEN");
	assert_lacks(syn_error_last(), "abc");
}
END_TEST

/* ---- metadata ---------------------------------------------------------------- */

START_TEST(metadata_of_1102)
{
	json_t *m = metadata_of("https://civitai.com/models/1102/synthwavepunk");
	const json_t *v, *f, *tags, *img;
	const unsigned char *body;
	size_t len;
	char sha[65], want_url[256];

	ck_assert_str_eq(str_at(m, "source"), "civitai");
	ck_assert_int_eq(int_at(m, "model_id"), 1102);
	ck_assert_str_eq(str_at(m, "name"), "SynthwavePunk");
	ck_assert_str_eq(str_at(m, "type"), "Checkpoint");
	ck_assert_str_eq(str_at(m, "kind"), "checkpoint");
	ck_assert_str_eq(str_at(m, "author"), "justmaier");
	assert_has(str_at(m, "description"), "50/50 Merge");
	tags = json_object_get(m, "tags");
	ck_assert_uint_eq(json_array_size(tags), 3);
	ck_assert_str_eq(json_string_value(json_array_get(tags, 0)), "punk");
	ck_assert_str_eq(json_string_value(json_array_get(tags, 2)), "style");
	ck_assert(json_is_false(json_object_get(m, "nsfw")));
	ck_assert_int_eq(int_at(m, "download_count"), 15347);
	ck_assert(json_is_real(json_object_get(m, "rating")));
	ck_assert(json_real_value(json_object_get(m, "rating")) == 4.93);
	snprintf(want_url, sizeof(want_url), "%s/models/1102", fake_civitai_url(fake));
	ck_assert_str_eq(str_at(m, "url"), want_url);

	ck_assert_uint_eq(json_array_size(json_object_get(m, "versions")), 1);
	v = version_at(m, 0);
	ck_assert_int_eq(int_at(v, "version_id"), 1292);
	ck_assert_str_eq(str_at(v, "name"), "V3 Alpha");
	ck_assert_str_eq(str_at(v, "base_model"), "SD 1.5");
	ck_assert_uint_eq(json_array_size(json_object_get(v, "trained_words")), 3);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(v, "trained_words"), 1)), "snthwve style");
	assert_null(v, "air");
	assert_null(v, "published_at");
	snprintf(want_url, sizeof(want_url), "%s/api/download/models/1292", fake_civitai_url(fake));
	ck_assert_str_eq(str_at(v, "download_url"), want_url);

	/* sizes are whole bytes, digests lowercase, both describing what the fake serves */
	f = file_with_id(v, 5149);
	file_body(5149, &body, &len, sha);
	ck_assert_str_eq(str_at(f, "name"), "synthwavepunk_v3Alpha.ckpt");
	ck_assert_int_eq(int_at(f, "size_bytes"), (long long)len);
	ck_assert_str_eq(str_at(f, "sha256"), sha);
	ck_assert_uint_eq(strlen(str_at(f, "autov2")), 10);
	ck_assert(json_is_false(json_object_get(f, "primary")));
	ck_assert_str_eq(str_at(f, "type"), "Model");
	ck_assert_str_eq(str_at(f, "format"), "PickleTensor");
	assert_has(str_at(f, "download_url"), "/api/download/models/1292?type=Model&format=PickleTensor");
	f = file_with_id(v, 194);
	file_body(194, &body, &len, sha);
	ck_assert(json_is_true(json_object_get(f, "primary")));
	ck_assert_int_eq(int_at(f, "size_bytes"), (long long)len);
	ck_assert_str_eq(str_at(f, "sha256"), sha);

	img = json_array_get(json_object_get(v, "images"), 0);
	ck_assert_ptr_nonnull(img);
	ck_assert(json_is_true(json_object_get(img, "nsfw")));
	ck_assert_int_eq(int_at(img, "width"), 512);
	ck_assert_int_eq(int_at(img, "height"), 704);
	ck_assert_str_eq(str_at(img, "media_type"), "image");
	ck_assert(json_is_object(json_object_get(img, "meta")));
	ck_assert_int_eq(count_path("/api/v1/"), 1);
	json_decref(m);
}
END_TEST

START_TEST(metadata_of_a_listed_version_needs_one_request)
{
	json_t *m = metadata_of("civitai:1102@1292");

	ck_assert_uint_eq(json_array_size(json_object_get(m, "versions")), 1);
	ck_assert_int_eq(count_path("/api/v1/model-versions/"), 0);
	json_decref(m);
}
END_TEST

START_TEST(metadata_adds_an_unlisted_version)
{
	json_t *model = json_pack("{s:I, s:s, s:s, s:[{s:I, s:s, s:[], s:[]}]}", "id", (json_int_t)827184, "name",
				  "WAI-illustrious-SDXL", "type", "Checkpoint", "modelVersions", "id",
				  (json_int_t)9001, "name", "v15.0", "files", "images");
	json_t *m;
	const json_t *v, *f;
	const unsigned char *body;
	size_t len;
	char sha[65];

	ck_assert_int_eq(fake_civitai_add_model(fake, model), 0);
	json_decref(model);
	m = metadata_of("urn:air:sdxl:checkpoint:civitai:827184@2514310");
	ck_assert_uint_eq(json_array_size(json_object_get(m, "versions")), 2);
	ck_assert_int_eq(int_at(version_at(m, 0), "version_id"), 9001);
	v = version_at(m, 1);
	ck_assert_int_eq(int_at(v, "version_id"), 2514310);
	ck_assert_str_eq(str_at(v, "name"), "v16.0");
	ck_assert_str_eq(str_at(v, "base_model"), "Illustrious");
	ck_assert_str_eq(str_at(v, "air"), "urn:air:sdxl:checkpoint:civitai:827184@2514310");
	ck_assert_str_eq(str_at(v, "published_at"), "2025-12-18T09:16:12.062Z");
	ck_assert_uint_eq(json_array_size(json_object_get(v, "trained_words")), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(v, "images")), 0);
	f = file_with_id(v, 2402203);
	file_body(2402203, &body, &len, sha);
	ck_assert_str_eq(str_at(f, "name"), "waiIllustriousSDXL_v160.safetensors");
	ck_assert_int_eq(int_at(f, "size_bytes"), (long long)len);
	ck_assert_str_eq(str_at(f, "sha256"), sha);
	ck_assert_str_eq(str_at(f, "format"), "SafeTensor");
	ck_assert(json_is_true(json_object_get(f, "primary")));
	ck_assert_int_eq(count_path("/api/v1/model-versions/2514310"), 1);
	json_decref(m);
}
END_TEST

START_TEST(metadata_refuses_a_version_of_another_model)
{
	json_t *r = parse("civitai:1102@1318"), *m = NULL;

	ck_assert_int_eq(src->metadata(src, r, &m), SYN_EINVALID);
	ck_assert_ptr_null(m);
	assert_has(syn_error_last(), "model version 1318 belongs to model 1244");
	json_decref(r);
}
END_TEST

START_TEST(metadata_kinds)
{
	static const struct {
		const char *type, *kind;
	} cases[] = {
		{ "Checkpoint", "checkpoint" }, { "LORA", "lora" },		{ "LoCon", "lora" },
		{ "DoRA", "lora" },		{ "TextualInversion", "embedding" }, { "VAE", "vae" },
		{ "Controlnet", "controlnet" }, { "Upscaler", "upscaler" },	{ "Hypernetwork", "hypernetwork" },
		{ "TextEncoder", "text_encoder" }, { "UNet", "unet" },		{ "CLIP", "clip" },
		{ "Poses", "unknown" },		{ "Wildcards", "unknown" },	{ "MotionModule", "unknown" },
		{ "AestheticGradient", "unknown" }, { NULL, "unknown" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long id = 70000 + (long long)i;
		json_t *model = json_pack("{s:I, s:s, s:[]}", "id", (json_int_t)id, "name", "k", "modelVersions");
		char ref[64];
		json_t *m;

		if (cases[i].type)
			json_object_set_new(model, "type", json_string(cases[i].type));
		ck_assert_int_eq(fake_civitai_add_model(fake, model), 0);
		json_decref(model);
		snprintf(ref, sizeof(ref), "civitai:%lld", id);
		m = metadata_of(ref);
		ck_assert_msg(!strcmp(str_at(m, "kind"), cases[i].kind), "%s -> %s", cases[i].type, str_at(m, "kind"));
		if (cases[i].type)
			ck_assert_str_eq(str_at(m, "type"), cases[i].type);
		else
			assert_null(m, "type");
		json_decref(m);
	}
}
END_TEST

START_TEST(metadata_odd_shapes)
{
	json_t *model = json_loads(
		"{\"id\": 424242, \"name\": \"Odd\", \"type\": \"LORA\", \"nsfw\": \"Soft\","
		" \"tags\": [\"anime\", {\"name\": \"style\"}, 7, {\"id\": 1}],"
		" \"modelVersions\": [{\"id\": 555, \"name\": \"v1\", \"trainedWords\": [\"a\", null],"
		"  \"files\": ["
		"   {\"id\": 901, \"name\": \"../../evil.safetensors\", \"primary\": true},"
		"   {\"id\": 902, \"name\": \".hidden\"},"
		"   {\"id\": 903, \"name\": \"dir/inside.safetensors\"},"
		"   {\"name\": \"nohash.safetensors\", \"sizeKB\": 1.5},"
		"   {\"name\": \"shorthash.safetensors\", \"sizeKB\": 0.0009765625,"
		"    \"hashes\": {\"SHA256\": \"ABC\"}},"
		"   {\"name\": \"badhex.safetensors\", \"hashes\": {\"SHA256\":"
		"    \"ZZ3EED071327C9075053368D6997CD613AF949D10B2D3034CEF30A1D1D9FEBA\"}}],"
		"  \"images\": ["
		"   {\"url\": \"https://image.civitai.com/x/a.jpeg\", \"nsfw\": \"None\", \"nsfwLevel\": 1,"
		"    \"meta\": {\"meta\": {\"prompt\": \"frog\"}}},"
		"   {\"url\": \"https://image.civitai.com/x/b.jpeg\", \"nsfw\": \"Mature\","
		"    \"metadata\": {\"seed\": 1}},"
		"   {\"url\": \"https://image.civitai.com/x/c.jpeg\", \"nsfwLevel\": 4, \"meta\": \"no\"},"
		"   {\"url\": \"https://image.civitai.com/x/d.mp4\", \"nsfw\": false},"
		"   {\"url\": \"https://image.civitai.com/x/e\", \"type\": \"video\"},"
		"   {\"nsfw\": true}]}]}",
		0, NULL);
	json_t *m;
	const json_t *v, *files, *imgs, *f;

	ck_assert_ptr_nonnull(model);
	ck_assert_int_eq(fake_civitai_add_model(fake, model), 0);
	json_decref(model);
	m = metadata_of("civitai:424242");
	ck_assert_str_eq(str_at(m, "kind"), "lora");
	ck_assert(json_is_true(json_object_get(m, "nsfw")));
	ck_assert_uint_eq(json_array_size(json_object_get(m, "tags")), 2);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(m, "tags"), 1)), "style");
	assert_null(m, "author");
	assert_null(m, "download_count");
	assert_null(m, "rating");
	v = version_at(m, 0);
	ck_assert_uint_eq(json_array_size(json_object_get(v, "trained_words")), 1);

	/* names are the core's to judge: passed on verbatim */
	files = json_object_get(v, "files");
	ck_assert_uint_eq(json_array_size(files), 6);
	ck_assert_str_eq(str_at(json_array_get(files, 0), "name"), "../../evil.safetensors");
	ck_assert_str_eq(str_at(json_array_get(files, 1), "name"), ".hidden");
	ck_assert_str_eq(str_at(json_array_get(files, 2), "name"), "dir/inside.safetensors");
	f = json_array_get(files, 3);
	assert_null(f, "file_id");
	assert_null(f, "sha256");
	assert_null(f, "autov2");
	assert_null(f, "download_url");
	ck_assert_int_eq(int_at(f, "size_bytes"), 1536);
	f = json_array_get(files, 4);
	assert_null(f, "sha256");
	ck_assert_int_eq(int_at(f, "size_bytes"), 1);
	assert_null(json_array_get(files, 5), "size_bytes");
	assert_null(json_array_get(files, 5), "sha256");

	imgs = json_object_get(v, "images");
	ck_assert_uint_eq(json_array_size(imgs), 5); /* the one without a url is dropped */
	ck_assert(json_is_false(json_object_get(json_array_get(imgs, 0), "nsfw")));
	ck_assert_int_eq(int_at(json_array_get(imgs, 0), "nsfw_level"), 1);
	ck_assert_str_eq(str_at(json_object_get(json_array_get(imgs, 0), "meta"), "prompt"), "frog");
	ck_assert(json_is_true(json_object_get(json_array_get(imgs, 1), "nsfw")));
	ck_assert_int_eq(int_at(json_object_get(json_array_get(imgs, 1), "meta"), "seed"), 1);
	ck_assert(json_is_true(json_object_get(json_array_get(imgs, 2), "nsfw")));
	assert_null(json_array_get(imgs, 2), "meta");
	assert_null(json_array_get(imgs, 2), "width");
	ck_assert_str_eq(str_at(json_array_get(imgs, 2), "media_type"), "image");
	ck_assert(json_is_false(json_object_get(json_array_get(imgs, 3), "nsfw")));
	ck_assert_str_eq(str_at(json_array_get(imgs, 3), "media_type"), "video");
	ck_assert_str_eq(str_at(json_array_get(imgs, 4), "media_type"), "video");
	json_decref(m);
}
END_TEST

START_TEST(metadata_early_access_and_precision)
{
	json_t *model = json_loads(
		"{\"id\": 424300, \"name\": \"Early\", \"type\": \"LORA\", \"modelVersions\": ["
		" {\"id\": 4, \"name\": \"v4\", \"availability\": \"EarlyAccess\","
		"  \"files\": [{\"id\": 41, \"name\": \"e4.safetensors\", \"metadata\": {\"fp\": \"bf16\"}}]},"
		" {\"id\": 3, \"name\": \"v3\", \"availability\": \"Public\","
		"  \"earlyAccessEndsAt\": \"2999-01-01T00:00:00.000Z\","
		"  \"files\": [{\"id\": 31, \"name\": \"e3.safetensors\", \"metadata\": {\"format\": \"SafeTensor\"}}]},"
		" {\"id\": 2, \"name\": \"v2\", \"availability\": \"Public\","
		"  \"earlyAccessEndsAt\": \"2001-01-01T00:00:00.000Z\","
		"  \"files\": [{\"id\": 21, \"name\": \"e2.safetensors\", \"metadata\": {\"fp\": 16}}]},"
		" {\"id\": 1, \"name\": \"v1\", \"earlyAccessEndsAt\": null,"
		"  \"files\": [{\"id\": 11, \"name\": \"e1.safetensors\","
		"   \"metadata\": {\"format\": \"SafeTensor\", \"fp\": \"fp16\"}}]}]}",
		0, NULL);
	json_t *m;
	const json_t *f;

	ck_assert_ptr_nonnull(model);
	ck_assert_int_eq(fake_civitai_add_model(fake, model), 0);
	json_decref(model);
	m = metadata_of("civitai:424300");
	/* "EarlyAccess", or an end of early access still ahead, limits downloads */
	ck_assert(json_is_true(json_object_get(version_at(m, 0), "early_access")));
	ck_assert(json_is_true(json_object_get(version_at(m, 1), "early_access")));
	ck_assert(json_is_false(json_object_get(version_at(m, 2), "early_access")));
	ck_assert(json_is_false(json_object_get(version_at(m, 3), "early_access")));

	ck_assert_str_eq(str_at(file_with_id(version_at(m, 0), 41), "precision"), "bf16");
	assert_null(file_with_id(version_at(m, 1), 31), "precision");
	assert_null(file_with_id(version_at(m, 2), 21), "precision"); /* not a string */
	f = file_with_id(version_at(m, 3), 11);
	ck_assert_str_eq(str_at(f, "precision"), "fp16");
	ck_assert_str_eq(str_at(f, "format"), "SafeTensor");
	json_decref(m);

	/* the real documents say fp16 */
	m = metadata_of("civitai:1102");
	ck_assert_str_eq(str_at(json_array_get(json_object_get(version_at(m, 0), "files"), 0), "precision"), "fp16");
	ck_assert(json_is_false(json_object_get(version_at(m, 0), "early_access")));
	json_decref(m);
}
END_TEST

/* ---- updates: prefetch and check ------------------------------------------ */

/* @text with ' turned into ", so that JSON reads in C. */
static json_t *jq(const char *text)
{
	json_error_t err;
	char *t = strdup(text), *p;
	json_t *j;

	ck_assert_ptr_nonnull(t);
	for (p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(t, 0, &err);
	ck_assert_msg(j != NULL, "bad test JSON (%s): %s", err.text, t);
	free(t);
	return j;
}

/* Serve LORA model @id whose modelVersions are @versions (newest first, quotes as '). */
static void add_lora(long long id, const char *versions)
{
	json_t *m = jq(versions), *model = json_pack("{s:I, s:s, s:s, s:o}", "id", (json_int_t)id, "name", "Lora",
						      "type", "LORA", "modelVersions", m);

	ck_assert_ptr_nonnull(model);
	ck_assert_int_eq(fake_civitai_add_model(fake, model), 0);
	json_decref(model);
}

/* A one-version, one-file model @id (version id*10, file id*10+1). */
static void add_small(long long id)
{
	char v[256];

	snprintf(v, sizeof(v), "[{'id': %lld, 'name': 'v1', 'files': [{'id': %lld, 'name': 'm%lld.safetensors', "
		 "'primary': true}]}]", id * 10, id * 10 + 1, id);
	add_lora(id, v);
}

/* A pack.json dependency on file @fid of version @vid of model @mid, following the newest version. */
static json_t *lora_dep(const char *id, long long mid, long long vid, long long fid, const char *filename)
{
	json_t *d = json_pack("{s:s, s:s, s:b, s:n, s:{s:s, s:[]}, s:{s:s, s:{s:I, s:I, s:I}, s:n}, s:{s:s}}",
			      "id", id, "kind", "lora", "required", 1, "description",
			      "expose", "filename", filename, "trigger_words",
			      "selector", "strategy", "civitai_model_latest", "civitai", "model_id", (json_int_t)mid,
			      "version_id", (json_int_t)vid, "file_id", (json_int_t)fid, "constraints",
			      "update_policy", "mode", "follow_latest");

	ck_assert_ptr_nonnull(d);
	return d;
}

/* The exact path requests: list requests are "/api/v1/models", one model's "/api/v1/models/<id>". */
static int count_exact(const char *path)
{
	size_t i, n = requests();
	int c = 0;

	for (i = 0; i < n; i++)
		if (!strcmp(reqs[i].path, path))
			c++;
	return c;
}

/* The entry of @models for model @id. */
static const json_t *model_in(const json_t *models, long long id)
{
	const json_t *m;
	size_t i;

	json_array_foreach(models, i, m)
		if (json_integer_value(json_object_get(m, "model_id")) == id)
			return m;
	ck_abort_msg("model %lld not in models", id);
	return NULL;
}

START_TEST(prefetch_250_models_in_3_requests)
{
	json_t *deps = json_array(), *models = json_array(), *hint;
	const json_t *m;
	char id[32];
	long long i;
	size_t k;

	for (i = 1; i <= 250; i++) {
		add_small(80000 + i);
		snprintf(id, sizeof(id), "d%lld", i);
		json_array_append_new(deps, lora_dep(id, 80000 + i, (80000 + i) * 10, (80000 + i) * 10 + 1, "x"));
	}
	/* the same models again, one already fetched, one not Civitai's: no more requests */
	json_array_append_new(deps, lora_dep("again", 80001, 800010, 800011, "x"));
	add_small(80251);
	json_array_append_new(models, metadata_of("civitai:80251"));
	json_array_append_new(deps, lora_dep("fetched", 80251, 802510, 802511, "x"));
	hint = json_pack("{s:s, s:{s:s, s:s}}", "id", "base", "selector", "strategy", "base_model_hint", "base_model",
			 "SD 1.5");
	json_array_append_new(deps, hint);
	fake_civitai_clear_requests(fake);

	ck_assert_msg(src->prefetch(src, deps, models) == 0, "prefetch: %s", syn_error_last());
	ck_assert_int_eq(count_exact("/api/v1/models"), 3);
	ck_assert_int_eq(count_path("/api/v1/models/"), 0);
	ck_assert_int_eq((int)requests(), 3);
	assert_has(reqs[0].query, "ids=80001,80002,80003,");
	/* the log keeps 512 bytes of a query: the last batch, 50 ids, fits */
	assert_has(reqs[2].query, "ids=80201,80202,");
	assert_has(reqs[2].query, "80249,80250&limit=100");
	ck_assert_uint_eq(json_array_size(models), 251);
	json_array_foreach(models, k, m) {
		ck_assert_ptr_null(json_object_get(m, "error"));
		ck_assert_str_eq(str_at(m, "source"), "civitai");
		ck_assert_str_eq(str_at(m, "kind"), "lora");
	}
	m = model_in(models, 80250);
	ck_assert_int_eq(int_at(version_at(m, 0), "version_id"), 802500);
	ck_assert_str_eq(str_at(json_array_get(json_object_get(version_at(m, 0), "files"), 0), "name"),
			 "m80250.safetensors");

	/* everything is there: a second prefetch asks nothing */
	fake_civitai_clear_requests(fake);
	ck_assert_int_eq(src->prefetch(src, deps, models), 0);
	ck_assert_int_eq((int)requests(), 0);
	json_decref(deps);
	json_decref(models);
}
END_TEST

START_TEST(prefetch_fetches_a_hidden_model_alone)
{
	json_t *deps = json_array(), *models = json_array();

	add_small(81001);
	add_small(81002);
	add_small(81003);
	fake_civitai_hide_from_lists(fake, 81002, true);
	json_array_append_new(deps, lora_dep("a", 81001, 810010, 810011, "x"));
	json_array_append_new(deps, lora_dep("b", 81002, 810020, 810021, "x"));
	json_array_append_new(deps, lora_dep("c", 81003, 810030, 810031, "x"));
	fake_civitai_clear_requests(fake);

	ck_assert_msg(src->prefetch(src, deps, models) == 0, "prefetch: %s", syn_error_last());
	ck_assert_int_eq(count_exact("/api/v1/models"), 1);
	ck_assert_int_eq(count_exact("/api/v1/models/81002"), 1);
	ck_assert_int_eq((int)requests(), 2);
	ck_assert_uint_eq(json_array_size(models), 3);
	ck_assert_ptr_null(json_object_get(model_in(models, 81002), "error"));
	ck_assert_int_eq(int_at(version_at(model_in(models, 81002), 0), "version_id"), 810020);
	json_decref(deps);
	json_decref(models);
}
END_TEST

START_TEST(prefetch_records_a_removed_model)
{
	json_t *deps = json_array(), *models = json_array(), *in, *out = NULL;
	const json_t *p;

	add_small(82001);
	add_small(82002);
	ck_assert_int_eq(fake_civitai_remove_model(fake, 82002), 0);
	json_array_append_new(deps, lora_dep("kept", 82001, 820010, 820011, "m82001.safetensors"));
	json_array_append_new(deps, lora_dep("gone", 82002, 820020, 820021, "m82002.safetensors"));
	fake_civitai_clear_requests(fake);

	ck_assert_msg(src->prefetch(src, deps, models) == 0, "prefetch: %s", syn_error_last());
	ck_assert_int_eq(count_exact("/api/v1/models"), 1);
	ck_assert_int_eq(count_exact("/api/v1/models/82002"), 1); /* missing from the list: asked alone */
	ck_assert_uint_eq(json_array_size(models), 2);
	p = model_in(models, 82002);
	ck_assert_str_eq(str_at(p, "source"), "civitai");
	ck_assert_int_eq(int_at(p, "code"), SYN_ENOTFOUND);
	assert_has(str_at(p, "error"), "model 82002 not found on Civitai");
	assert_has(str_at(p, "error"), "deleted");
	ck_assert_int_eq(syn_error_code(), 0); /* recorded, not left as the thread's error */

	/* check reports it from the record, without asking again */
	fake_civitai_clear_requests(fake);
	in = json_pack("{s:O, s:n, s:O, s:[]}", "dependency", json_array_get(deps, 1), "artifact",
		       "pack_dependencies", deps, "pack_resolved");
	ck_assert_msg(src->check(src, in, models, &out) == 0, "check: %s", syn_error_last());
	ck_assert_str_eq(str_at(out, "status"), "error");
	ck_assert_int_eq(int_at(out, "code"), SYN_ENOTFOUND);
	assert_has(str_at(out, "message"), "not found on Civitai");
	assert_has(str_at(out, "message"), "deleted");
	ck_assert_int_eq(int_at(json_object_get(out, "current"), "version_id"), 820020);
	assert_null(out, "latest");
	ck_assert_int_eq((int)requests(), 0);
	json_decref(out);
	json_decref(in);

	/* a model check() has to fetch itself is recorded the same way */
	json_array_clear(models);
	in = json_pack("{s:O, s:n, s:O, s:[]}", "dependency", json_array_get(deps, 1), "artifact",
		       "pack_dependencies", deps, "pack_resolved");
	ck_assert_int_eq(src->check(src, in, models, &out), 0);
	ck_assert_str_eq(str_at(out, "status"), "error");
	ck_assert_int_eq(count_exact("/api/v1/models/82002"), 1);
	ck_assert_int_eq(int_at(model_in(models, 82002), "code"), SYN_ENOTFOUND);
	json_decref(out);
	ck_assert_int_eq(src->check(src, in, models, &out), 0);
	ck_assert_str_eq(str_at(out, "status"), "error");
	ck_assert_int_eq(count_exact("/api/v1/models/82002"), 1);
	ck_assert_uint_eq(json_array_size(models), 1);
	json_decref(out);
	json_decref(in);
	json_decref(deps);
	json_decref(models);
}
END_TEST

START_TEST(resolve_reports_a_recorded_failure)
{
	json_t *deps = json_array(), *models = json_array(), *in, *out = NULL;

	add_small(82101);
	ck_assert_int_eq(fake_civitai_remove_model(fake, 82101), 0);
	json_array_append_new(deps, lora_dep("gone", 82101, 821010, 821011, "m82101.safetensors"));
	ck_assert_int_eq(src->prefetch(src, deps, models), 0);

	/* resolve() fails with the recorded error instead of finding no file in it */
	fake_civitai_clear_requests(fake);
	in = json_pack("{s:O}", "dependency", json_array_get(deps, 0));
	ck_assert_int_eq(src->resolve(src, in, models, &out), SYN_ENOTFOUND);
	assert_has(syn_error_last(), "model 82101 not found on Civitai");
	ck_assert_ptr_null(out);
	ck_assert_int_eq((int)requests(), 0);
	json_decref(in);
	json_decref(deps);
	json_decref(models);
}
END_TEST

START_TEST(prefetch_retries_a_failing_batch)
{
	json_t *deps = json_array(), *models = json_array();
	const json_t *p;
	size_t i;

	add_small(83001);
	add_small(83002);
	json_array_append_new(deps, lora_dep("a", 83001, 830010, 830011, "x"));
	json_array_append_new(deps, lora_dep("b", 83002, 830020, 830021, "x"));

	/* one 503, then the answer */
	fake_civitai_fault(fake, "/api/v1/models", FAKE_FAULT_STATUS, 503, 0, 1);
	fake_civitai_clear_requests(fake);
	ck_assert_msg(src->prefetch(src, deps, models) == 0, "prefetch: %s", syn_error_last());
	ck_assert_int_eq(count_exact("/api/v1/models"), 2);
	ck_assert_int_eq(count_path("/api/v1/models/"), 0);
	ck_assert_uint_eq(json_array_size(models), 2);
	json_array_foreach(models, i, p)
		ck_assert_ptr_null(json_object_get(p, "error"));
	json_decref(models);

	/* 503 for good: each model records the batch's failure, none is asked alone */
	models = json_array();
	fake_civitai_clear_faults(fake);
	fake_civitai_fault(fake, "/api/v1/models", FAKE_FAULT_STATUS, 503, 0, -1);
	fake_civitai_clear_requests(fake);
	ck_assert_msg(src->prefetch(src, deps, models) == 0, "prefetch: %s", syn_error_last());
	ck_assert_int_eq(count_exact("/api/v1/models"), 4); /* http.c's retries */
	ck_assert_int_eq(count_path("/api/v1/models/"), 0);
	ck_assert_uint_eq(json_array_size(models), 2);
	json_array_foreach(models, i, p) {
		ck_assert_int_eq(int_at(p, "code"), SYN_ENETWORK);
		assert_has(str_at(p, "error"), "HTTP 503");
		assert_has(str_at(p, "error"), "try again later");
	}
	json_decref(models);
	json_decref(deps);
}
END_TEST

/* The lock entries of @deps, each as resolve() writes it. */
static json_t *lock_of(const json_t *deps, json_t *models)
{
	json_t *resolved = json_array(), *in, *entry;
	const json_t *d;
	size_t i;

	json_array_foreach(deps, i, d) {
		in = json_pack("{s:O}", "dependency", d);
		entry = NULL;
		ck_assert_msg(src->resolve(src, in, models, &entry) == 0, "resolve: %s", syn_error_last());
		ck_assert_ptr_nonnull(json_object_get(entry, "artifact"));
		json_array_append_new(resolved, entry);
		json_decref(in);
	}
	return resolved;
}

/* check() of dependency @i of @deps, locked as @resolved. */
static json_t *check_dep(const json_t *deps, const json_t *resolved, size_t i, json_t *models)
{
	json_t *in, *out = NULL;

	in = json_pack("{s:O, s:O, s:O, s:O}", "dependency", json_array_get(deps, i), "artifact",
		       json_object_get(json_array_get(resolved, i), "artifact"), "pack_dependencies", deps,
		       "pack_resolved", resolved);
	ck_assert_ptr_nonnull(in);
	ck_assert_msg(src->check(src, in, models, &out) == 0, "check: %s", syn_error_last());
	ck_assert_ptr_nonnull(out);
	json_decref(in);
	return out;
}

/* One dependency on file @fid of version @vid of model @mid, its lock, and check() of it. */
static json_t *check_one(long long mid, long long vid, long long fid, const char *filename)
{
	json_t *deps = json_array(), *models = json_array(), *resolved, *out;

	json_array_append_new(deps, lora_dep("main_lora", mid, vid, fid, filename));
	resolved = lock_of(deps, models);
	out = check_dep(deps, resolved, 0, models);
	json_decref(resolved);
	json_decref(models);
	json_decref(deps);
	return out;
}

static void assert_status(const json_t *out, const char *status)
{
	char *text = json_dumps(out, JSON_COMPACT);

	ck_assert_msg(!strcmp(str_at(out, "status"), status), "expected %s: %s", status, text);
	free(text);
}

START_TEST(check_the_same_version_is_current)
{
	json_t *out, *in, *dep;

	add_lora(84001, "[{'id': 841, 'name': 'v1', 'baseModel': 'SD 1.5', 'files': [{'id': 8411, "
		 "'name': 'LoraV1.safetensors', 'primary': true}]}]");
	out = check_one(84001, 841, 8411, "LoraV1.safetensors");
	assert_status(out, "current");
	ck_assert_int_eq(int_at(json_object_get(out, "current"), "version_id"), 841);
	ck_assert_str_eq(str_at(json_object_get(out, "current"), "name"), "v1");
	ck_assert_int_eq(int_at(json_object_get(out, "latest"), "version_id"), 841);
	ck_assert_ptr_null(json_object_get(out, "artifact"));
	ck_assert_ptr_null(json_object_get(out, "code"));
	json_decref(out);

	/* a selector naming one exact file never moves, and costs no request */
	dep = lora_dep("exact", 84001, 841, 8411, "LoraV1.safetensors");
	json_object_set_new(json_object_get(dep, "selector"), "strategy", json_string("civitai_file"));
	in = json_pack("{s:o, s:n, s:[], s:[]}", "dependency", dep, "artifact", "pack_dependencies", "pack_resolved");
	fake_civitai_clear_requests(fake);
	ck_assert_int_eq(src->check(src, in, NULL, &out), 0);
	assert_status(out, "current");
	ck_assert_str_eq(str_at(out, "message"), "its selector names one exact file");
	ck_assert_int_eq((int)requests(), 0);
	json_decref(out);

	/* another source's selector is not this source's to answer */
	json_object_set_new(json_object_get(json_object_get(in, "dependency"), "selector"), "strategy",
			    json_string("huggingface_file"));
	out = NULL;
	ck_assert_int_eq(src->check(src, in, NULL, &out), SYN_EPASSTHROUGH);
	ck_assert_ptr_null(out);
	json_decref(in);
}
END_TEST

START_TEST(check_update_continues_the_name)
{
	char sha[65];
	json_t *out;
	const json_t *a, *p, *c;

	add_lora(84002, "[{'id': 852, 'name': 'v2', 'files': ["
		 "  {'id': 8521, 'name': 'LoraV2.safetensors', 'metadata': {'format': 'SafeTensor', 'fp': 'fp16'}},"
		 "  {'id': 8522, 'name': 'Other.safetensors', 'primary': true}]},"
		 " {'id': 851, 'name': 'v1', 'files': [{'id': 8511, 'name': 'LoraV1.safetensors', 'primary': true}]}]");
	out = check_one(84002, 851, 8511, "LoraV1.safetensors");
	assert_status(out, "update");
	assert_null(out, "message");
	ck_assert_ptr_null(json_object_get(out, "code"));
	ck_assert_int_eq(int_at(json_object_get(out, "current"), "version_id"), 851);
	ck_assert_int_eq(int_at(json_object_get(out, "latest"), "version_id"), 852);

	/* the file continuing the name wins over the primary one */
	ck_assert(fake_civitai_file(fake, 8521, NULL, NULL, sha));
	a = json_object_get(out, "artifact");
	p = json_object_get(a, "provider");
	ck_assert_str_eq(str_at(a, "sha256"), sha);
	ck_assert_str_eq(str_at(a, "kind"), "lora");
	ck_assert(json_is_true(json_object_get(json_object_get(a, "integrity"), "sha256_verified")));
	ck_assert_str_eq(str_at(p, "name"), "civitai");
	ck_assert_int_eq(int_at(p, "file_id"), 8521);
	ck_assert_int_eq(int_at(p, "version_id"), 852);
	ck_assert_int_eq(int_at(p, "model_id"), 84002);
	ck_assert_str_eq(str_at(p, "filename"), "LoraV2.safetensors");
	assert_has(json_string_value(json_array_get(json_object_get(json_object_get(a, "download"), "urls"), 0)),
		   "/api/download/models/852");
	ck_assert_int_gt(int_at(a, "size_bytes"), 0);

	/* every file of the new version is offered for an explicit choice */
	ck_assert_uint_eq(json_array_size(json_object_get(out, "candidates")), 2);
	c = json_array_get(json_object_get(out, "candidates"), 0);
	ck_assert_int_eq(int_at(c, "file_id"), 8521);
	ck_assert_str_eq(str_at(c, "precision"), "fp16");
	ck_assert_str_eq(str_at(c, "format"), "SafeTensor");
	ck_assert(json_is_false(json_object_get(c, "primary")));
	ck_assert_str_eq(str_at(c, "sha256"), sha);
	ck_assert(json_equal(json_object_get(c, "artifact"), a));
	json_decref(out);
}
END_TEST

START_TEST(check_new_names_are_ambiguous)
{
	json_t *deps = json_array(), *models = json_array(), *resolved, *out;
	const json_t *c;

	add_lora(84003, "[{'id': 862, 'name': 'v2', 'files': ["
		 "  {'id': 8621, 'name': 'Alpha.safetensors', 'metadata': {'format': 'SafeTensor', 'fp': 'fp16'}},"
		 "  {'id': 8622, 'name': 'Beta.ckpt', 'metadata': {'format': 'PickleTensor', 'fp': 'fp32'}}]},"
		 " {'id': 861, 'name': 'v1', 'files': [{'id': 8611, 'name': 'Gamma.safetensors', 'primary': true}]}]");
	json_array_append_new(deps, lora_dep("main_lora", 84003, 861, 8611, "Gamma.safetensors"));
	resolved = lock_of(deps, models);
	out = check_dep(deps, resolved, 0, models);
	assert_status(out, "ambiguous");
	assert_has(str_at(out, "message"), "none continues 'Gamma.safetensors'");
	ck_assert_ptr_null(json_object_get(out, "artifact"));
	ck_assert_uint_eq(json_array_size(json_object_get(out, "candidates")), 2);
	c = json_array_get(json_object_get(out, "candidates"), 0);
	ck_assert_str_eq(str_at(c, "name"), "Alpha.safetensors");
	ck_assert_str_eq(str_at(c, "format"), "SafeTensor");
	ck_assert_str_eq(str_at(c, "precision"), "fp16");
	ck_assert_int_eq(int_at(json_object_get(json_object_get(c, "artifact"), "provider"), "file_id"), 8621);
	c = json_array_get(json_object_get(out, "candidates"), 1);
	ck_assert_str_eq(str_at(c, "name"), "Beta.ckpt");
	ck_assert_str_eq(str_at(c, "format"), "PickleTensor");
	ck_assert_str_eq(str_at(c, "precision"), "fp32");
	ck_assert_int_eq(int_at(json_object_get(json_object_get(c, "artifact"), "provider"), "version_id"), 862);
	json_decref(out);

	/* the selector's extensions settle it */
	json_object_set_new(json_object_get(json_array_get(deps, 0), "selector"), "constraints",
			    json_pack("{s:[s]}", "file_ext", ".SafeTensors"));
	out = check_dep(deps, resolved, 0, models);
	assert_status(out, "update");
	ck_assert_int_eq(int_at(json_object_get(json_object_get(out, "artifact"), "provider"), "file_id"), 8621);
	json_decref(out);

	/* one primary file is the pick */
	add_lora(84003, "[{'id': 862, 'name': 'v2', 'files': ["
		 "  {'id': 8621, 'name': 'Alpha.safetensors'}, {'id': 8622, 'name': 'Beta.ckpt', 'primary': true}]},"
		 " {'id': 861, 'name': 'v1', 'files': [{'id': 8611, 'name': 'Gamma.safetensors', 'primary': true}]}]");
	json_object_del(json_object_get(json_array_get(deps, 0), "selector"), "constraints");
	json_array_clear(models);
	out = check_dep(deps, resolved, 0, models);
	assert_status(out, "update");
	ck_assert_int_eq(int_at(json_object_get(json_object_get(out, "artifact"), "provider"), "file_id"), 8622);
	json_decref(out);

	/* a new version without files is nothing to move to */
	add_lora(84003, "[{'id': 862, 'name': 'v2', 'files': []},"
		 " {'id': 861, 'name': 'v1', 'files': [{'id': 8611, 'name': 'Gamma.safetensors', 'primary': true}]}]");
	json_array_clear(models);
	out = check_dep(deps, resolved, 0, models);
	assert_status(out, "current");
	assert_has(str_at(out, "message"), "the newest version, v2 (862), has no files");
	json_decref(out);

	/* nor is a model without versions */
	add_lora(84003, "[]");
	json_array_clear(models);
	out = check_dep(deps, resolved, 0, models);
	assert_status(out, "error");
	ck_assert_int_eq(int_at(out, "code"), SYN_ENOTFOUND);
	assert_has(str_at(out, "message"), "model 84003 has no versions on Civitai");
	json_decref(out);
	json_decref(resolved);
	json_decref(models);
	json_decref(deps);
}
END_TEST

START_TEST(check_a_pack_of_several_versions)
{
	static const char v200[] = " {'id': 200, 'name': 'B', 'files': [{'id': 2001, 'name': 'CharB_v1.safetensors', "
				   "'primary': true}]},";
	static const char v100[] = " {'id': 100, 'name': 'A', 'files': [{'id': 1001, 'name': 'CharA_v1.safetensors', "
				   "'primary': true}]}]";
	json_t *deps = json_array(), *models = json_array(), *resolved, *out;
	char versions[1024];
	char sha[65];

	snprintf(versions, sizeof(versions), "[%s%s", v200, v100);
	add_lora(84004, versions);
	json_array_append_new(deps, lora_dep("v200_x", 84004, 200, 2001, "CharB_v1.safetensors"));
	json_array_append_new(deps, lora_dep("v100_x", 84004, 100, 1001, "CharA_v1.safetensors"));
	resolved = lock_of(deps, models);

	/* the newest version is held: nothing to do for either */
	out = check_dep(deps, resolved, 0, models);
	assert_status(out, "current");
	json_decref(out);
	out = check_dep(deps, resolved, 1, models);
	assert_status(out, "current");
	ck_assert_str_eq(str_at(out, "message"), "the newest version, B (200), is held by dependency v200_x");
	ck_assert_int_eq(int_at(json_object_get(out, "current"), "version_id"), 100);
	ck_assert_str_eq(str_at(json_object_get(out, "current"), "name"), "A");
	ck_assert_ptr_null(json_object_get(out, "artifact"));
	json_decref(out);

	/* v300 continues only v200's file: that one moves, v100's stays */
	snprintf(versions, sizeof(versions), "[{'id': 300, 'name': 'C', 'files': [{'id': 3001, "
		 "'name': 'CharB_v2.safetensors', 'primary': true}]},%s%s", v200, v100);
	add_lora(84004, versions);
	json_array_clear(models);
	out = check_dep(deps, resolved, 0, models);
	assert_status(out, "update");
	ck_assert(fake_civitai_file(fake, 3001, NULL, NULL, sha));
	ck_assert_str_eq(str_at(json_object_get(out, "artifact"), "sha256"), sha);
	ck_assert_int_eq(int_at(json_object_get(json_object_get(out, "artifact"), "provider"), "version_id"), 300);
	json_decref(out);
	out = check_dep(deps, resolved, 1, models);
	assert_status(out, "current");
	assert_has(str_at(out, "message"), "has no file continuing 'CharA_v1.safetensors'");
	ck_assert_int_eq(int_at(json_object_get(out, "latest"), "version_id"), 300);
	ck_assert_ptr_null(json_object_get(out, "candidates"));
	json_decref(out);
	json_decref(resolved);
	json_decref(models);
	json_decref(deps);
}
END_TEST

START_TEST(check_reports_early_access_and_base_model)
{
	json_t *out;
	const json_t *latest, *current;

	add_lora(84005, "[{'id': 872, 'name': 'XL', 'baseModel': 'SDXL 1.0', 'availability': 'EarlyAccess',"
		 "  'publishedAt': '2026-11-30T10:00:00.000Z',"
		 "  'files': [{'id': 8721, 'name': 'StyleV2.safetensors', 'primary': true}]},"
		 " {'id': 871, 'name': 'v1', 'baseModel': 'SD 1.5',"
		 "  'files': [{'id': 8711, 'name': 'StyleV1.safetensors', 'primary': true}]}]");
	out = check_one(84005, 871, 8711, "StyleV1.safetensors");
	/* the core decides about early access and base-model changes: the source reports them */
	assert_status(out, "update");
	latest = json_object_get(out, "latest");
	current = json_object_get(out, "current");
	ck_assert(json_is_true(json_object_get(latest, "early_access")));
	ck_assert_str_eq(str_at(latest, "base_model"), "SDXL 1.0");
	ck_assert_str_eq(str_at(latest, "name"), "XL");
	ck_assert_str_eq(str_at(latest, "published_at"), "2026-11-30T10:00:00.000Z");
	ck_assert_str_eq(str_at(current, "base_model"), "SD 1.5");
	ck_assert_str_eq(str_at(current, "name"), "v1");
	json_decref(out);
}
END_TEST

START_TEST(metadata_errors)
{
	json_t *r = parse("civitai:999999"), *m = NULL;

	ck_assert_int_eq(src->metadata(src, r, &m), SYN_ENOTFOUND);
	assert_has(syn_error_last(), "model 999999 not found on Civitai");
	ck_assert_ptr_null(m);
	ck_assert_int_eq(count_path("/api/v1/models/999999"), 1);
	json_decref(r);

	/* a web page where JSON was expected */
	fake_civitai_fault(fake, "/api/v1/models/1102", FAKE_FAULT_HTML, 0, 0, -1);
	r = parse("civitai:1102");
	ck_assert_int_eq(src->metadata(src, r, &m), SYN_ECORRUPT);
	assert_has(syn_error_last(), "unexpected response from Civitai for model 1102");

	/* 500 is retried, then reported */
	fake_civitai_clear_faults(fake);
	fake_civitai_clear_requests(fake);
	fake_civitai_fault(fake, "/api/v1/models/1102", FAKE_FAULT_STATUS, 500, 0, -1);
	ck_assert_int_eq(src->metadata(src, r, &m), SYN_ENETWORK);
	assert_has(syn_error_last(), "model 1102");
	ck_assert_int_eq(count_path("/api/v1/models/1102"), 4);

	/* ... and recovers when the server does */
	fake_civitai_clear_faults(fake);
	fake_civitai_clear_requests(fake);
	fake_civitai_fault(fake, "/api/v1/models/1102", FAKE_FAULT_STATUS, 503, 0, 2);
	ck_assert_msg(src->metadata(src, r, &m) == 0, "%s", syn_error_last());
	ck_assert_int_eq(count_path("/api/v1/models/1102"), 3);
	json_decref(m);
	json_decref(r);
}
END_TEST

/* ---- segmented downloads into a blob writer ---------------------------------- */

#define SEG_FILE_SIZE ((size_t)3 << 20)
#define SEG_MIN ((uint64_t)64 << 10)

static void seg_setup(void)
{
	store_setup();
	clean_env();
	ck_assert_int_eq(fake_civitai_start(&fake, SYN_TEST_CIVITAI_FIXTURES, SEG_FILE_SIZE), 0);
	setenv("SYNAPSE_CIVITAI_URL", fake_civitai_url(fake), 1);
	setenv("SYNAPSE_CIVITAI_RETRY_MS", "10", 1);
	setenv("SYNAPSE_CIVITAI_STALL_TIMEOUT", "1", 1);
	/* slow enough per connection that several are in flight at once */
	fake_civitai_cdn_rate(fake, 8u << 20);
	reg = test_registry();
	src = new_source();
}

static void seg_teardown(void)
{
	if (src)
		src->free(src);
	src = NULL;
	syn_registry_free(reg);
	reg = NULL;
	fake_civitai_stop(fake);
	fake = NULL;
	store_teardown();
}

/* Download file 289 (version 1318) into a blob writer for @sha wanting segments; the writer in *@w. */
static int seg_download(struct syn_blob_writer **w, const char *sha, uint64_t segment_min)
{
	struct syn_sink *sink;
	char *url = url_of("/api/download/models/1318");
	int rc;

	ck_assert_msg(syn_blob_writer_open(w, test_store, sha) == 0, "%s", syn_error_last());
	sink = syn_blob_writer_sink(*w, NULL, NULL);
	sink->segment_min = segment_min;
	sink->connections = 4;
	rc = src->download(src, url, sink);
	free(url);
	return rc;
}

/* Entries under @rel (in the test directory) whose name contains @needle. */
static int count_named(const char *rel, const char *needle)
{
	char *path = test_path(rel);
	int n = test_count_named(path, needle);

	free(path);
	return n;
}

/* A closed range "bytes=a-b" of a recorded request, as [*s, *e). */
static bool closed_range(const struct fake_request *r, uint64_t *s, uint64_t *e)
{
	unsigned long long a, b;

	if (sscanf(r->range, "bytes=%llu-%llu", &a, &b) != 2)
		return false;
	*s = a;
	*e = b + 1;
	return true;
}

START_TEST(segments_fetch_the_exact_file)
{
	struct syn_blob_writer *w;
	const unsigned char *body;
	size_t len, i, n;
	char sha[65], got[65];
	unsigned char *seen;
	int ranged = 0;
	uint64_t s, e, k, sent = 0;

	file_body(289, &body, &len, sha);
	ck_assert_uint_eq(len, SEG_FILE_SIZE);
	ck_assert_msg(seg_download(&w, sha, SEG_MIN) == 0, "%s", syn_error_last());
	ck_assert_msg(syn_blob_writer_commit(w, got) == 0, "%s", syn_error_last());
	ck_assert_str_eq(got, sha);
	ck_assert(syn_blob_verify(test_store, sha) == 0);
	/* the CDN URL was asked for once; then several ranges over several connections */
	ck_assert_int_eq(count_path("/api/download/models/1318"), 1);
	n = requests();
	seen = calloc(len, 1);
	ck_assert_ptr_nonnull(seen);
	for (i = 0; i < n; i++) {
		if (!strncmp(reqs[i].path, "/cdn/", 5))
			sent += reqs[i].body_bytes;
		if (strncmp(reqs[i].path, "/cdn/", 5) || !closed_range(&reqs[i], &s, &e))
			continue;
		ck_assert_int_eq(reqs[i].status, 206);
		ck_assert_uint_le(e, len);
		for (k = s; k < e; k++)
			seen[k] = 1;
		ranged++;
	}
	ck_assert_int_ge(ranged, 4);
	/* ranges split for idle connections overlap only by what was in flight when they were cut */
	ck_assert_msg(sent <= len + len / 4, "the CDN sent %llu bytes for a file of %zu", (unsigned long long)sent, len);
	/* every byte was asked for by some range (the probe only looked at the headers) */
	for (k = 0; k < len; k++)
		ck_assert_msg(seen[k], "byte %llu was never asked for", (unsigned long long)k);
	free(seen);
	ck_assert_int_eq(count_named("store/data/tmp", ".ranges"), 0);
}
END_TEST

START_TEST(segments_at_full_speed_split_ranges_cleanly)
{
	struct syn_blob_writer *w;
	const unsigned char *body;
	size_t len;
	char sha[65], got[65];
	int i;

	file_body(289, &body, &len, sha);
	/* uncapped, ranges finish at once and idle connections split the ones in flight */
	fake_civitai_cdn_rate(fake, 0);
	for (i = 0; i < 5; i++) {
		ck_assert_msg(seg_download(&w, sha, SEG_MIN) == 0, "run %d: %s", i, syn_error_last());
		ck_assert_msg(syn_blob_writer_commit(w, got) == 0, "run %d: %s", i, syn_error_last());
		ck_assert_str_eq(got, sha);
		ck_assert_int_eq(syn_blob_remove(test_store, sha), 0);
	}
}
END_TEST

START_TEST(segments_small_file_is_one_stream)
{
	struct syn_blob_writer *w;
	const unsigned char *body;
	size_t len;
	char sha[65], got[65];

	file_body(289, &body, &len, sha);
	/* below segment_min: one request, in order, the probe being the download */
	ck_assert_msg(seg_download(&w, sha, (uint64_t)len + 1) == 0, "%s", syn_error_last());
	ck_assert_msg(syn_blob_writer_commit(w, got) == 0, "%s", syn_error_last());
	ck_assert_str_eq(got, sha);
	ck_assert_int_eq(count_path("/cdn/"), 1);
	ck_assert_str_eq(last_path("/cdn/")->range, "bytes=0-");
	ck_assert_uint_eq(last_path("/cdn/")->body_bytes, len);
}
END_TEST

START_TEST(segments_fall_back_when_range_is_ignored)
{
	struct syn_blob_writer *w;
	const unsigned char *body;
	size_t len;
	char sha[65], got[65];

	file_body(289, &body, &len, sha);
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_IGNORE_RANGE, 0, 0, -1);
	ck_assert_msg(seg_download(&w, sha, SEG_MIN) == 0, "%s", syn_error_last());
	ck_assert_msg(syn_blob_writer_commit(w, got) == 0, "%s", syn_error_last());
	ck_assert_str_eq(got, sha);
	ck_assert_int_eq(count_path("/cdn/"), 1);
	ck_assert_int_eq(last_path("/cdn/")->status, 200);
}
END_TEST

START_TEST(segments_survive_cuts_and_stalls)
{
	struct syn_blob_writer *w;
	const unsigned char *body;
	size_t len;
	char sha[65], got[65];

	file_body(289, &body, &len, sha);
	fake_civitai_fault_after(fake, "/cdn/", 2, FAKE_FAULT_CUT, 0, 0, 2);
	fake_civitai_fault_after(fake, "/cdn/", 4, FAKE_FAULT_STALL, 0, 3000, 1);
	ck_assert_msg(seg_download(&w, sha, SEG_MIN) == 0, "%s", syn_error_last());
	ck_assert_msg(syn_blob_writer_commit(w, got) == 0, "%s", syn_error_last());
	ck_assert_str_eq(got, sha);
	/* cut connections are retried on the same CDN URL */
	ck_assert_int_eq(count_path("/api/download/models/1318"), 1);
}
END_TEST

START_TEST(segments_back_off_on_429)
{
	struct syn_blob_writer *w;
	const unsigned char *body;
	size_t len, i, n;
	char sha[65], got[65];
	int limited = 0;

	file_body(289, &body, &len, sha);
	fake_civitai_fault_after(fake, "/cdn/", 3, FAKE_FAULT_STATUS, 429, 0, 3);
	ck_assert_msg(seg_download(&w, sha, SEG_MIN) == 0, "%s", syn_error_last());
	ck_assert_msg(syn_blob_writer_commit(w, got) == 0, "%s", syn_error_last());
	ck_assert_str_eq(got, sha);
	n = requests();
	for (i = 0; i < n; i++)
		limited += !strncmp(reqs[i].path, "/cdn/", 5) && reqs[i].status == 429;
	ck_assert_int_eq(limited, 3);
	/* a rate limit is not an expired link: the download URL was asked once */
	ck_assert_int_eq(count_path("/api/download/models/1318"), 1);
}
END_TEST

START_TEST(segments_ask_again_when_the_cdn_url_expires)
{
	struct syn_blob_writer *w;
	const unsigned char *body;
	size_t len;
	char sha[65], got[65];

	file_body(289, &body, &len, sha);
	fake_civitai_fault_after(fake, "/cdn/", 3, FAKE_FAULT_STATUS, 403, 0, 1);
	ck_assert_msg(seg_download(&w, sha, SEG_MIN) == 0, "%s", syn_error_last());
	ck_assert_msg(syn_blob_writer_commit(w, got) == 0, "%s", syn_error_last());
	ck_assert_str_eq(got, sha);
	/* a 403 from the CDN sends the client back through the download URL for a fresh one */
	ck_assert_int_eq(count_path("/api/download/models/1318"), 2);
}
END_TEST

/* The ranges a sidecar says are held, into @held (pairs), their count. */
static size_t sidecar_ranges(const char *sha, uint64_t held[][2], size_t max)
{
	char rel[128];
	char *path;
	json_t *doc, *r;
	size_t i, n = 0;

	snprintf(rel, sizeof(rel), "store/data/tmp/%s.ranges", sha);
	path = test_path(rel);
	doc = json_load_file(path, 0, NULL);
	free(path);
	ck_assert_ptr_nonnull(doc);
	json_array_foreach(json_object_get(doc, "held"), i, r) {
		if (n == max)
			break;
		held[n][0] = (uint64_t)json_integer_value(json_array_get(r, 0));
		held[n][1] = (uint64_t)json_integer_value(json_array_get(r, 1));
		n++;
	}
	json_decref(doc);
	return n;
}

START_TEST(segments_resume_keeps_every_held_range)
{
	struct syn_blob_writer *w;
	const unsigned char *body;
	uint64_t held[64][2], s, e, total = 0;
	size_t len, nheld, i, j, n;
	char sha[65], got[65];

	file_body(289, &body, &len, sha);
	/* a few ranges arrive, then the CDN fails for good */
	fake_civitai_fault_after(fake, "/cdn/", 5, FAKE_FAULT_STATUS, 500, 0, -1);
	ck_assert_int_eq(seg_download(&w, sha, SEG_MIN), SYN_ENETWORK);
	syn_blob_writer_abort(w, true);
	nheld = sidecar_ranges(sha, held, 64);
	ck_assert_uint_gt(nheld, 0);
	for (i = 0; i < nheld; i++)
		total += held[i][1] - held[i][0];
	ck_assert_uint_gt(total, 0);
	ck_assert_uint_lt(total, len);

	/* the next attempt asks only for what was not held */
	fake_civitai_clear_faults(fake);
	fake_civitai_clear_requests(fake);
	ck_assert_msg(seg_download(&w, sha, SEG_MIN) == 0, "%s", syn_error_last());
	ck_assert_msg(syn_blob_writer_commit(w, got) == 0, "%s", syn_error_last());
	ck_assert_str_eq(got, sha);
	n = requests();
	for (i = 0; i < n; i++) {
		if (strncmp(reqs[i].path, "/cdn/", 5) || !closed_range(&reqs[i], &s, &e))
			continue;
		for (j = 0; j < nheld; j++)
			ck_assert_msg(e <= held[j][0] || s >= held[j][1],
				      "range %llu-%llu asked again although %llu-%llu was held", (unsigned long long)s,
				      (unsigned long long)e, (unsigned long long)held[j][0],
				      (unsigned long long)held[j][1]);
	}
}
END_TEST

START_TEST(segments_of_wrong_bytes_are_never_committed)
{
	struct syn_blob_writer *w;
	const unsigned char *body;
	size_t len;
	char sha[65];

	file_body(289, &body, &len, sha);
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_WRONG_BYTES, 0, 0, -1);
	ck_assert_msg(seg_download(&w, sha, SEG_MIN) == 0, "%s", syn_error_last());
	ck_assert_int_eq(syn_blob_writer_commit(w, NULL), SYN_EMISMATCH);
	ck_assert(!syn_blob_exists(test_store, sha));
	ck_assert_int_eq(count_named("store/data/blobs", ".part"), 0);
	ck_assert_int_eq(count_named("store/data/tmp", ".ranges"), 0);
}
END_TEST

/* ---- downloads --------------------------------------------------------------- */

static int download(const char *path, struct mem_sink *ms)
{
	char *url = url_of(path);
	int rc = src->download(src, url, &ms->sink);

	free(url);
	return rc;
}

START_TEST(download_gets_the_exact_body)
{
	struct mem_sink ms;
	const unsigned char *body;
	size_t len;
	char sha[65], got[65];
	const struct fake_request *cdn;

	ms_init(&ms);
	file_body(289, &body, &len, sha);
	ck_assert_msg(download("/api/download/models/1318", &ms) == 0, "%s", syn_error_last());
	ck_assert_uint_eq(ms.data.len, len);
	ck_assert_int_eq(memcmp(ms.data.ptr, body, len), 0);
	ck_assert_int_eq(syn_sha256_mem(got, ms.data.ptr, ms.data.len), 0);
	ck_assert_str_eq(got, sha);
	ck_assert_uint_eq(ms.sink.offset, len);
	ck_assert_int_eq(ms.restarts, 0);
	ck_assert_int_ge(ms.progress_calls, 1);
	ck_assert_uint_eq(ms.last_done, len);
	ck_assert_uint_eq(ms.last_total, len);
	/* through the redirect to the CDN host, without a Range */
	ck_assert_int_eq(count_path("/api/download/models/1318"), 1);
	cdn = last_path("/cdn/");
	ck_assert_int_eq(strncmp(cdn->host, "localhost:", 10), 0);
	ck_assert_str_eq(cdn->range, "");
	ck_assert_int_eq(cdn->status, 200);
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(download_resumes_with_range)
{
	struct mem_sink ms;
	const unsigned char *body;
	size_t len, have = 10000;
	char sha[65], want_range[64];
	const struct fake_request *cdn;

	ms_init(&ms);
	file_body(289, &body, &len, sha);
	ms_preload(&ms, body, have);
	ck_assert_msg(download("/api/download/models/1318", &ms) == 0, "%s", syn_error_last());
	ck_assert_uint_eq(ms.data.len, len);
	ck_assert_int_eq(memcmp(ms.data.ptr, body, len), 0);
	ck_assert_int_eq(ms.restarts, 0);
	ck_assert_uint_eq(ms.last_total, len);
	cdn = last_path("/cdn/");
	snprintf(want_range, sizeof(want_range), "bytes=%zu-", have);
	ck_assert_str_eq(cdn->range, want_range);
	ck_assert_int_eq(cdn->status, 206);
	ck_assert_uint_eq(cdn->body_bytes, len - have);
	ck_assert_int_eq(count_path("/cdn/"), 1);
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(download_restarts_when_range_is_ignored)
{
	struct mem_sink ms;
	const unsigned char *body;
	size_t len;
	char sha[65];

	ms_init(&ms);
	file_body(289, &body, &len, sha);
	/* held bytes that are wrong: only a restart gives the right file */
	ck_assert_int_eq(syn_buf_puts(&ms.data, "garbage held from an older attempt"), 0);
	ms.sink.offset = ms.data.len;
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_IGNORE_RANGE, 0, 0, -1);
	ck_assert_msg(download("/api/download/models/1318", &ms) == 0, "%s", syn_error_last());
	ck_assert_int_eq(ms.restarts, 1);
	ck_assert_uint_eq(ms.data.len, len);
	ck_assert_int_eq(memcmp(ms.data.ptr, body, len), 0);
	ck_assert_int_eq(count_path("/cdn/"), 1);
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(download_restarts_after_416)
{
	struct mem_sink ms;
	const unsigned char *body;
	size_t len;
	char sha[65];
	unsigned char extra[16] = { 0 };

	ms_init(&ms);
	file_body(289, &body, &len, sha);
	/* more bytes than the file has: the server cannot satisfy the range */
	ms_preload(&ms, body, len);
	ck_assert_int_eq(syn_buf_put(&ms.data, extra, sizeof(extra)), 0);
	ms.sink.offset = ms.data.len;
	ck_assert_msg(download("/api/download/models/1318", &ms) == 0, "%s", syn_error_last());
	ck_assert_int_eq(ms.restarts, 1);
	ck_assert_uint_eq(ms.data.len, len);
	ck_assert_int_eq(memcmp(ms.data.ptr, body, len), 0);
	ck_assert_int_eq(count_path("/cdn/"), 2);
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(download_survives_one_cut)
{
	struct mem_sink ms;
	const unsigned char *body;
	size_t len;
	char sha[65], want_range[64];

	ms_init(&ms);
	file_body(289, &body, &len, sha);
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_CUT, 0, 0, 1);
	ck_assert_msg(download("/api/download/models/1318", &ms) == 0, "%s", syn_error_last());
	ck_assert_uint_eq(ms.data.len, len);
	ck_assert_int_eq(memcmp(ms.data.ptr, body, len), 0);
	ck_assert_int_eq(ms.restarts, 0);
	/* the second request went back through the API and asked for the rest */
	ck_assert_int_eq(count_path("/api/download/models/1318"), 2);
	ck_assert_int_eq(count_path("/cdn/"), 2);
	snprintf(want_range, sizeof(want_range), "bytes=%zu-", len / 2);
	ck_assert_str_eq(last_path("/cdn/")->range, want_range);
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(download_cut_forever_fails)
{
	struct mem_sink ms;
	const unsigned char *body;
	size_t len;
	char sha[65];

	ms_init(&ms);
	file_body(289, &body, &len, sha);
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_CUT, 0, 0, -1);
	ck_assert_int_eq(download("/api/download/models/1318", &ms), SYN_ENETWORK);
	assert_has(syn_error_last(), "/api/download/models/1318");
	assert_has(syn_error_last(), "4 attempts");
	ck_assert_int_eq(count_path("/cdn/"), 4);
	/* what arrived is kept for a later resume, and it is the file's start */
	ck_assert_uint_gt(ms.data.len, 0);
	ck_assert_uint_lt(ms.data.len, len);
	ck_assert_uint_eq(ms.sink.offset, ms.data.len);
	ck_assert_int_eq(memcmp(ms.data.ptr, body, ms.data.len), 0);
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(download_status_codes)
{
	static const struct {
		int status, code;
		const char *says;
	} cases[] = {
		{ 401, SYN_EAUTH, "requires a login" },
		{ 403, SYN_EAUTH, "early access" },
		{ 404, SYN_ENOTFOUND, "not found on Civitai (it may have been deleted)" },
		{ 410, SYN_ENOTFOUND, "archived by its creator: no longer downloadable" },
		{ 400, SYN_EINVALID, "HTTP 400" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct mem_sink ms;

		ms_init(&ms);
		fake_civitai_clear_faults(fake);
		fake_civitai_clear_requests(fake);
		fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STATUS, cases[i].status, 0, -1);
		ck_assert_int_eq(download("/api/download/models/1318", &ms), cases[i].code);
		assert_has(syn_error_last(), cases[i].says);
		assert_has(syn_error_last(), "/api/download/models/1318'");
		ck_assert_int_eq(count_path("/api/download/"), 1); /* never retried */
		ck_assert_int_eq(ms.writes, 0);
	}
	/* Civitai's own words come along */
	fake_civitai_clear_faults(fake);
	fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STATUS, 401, 0, -1);
	{
		struct mem_sink ms;

		ms_init(&ms);
		ck_assert_int_eq(download("/api/download/models/1318", &ms), SYN_EAUTH);
		assert_has(syn_error_last(), "requires you to be logged in");
		assert_has(syn_error_last(), "CIVITAI_API_TOKEN");
	}
}
END_TEST

START_TEST(download_retries_429_and_5xx)
{
	static const int statuses[] = { 429, 500, 502 };
	struct mem_sink ms;
	const unsigned char *body;
	size_t i, len;
	char sha[65];

	for (i = 0; i < 3; i++) {
		ms_init(&ms);
		fake_civitai_clear_faults(fake);
		fake_civitai_clear_requests(fake);
		fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STATUS, statuses[i], 0, -1);
		ck_assert_int_eq(download("/api/download/models/1318", &ms), SYN_ENETWORK);
		if (statuses[i] == 429)
			assert_has(syn_error_last(), "rate limited by Civitai");
		else
			assert_has(syn_error_last(), "HTTP 5");
		ck_assert_int_eq(count_path("/api/download/"), 4);
		ck_assert_int_eq(ms.writes, 0);
	}
	/* a passing failure is survived */
	ms_init(&ms);
	file_body(289, &body, &len, sha);
	fake_civitai_clear_faults(fake);
	fake_civitai_clear_requests(fake);
	fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STATUS, 429, 0, 2);
	ck_assert_msg(download("/api/download/models/1318", &ms) == 0, "%s", syn_error_last());
	ck_assert_uint_eq(ms.data.len, len);
	ck_assert_int_eq(count_path("/api/download/"), 3);
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(download_refuses_html)
{
	struct mem_sink ms;

	ms_init(&ms);
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_HTML, 0, 0, -1);
	ck_assert_int_eq(download("/api/download/models/1318", &ms), SYN_EAUTH);
	assert_has(syn_error_last(), "web page instead of the file");
	assert_has(syn_error_last(), "CIVITAI_API_TOKEN");
	ck_assert_int_eq(ms.writes, 0);
	ck_assert_uint_eq(ms.data.len, 0);
	ck_assert_int_eq(count_path("/cdn/"), 1);
}
END_TEST

START_TEST(download_stall_times_out)
{
	struct mem_sink ms;

	ms_init(&ms);
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_STALL, 0, 3000, -1);
	ck_assert_int_eq(download("/api/download/models/1318", &ms), SYN_ENETWORK);
	assert_has(syn_error_last(), "stalled: no data for 1 s");
	ck_assert_uint_eq(ms.sink.offset, ms.data.len);
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(download_of_a_missing_file)
{
	struct mem_sink ms;

	ms_init(&ms);
	ck_assert_int_eq(download("/api/download/models/77777777", &ms), SYN_ENOTFOUND);
	assert_has(syn_error_last(), "not found on Civitai");
	ck_assert_int_eq(count_path("/api/download/"), 1);
}
END_TEST

START_TEST(download_stays_on_https)
{
	struct mem_sink ms;
	char base[64];

	/* with an https base, a plain-http URL is never fetched */
	snprintf(base, sizeof(base), "https://127.0.0.1:%u", fake_civitai_port(fake));
	setenv("SYNAPSE_CIVITAI_URL", base, 1);
	setenv("CIVITAI_API_TOKEN", "secret", 1);
	recreate();
	ms_init(&ms);
	ck_assert_int_eq(download("/api/download/models/1318", &ms), SYN_EINVALID);
	assert_has(syn_error_last(), "https");
	assert_lacks(syn_error_last(), "secret");
	ck_assert_uint_eq(requests(), 0);
}
END_TEST

/* ---- previews ---------------------------------------------------------------- */

static char *first_image_url(void)
{
	json_t *m = metadata_of("civitai:1102");
	const json_t *img = json_array_get(json_object_get(version_at(m, 0), "images"), 0);
	char *url = strdup(str_at(img, "url"));

	json_decref(m);
	return url;
}

START_TEST(fetch_gets_a_preview)
{
	struct syn_buf out = SYN_BUF_INIT;
	char *url = first_image_url();

	ck_assert_msg(src->fetch(src, url, 1 << 20, &out) == 0, "%s", syn_error_last());
	ck_assert_uint_ge(out.len, 1024);
	ck_assert_int_eq((unsigned char)out.ptr[0], 0xff);
	ck_assert_int_eq((unsigned char)out.ptr[1], 0xd8);

	/* too big for the caller's limit */
	syn_buf_clear(&out);
	ck_assert_int_eq(src->fetch(src, url, 100, &out), SYN_EINVALID);
	assert_has(syn_error_last(), "larger than 100 bytes");
	ck_assert_uint_eq(out.len, 0);

	/* a login page is not an image */
	fake_civitai_fault(fake, "/images/", FAKE_FAULT_HTML, 0, 0, -1);
	ck_assert_int_eq(src->fetch(src, url, 1 << 20, &out), SYN_EAUTH);
	ck_assert_uint_eq(out.len, 0);
	fake_civitai_clear_faults(fake);

	fake_civitai_fault(fake, "/images/", FAKE_FAULT_STATUS, 404, 0, -1);
	ck_assert_int_eq(src->fetch(src, url, 1 << 20, &out), SYN_ENOTFOUND);
	free(url);
	syn_buf_dispose(&out);
}
END_TEST

/* ---- the token --------------------------------------------------------------- */

START_TEST(token_goes_where_it_belongs)
{
	struct mem_sink ms;
	const struct fake_request *api, *dl, *cdn;
	const unsigned char *body;
	size_t len;
	char sha[65];
	json_t *m;

	setenv("CIVITAI_API_TOKEN", "secret", 1);
	setenv("CIVITAI_API_KEY", "other", 1);
	recreate();
	fake_civitai_require_token(fake, "secret");

	m = metadata_of("civitai:1102");
	api = last_path("/api/v1/models/1102");
	ck_assert_str_eq(api->authorization, "Bearer secret");
	assert_lacks(api->query, "secret");
	json_decref(m);

	ms_init(&ms);
	file_body(289, &body, &len, sha);
	ck_assert_msg(download("/api/download/models/1318?token=stale&type=Model", &ms) == 0, "%s", syn_error_last());
	ck_assert_uint_eq(ms.data.len, len);
	dl = last_path("/api/download/");
	assert_has(dl->query, "token=secret");
	assert_lacks(dl->query, "stale");
	assert_has(dl->query, "type=Model");
	ck_assert_str_eq(dl->authorization, "");
	cdn = last_path("/cdn/");
	ck_assert_int_eq(strncmp(cdn->host, "localhost:", 10), 0);
	assert_lacks(cdn->query, "secret");
	ck_assert_str_eq(cdn->authorization, "");
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(token_never_in_messages)
{
	struct mem_sink ms;
	json_t *r, *m = NULL;
	size_t i, n;

	setenv("CIVITAI_API_TOKEN", "secret", 1);
	recreate();
	fake_civitai_require_token(fake, "another");

	/* refused token */
	ms_init(&ms);
	ck_assert_int_eq(download("/api/download/models/1318", &ms), SYN_EAUTH);
	assert_lacks(syn_error_last(), "secret");
	assert_has(syn_error_last(), "CIVITAI_API_TOKEN");
	/* a token in the URL given */
	ck_assert_int_eq(download("/api/download/models/88888888?token=secret", &ms), SYN_ENOTFOUND);
	assert_lacks(syn_error_last(), "secret");
	fake_civitai_fault(fake, "/api/download/", FAKE_FAULT_STATUS, 500, 0, -1);
	ck_assert_int_eq(download("/api/download/models/1318?token=secret", &ms), SYN_ENETWORK);
	assert_lacks(syn_error_last(), "secret");
	fake_civitai_clear_faults(fake);
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_STALL, 0, 3000, 1);
	fake_civitai_fault(fake, "/cdn/", FAKE_FAULT_CUT, 0, 0, -1);
	fake_civitai_require_token(fake, "secret");
	ck_assert_int_eq(download("/api/download/models/1318", &ms), SYN_ENETWORK);
	assert_lacks(syn_error_last(), "secret");
	fake_civitai_clear_faults(fake);
	r = parse("civitai:31337");
	ck_assert_int_eq(src->metadata(src, r, &m), SYN_ENOTFOUND);
	assert_lacks(syn_error_last(), "secret");
	json_decref(r);
	/* nor in the metadata handed back */
	m = metadata_of("civitai:1102");
	{
		char *dump = json_dumps(m, 0);

		assert_lacks(dump, "secret");
		free(dump);
	}
	json_decref(m);
	/* the CDN never saw it */
	n = requests();
	for (i = 0; i < n; i++)
		if (!strncmp(reqs[i].path, "/cdn/", 5)) {
			assert_lacks(reqs[i].query, "secret");
			ck_assert_str_eq(reqs[i].authorization, "");
		}
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(token_stays_off_other_hosts)
{
	struct syn_buf out = SYN_BUF_INIT;
	struct mem_sink ms;
	char *img = first_image_url(), *path, *url;
	size_t i, n;

	setenv("CIVITAI_API_TOKEN", "secret", 1);
	recreate();
	fake_civitai_clear_requests(fake);

	/* the base is 127.0.0.1: "localhost" is another host */
	path = strstr(img + 7, "/images/");
	ck_assert_ptr_nonnull(path);
	url = localhost_url(path);
	ck_assert_msg(src->fetch(src, url, 1 << 20, &out) == 0, "%s", syn_error_last());
	free(url);
	url = localhost_url("/api/download/models/1318");
	ms_init(&ms);
	ck_assert_msg(src->download(src, url, &ms.sink) == 0, "%s", syn_error_last());
	free(url);
	/* "@" tricks and hosts that merely contain the base's name */
	url = localhost_url("/api/download/models/1318?x=127.0.0.1");
	syn_buf_dispose(&ms.data);
	ms_init(&ms);
	ck_assert_msg(src->download(src, url, &ms.sink) == 0, "%s", syn_error_last());
	free(url);
	ck_assert_int_ge(asprintf(&url, "http://127.0.0.1:%u@localhost:%u/api/download/models/1318",
				  fake_civitai_port(fake), fake_civitai_port(fake)), 0);
	syn_buf_dispose(&ms.data);
	ms_init(&ms);
	ck_assert_msg(src->download(src, url, &ms.sink) == 0, "%s", syn_error_last());
	free(url);

	n = requests();
	ck_assert_uint_gt(n, 0);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(strncmp(reqs[i].host, "localhost:", 10), 0);
		assert_lacks(reqs[i].query, "secret");
		assert_lacks(reqs[i].authorization, "Bearer");
	}
	/* while on the base host itself a preview carries it */
	fake_civitai_clear_requests(fake);
	syn_buf_clear(&out);
	ck_assert_msg(src->fetch(src, img, 1 << 20, &out) == 0, "%s", syn_error_last());
	ck_assert_str_eq(last_path("/images/")->authorization, "Bearer secret");
	free(img);
	syn_buf_dispose(&out);
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(token_goes_to_subdomains)
{
	struct mem_sink ms;
	char base[64], *url;
	const struct fake_request *r;

	/* curl resolves *.localhost to the loopback address */
	snprintf(base, sizeof(base), "http://localhost:%u", fake_civitai_port(fake));
	setenv("SYNAPSE_CIVITAI_URL", base, 1);
	setenv("CIVITAI_API_KEY", "k2", 1);
	recreate();
	ms_init(&ms);
	ck_assert_int_ge(asprintf(&url, "http://cdn.localhost:%u/api/download/models/1318", fake_civitai_port(fake)), 0);
	ck_assert_msg(src->download(src, url, &ms.sink) == 0, "%s", syn_error_last());
	free(url);
	r = last_path("/api/download/");
	ck_assert_int_eq(strncmp(r->host, "cdn.localhost:", 14), 0);
	assert_has(r->query, "token=k2");
	/* 127.0.0.1 is not localhost */
	fake_civitai_clear_requests(fake);
	syn_buf_dispose(&ms.data);
	ms_init(&ms);
	ck_assert_int_eq(download("/api/download/models/1318", &ms), 0);
	assert_lacks(last_path("/api/download/")->query, "k2");
	syn_buf_dispose(&ms.data);
}
END_TEST

START_TEST(identify_asks_by_hash_a_hundred_at_a_time)
{
	json_t *hashes = json_array(), *models = json_array(), *out = NULL, *hit;
	const unsigned char *body;
	char known[65], orphan[65], hex[65];
	size_t len, n, i, posts = 0;

	ck_assert(fake_civitai_file(fake, 194, &body, &len, known));
	ck_assert(fake_civitai_file(fake, 289, &body, &len, orphan));
	for (i = 0; i < 250; i++) {
		snprintf(hex, sizeof(hex), "%064zx", i + 1);
		json_array_append_new(hashes, json_string(hex));
	}
	json_array_append_new(hashes, json_string(known));
	json_array_append_new(hashes, json_string(orphan));
	json_array_append_new(hashes, json_string("not a digest"));
	fake_civitai_clear_requests(fake);
	ck_assert(SYN_VTABLE_HAS(src, 4, identify));
	ck_assert_msg(src->identify(src, hashes, models, &out) == 0, "identify: %s", syn_error_last());
	/* the version of model 1244 is known, its model is not served: left out */
	ck_assert_uint_eq(json_object_size(out), 1);
	hit = json_object_get(out, known);
	ck_assert_ptr_nonnull(hit);
	ck_assert_int_eq(json_integer_value(json_object_get(hit, "model_id")), 1102);
	ck_assert_int_eq(json_integer_value(json_object_get(hit, "version_id")), 1292);
	ck_assert_int_eq(json_integer_value(json_object_get(hit, "file_id")), 194);
	ck_assert_ptr_nonnull(syn_pack_find_version(json_array_get(models, 0), 1292));
	n = fake_civitai_requests(fake, reqs, MAX_REQ);
	for (i = 0; i < n && i < MAX_REQ; i++) {
		if (strcmp(reqs[i].method, "POST"))
			continue;
		ck_assert_str_eq(reqs[i].path, "/api/v1/model-versions/by-hash");
		ck_assert_int_le(reqs[i].post_items, 100);
		posts++;
	}
	ck_assert_uint_eq(posts, 3);
	json_decref(out);
	json_decref(models);
	json_decref(hashes);
}
END_TEST

static Suite *civitai_suite(void)
{
	Suite *s = suite_create("civitai");

	TEST(s, refs_in_every_form, ref_setup, teardown);
	TEST(s, refs_of_others_pass_through, ref_setup, teardown);
	TEST(s, refs_malformed_are_invalid, ref_setup, teardown);
	TEST(s, refs_never_echo_a_token, ref_setup, teardown);
	TEST(s, refs_on_the_configured_host, ref_setup, teardown);
	TEST(s, bad_environment_is_refused, ref_setup, teardown);
	TEST(s, metadata_of_1102, fake_setup, teardown);
	TEST(s, metadata_of_a_listed_version_needs_one_request, fake_setup, teardown);
	TEST(s, metadata_adds_an_unlisted_version, fake_setup, teardown);
	TEST(s, metadata_refuses_a_version_of_another_model, fake_setup, teardown);
	TEST(s, metadata_kinds, fake_setup, teardown);
	TEST(s, metadata_odd_shapes, fake_setup, teardown);
	TEST(s, metadata_early_access_and_precision, fake_setup, teardown);
	TEST(s, metadata_errors, fake_setup, teardown);
	TEST(s, prefetch_250_models_in_3_requests, fake_setup, teardown);
	TEST(s, prefetch_fetches_a_hidden_model_alone, fake_setup, teardown);
	TEST(s, prefetch_records_a_removed_model, fake_setup, teardown);
	TEST(s, prefetch_retries_a_failing_batch, fake_setup, teardown);
	TEST(s, resolve_reports_a_recorded_failure, fake_setup, teardown);
	TEST(s, check_the_same_version_is_current, fake_setup, teardown);
	TEST(s, check_update_continues_the_name, fake_setup, teardown);
	TEST(s, check_new_names_are_ambiguous, fake_setup, teardown);
	TEST(s, check_a_pack_of_several_versions, fake_setup, teardown);
	TEST(s, check_reports_early_access_and_base_model, fake_setup, teardown);
	TEST(s, download_gets_the_exact_body, fake_setup, teardown);
	TEST(s, download_resumes_with_range, fake_setup, teardown);
	TEST(s, download_restarts_when_range_is_ignored, fake_setup, teardown);
	TEST(s, download_restarts_after_416, fake_setup, teardown);
	TEST(s, download_survives_one_cut, fake_setup, teardown);
	TEST(s, download_cut_forever_fails, fake_setup, teardown);
	TEST(s, download_status_codes, fake_setup, teardown);
	TEST(s, download_retries_429_and_5xx, fake_setup, teardown);
	TEST(s, segments_fetch_the_exact_file, seg_setup, seg_teardown);
	TEST(s, segments_at_full_speed_split_ranges_cleanly, seg_setup, seg_teardown);
	TEST(s, segments_small_file_is_one_stream, seg_setup, seg_teardown);
	TEST(s, segments_fall_back_when_range_is_ignored, seg_setup, seg_teardown);
	TEST(s, segments_survive_cuts_and_stalls, seg_setup, seg_teardown);
	TEST(s, segments_back_off_on_429, seg_setup, seg_teardown);
	TEST(s, segments_ask_again_when_the_cdn_url_expires, seg_setup, seg_teardown);
	TEST(s, segments_resume_keeps_every_held_range, seg_setup, seg_teardown);
	TEST(s, segments_of_wrong_bytes_are_never_committed, seg_setup, seg_teardown);
	TEST(s, download_refuses_html, fake_setup, teardown);
	TEST(s, download_stall_times_out, fake_setup, teardown);
	TEST(s, download_of_a_missing_file, fake_setup, teardown);
	TEST(s, download_stays_on_https, fake_setup, teardown);
	TEST(s, fetch_gets_a_preview, fake_setup, teardown);
	TEST(s, token_goes_where_it_belongs, fake_setup, teardown);
	TEST(s, token_never_in_messages, fake_setup, teardown);
	TEST(s, token_stays_off_other_hosts, fake_setup, teardown);
	TEST(s, token_goes_to_subdomains, fake_setup, teardown);
	TEST(s, identify_asks_by_hash_a_hundred_at_a_time, fake_setup, teardown);
	return s;
}

int main(void)
{
	return test_main(civitai_suite());
}
