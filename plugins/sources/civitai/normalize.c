/*
 * Civitai's JSON -> the normalized model of <synapse/sys/source.h>.
 *
 * Civitai's documents changed shape over the years (tags as strings or as
 * {"name"} objects, nsfw as a bool or a word, meta or metadata), so every
 * member is read defensively and an absent or odd fact becomes null. File
 * names are copied verbatim: the core validates them.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "civitai.h"

static const struct {
	const char *type;
	const char *kind;
} kinds[] = {
	{ "Checkpoint", "checkpoint" },
	{ "LORA", "lora" },
	{ "LoCon", "lora" },
	{ "DoRA", "lora" },
	{ "TextualInversion", "embedding" },
	{ "VAE", "vae" },
	{ "Controlnet", "controlnet" },
	{ "Upscaler", "upscaler" },
	{ "Hypernetwork", "hypernetwork" },
	{ "TextEncoder", "text_encoder" },
	{ "UNet", "unet" },
	{ "CLIP", "clip" },
};

const char *civ_kind_of(const char *type)
{
	size_t i;

	if (type)
		for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
			if (!strcasecmp(type, kinds[i].type))
				return kinds[i].kind;
	return "unknown";
}

/* New references for members, json null when absent or of another type. */
static json_t *str_of(const json_t *v)
{
	return json_is_string(v) ? json_deep_copy(v) : json_null();
}

static json_t *int_of(const json_t *v)
{
	return json_is_integer(v) ? json_integer(json_integer_value(v)) : json_null();
}

static json_t *num_of(const json_t *v)
{
	return json_is_number(v) ? json_real(json_number_value(v)) : json_null();
}

/* round(sizeKB * 1024) without libm; null when missing or absurd. */
static json_t *size_of(const json_t *kb)
{
	double v;
	long long r;

	if (!json_is_number(kb))
		return json_null();
	v = json_number_value(kb) * 1024.0;
	if (!isfinite(v) || v < 0 || v > 9.0e18)
		return json_null();
	r = (long long)v;
	if (v - (double)r >= 0.5)
		r++;
	return json_integer(r);
}

/* A full SHA-256 in lowercase; anything else is no digest at all. */
static json_t *sha_of(const json_t *v)
{
	char hex[SYN_SHA256_HEX_LEN + 1];
	const char *s = json_string_value(v);
	size_t i;

	if (!s || json_string_length(v) != SYN_SHA256_HEX_LEN)
		return json_null();
	for (i = 0; i < SYN_SHA256_HEX_LEN; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return json_null();
		hex[i] = c;
	}
	hex[SYN_SHA256_HEX_LEN] = '\0';
	return json_string(hex);
}

/* A URL from Civitai with any token parameter removed; null when absent. */
static json_t *url_of(const json_t *v)
{
	struct syn_buf b = SYN_BUF_INIT;
	json_t *out;

	if (!json_is_string(v))
		return json_null();
	if (civ_url_redact(json_string_value(v), &b))
		return NULL;
	out = json_string(b.ptr);
	syn_buf_dispose(&b);
	return out;
}

/* Strings of an array (tags also come as {"name": ...} objects). */
static json_t *strings_of(const json_t *arr)
{
	json_t *out = json_array(), *v;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(arr, i, v) {
		const json_t *s = json_is_object(v) ? json_object_get(v, "name") : v;

		if (json_is_string(s) && json_array_append_new(out, json_deep_copy(s))) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* original-behaviour §4.5: true, a word other than none/false/safe, or a level above PG. */
static bool is_nsfw(const json_t *obj)
{
	const json_t *n = json_object_get(obj, "nsfw"), *lvl = json_object_get(obj, "nsfwLevel");
	const char *s = json_string_value(n);

	if (json_is_true(n))
		return true;
	if (s && strcasecmp(s, "none") && strcasecmp(s, "false") && strcasecmp(s, "safe"))
		return true;
	return json_is_number(lvl) && json_number_value(lvl) > 1;
}

static bool contains_ci(const char *s, const char *needle)
{
	return strcasestr(s, needle) != NULL;
}

/* The extension of the URL's path, without query or fragment ("" when none). */
static void path_ext(const char *url, char *ext, size_t size)
{
	size_t end = strcspn(url, "?#"), start = end, n;

	ext[0] = '\0';
	while (start > 0 && url[start - 1] != '/' && url[start - 1] != '.')
		start--;
	if (start == 0 || url[start - 1] != '.')
		return;
	n = end - start;
	if (n + 1 >= size)
		return;
	memcpy(ext, url + start, n);
	ext[n] = '\0';
}

/* original-behaviour §4.5: the media type as the URL tells it. */
static const char *media_type_of(const char *url, const json_t *type)
{
	static const char *const video_markers[] = { "/video/", "/videos/", ".mp4", ".webm", "transcode=true",
						     "type=video", NULL };
	static const char *const video_exts[] = { "mp4", "webm", "mov", "avi", "mkv", "m4v", "ogv", NULL };
	static const char *const image_exts[] = { "jpg", "jpeg", "png", "webp", "gif", "bmp", "tiff", "avif", NULL };
	char ext[16];
	size_t i;

	if (contains_ci(url, "anim=false"))
		return "image";
	for (i = 0; video_markers[i]; i++)
		if (contains_ci(url, video_markers[i]))
			return "video";
	path_ext(url, ext, sizeof(ext));
	for (i = 0; video_exts[i]; i++)
		if (!strcasecmp(ext, video_exts[i]))
			return "video";
	for (i = 0; image_exts[i]; i++)
		if (!strcasecmp(ext, image_exts[i]))
			return "image";
	/* the URL says nothing: trust Civitai's own "type" */
	if (json_is_string(type) && !strcasecmp(json_string_value(type), "video"))
		return "video";
	return "image";
}

/* "meta", else "metadata", unwrapping a nested meta.meta; null unless an object. */
static json_t *meta_of(const json_t *img)
{
	const json_t *m = json_object_get(img, "meta"), *inner;

	if (!m || json_is_null(m))
		m = json_object_get(img, "metadata");
	inner = json_object_get(m, "meta");
	if (json_is_object(inner))
		m = inner;
	return json_is_object(m) ? json_deep_copy(m) : json_null();
}

static json_t *image_of(const json_t *img)
{
	const json_t *url = json_object_get(img, "url");
	json_t *o;
	int rc = 0;

	if (!json_is_string(url))
		return json_null(); /* skipped by the caller */
	o = json_object();
	if (!o)
		return NULL;
	rc |= json_object_set_new(o, "url", json_deep_copy(url));
	rc |= json_object_set_new(o, "nsfw", json_boolean(is_nsfw(img)));
	rc |= json_object_set_new(o, "nsfw_level", int_of(json_object_get(img, "nsfwLevel")));
	rc |= json_object_set_new(o, "width", int_of(json_object_get(img, "width")));
	rc |= json_object_set_new(o, "height", int_of(json_object_get(img, "height")));
	rc |= json_object_set_new(o, "media_type",
				  json_string(media_type_of(json_string_value(url), json_object_get(img, "type"))));
	rc |= json_object_set_new(o, "meta", meta_of(img));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *file_of(const json_t *f)
{
	const json_t *hashes = json_object_get(f, "hashes"), *meta = json_object_get(f, "metadata");
	json_t *o;
	int rc = 0;

	if (!json_is_object(f))
		return json_null(); /* skipped by the caller */
	o = json_object();
	if (!o)
		return NULL;
	rc |= json_object_set_new(o, "file_id", int_of(json_object_get(f, "id")));
	rc |= json_object_set_new(o, "name", str_of(json_object_get(f, "name")));
	rc |= json_object_set_new(o, "size_bytes", size_of(json_object_get(f, "sizeKB")));
	rc |= json_object_set_new(o, "sha256", sha_of(json_object_get(hashes, "SHA256")));
	rc |= json_object_set_new(o, "autov2", str_of(json_object_get(hashes, "AutoV2")));
	rc |= json_object_set_new(o, "primary", json_boolean(json_is_true(json_object_get(f, "primary"))));
	rc |= json_object_set_new(o, "type", str_of(json_object_get(f, "type")));
	rc |= json_object_set_new(o, "format", str_of(json_object_get(meta, "format")));
	rc |= json_object_set_new(o, "precision", str_of(json_object_get(meta, "fp")));
	rc |= json_object_set_new(o, "download_url", url_of(json_object_get(f, "downloadUrl")));
	if (rc) {
		json_decref(o);
		return NULL;
	}
	return o;
}

/* Apply @fn to each element of @arr, keeping non-null results. */
static json_t *map_array(const json_t *arr, json_t *(*fn)(const json_t *))
{
	json_t *out = json_array(), *v;
	size_t i;

	if (!out)
		return NULL;
	json_array_foreach(arr, i, v) {
		json_t *n = fn(v);

		if (json_is_null(n))
			continue;
		if (json_array_append_new(out, n)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static json_t *version_download_url(const struct civ_source *cs, const json_t *v)
{
	const json_t *url = json_object_get(v, "downloadUrl"), *id = json_object_get(v, "id");
	struct syn_buf b = SYN_BUF_INIT;
	json_t *out;

	if (json_is_string(url))
		return url_of(url);
	if (!json_is_integer(id))
		return json_null();
	/* Civitai leaves it out of some shapes; the endpoint is fixed */
	if (syn_buf_printf(&b, "%s/api/download/models/%lld", cs->base, (long long)json_integer_value(id)))
		return NULL;
	out = json_string(b.ptr);
	syn_buf_dispose(&b);
	return out;
}

/*
 * Whether downloads of @v are limited to early access: Civitai says so in
 * "availability", or "earlyAccessEndsAt" lies ahead. Both are ISO-8601 UTC
 * ("2026-01-02T03:04:05.000Z"), so comparing the text compares the times.
 */
static bool is_early_access(const json_t *v)
{
	const char *avail = json_string_value(json_object_get(v, "availability"));
	const char *ends = json_string_value(json_object_get(v, "earlyAccessEndsAt"));
	char now[32];
	time_t t = time(NULL);
	struct tm tm;

	if (avail && !strcasecmp(avail, "EarlyAccess"))
		return true;
	if (!ends || t == (time_t)-1 || !gmtime_r(&t, &tm) || !strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%S", &tm))
		return false;
	return strncmp(ends, now, strlen(now)) > 0;
}

int civ_normalize_version(const struct civ_source *cs, const json_t *v, json_t **out)
{
	json_t *o;
	int rc = 0;

	*out = NULL;
	if (!json_is_object(v))
		return syn_error_set(SYN_ECORRUPT, "a model version from Civitai is not a JSON object");
	if (!json_is_integer(json_object_get(v, "id")))
		return syn_error_set(SYN_ECORRUPT, "a model version from Civitai has no numeric id");
	o = json_object();
	if (!o)
		return syn_error_set(SYN_ENOMEM, "out of memory");
	rc |= json_object_set_new(o, "version_id", int_of(json_object_get(v, "id")));
	rc |= json_object_set_new(o, "name", str_of(json_object_get(v, "name")));
	rc |= json_object_set_new(o, "base_model", str_of(json_object_get(v, "baseModel")));
	rc |= json_object_set_new(o, "trained_words", strings_of(json_object_get(v, "trainedWords")));
	rc |= json_object_set_new(o, "published_at", str_of(json_object_get(v, "publishedAt")));
	rc |= json_object_set_new(o, "air", str_of(json_object_get(v, "air")));
	rc |= json_object_set_new(o, "early_access", json_boolean(is_early_access(v)));
	rc |= json_object_set_new(o, "download_url", version_download_url(cs, v));
	rc |= json_object_set_new(o, "files", map_array(json_object_get(v, "files"), file_of));
	rc |= json_object_set_new(o, "images", map_array(json_object_get(v, "images"), image_of));
	if (rc) {
		json_decref(o);
		return syn_error_set(SYN_ENOMEM, "out of memory");
	}
	*out = o;
	return 0;
}

int civ_normalize_model(const struct civ_source *cs, const json_t *model, long long model_id, json_t **out)
{
	const json_t *id = json_object_get(model, "id"), *type = json_object_get(model, "type");
	const json_t *stats = json_object_get(model, "stats"), *versions = json_object_get(model, "modelVersions");
	const json_t *nsfw = json_object_get(model, "nsfw"), *level = json_object_get(model, "nsfwLevel");
	json_t *o, *list, *v;
	struct syn_buf url = SYN_BUF_INIT;
	size_t i;
	int rc = 0;

	*out = NULL;
	if (!json_is_object(model))
		return syn_error_set(SYN_ECORRUPT, "unexpected response from Civitai for model %lld: not a JSON object",
				     model_id);
	if (versions && !json_is_array(versions))
		return syn_error_set(SYN_ECORRUPT,
				     "unexpected response from Civitai for model %lld: modelVersions is not a list",
				     model_id);
	if (json_is_integer(id) && json_integer_value(id) > 0)
		model_id = (long long)json_integer_value(id);
	if (syn_buf_printf(&url, "%s/models/%lld", cs->base, model_id))
		return SYN_ENOMEM;
	o = json_object();
	list = json_array();
	if (!o || !list) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		json_decref(list);
		goto out;
	}
	rc |= json_object_set_new(o, "source", json_string("civitai"));
	rc |= json_object_set_new(o, "model_id", json_integer(model_id));
	rc |= json_object_set_new(o, "name", str_of(json_object_get(model, "name")));
	rc |= json_object_set_new(o, "type", str_of(type));
	rc |= json_object_set_new(o, "kind", json_string(civ_kind_of(json_string_value(type))));
	rc |= json_object_set_new(o, "description", str_of(json_object_get(model, "description")));
	rc |= json_object_set_new(o, "author", str_of(json_object_get(json_object_get(model, "creator"), "username")));
	rc |= json_object_set_new(o, "tags", strings_of(json_object_get(model, "tags")));
	rc |= json_object_set_new(o, "nsfw", nsfw || level ? json_boolean(is_nsfw(model)) : json_null());
	rc |= json_object_set_new(o, "url", json_string(url.ptr));
	rc |= json_object_set_new(o, "download_count", int_of(json_object_get(stats, "downloadCount")));
	rc |= json_object_set_new(o, "rating", num_of(json_object_get(stats, "rating")));
	rc |= json_object_set_new(o, "versions", list);
	if (rc) {
		rc = syn_error_set(SYN_ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(versions, i, v) {
		json_t *nv;

		rc = civ_normalize_version(cs, v, &nv);
		if (rc) {
			syn_error_prefix("unexpected response from Civitai for model %lld", model_id);
			goto out;
		}
		if (json_array_append_new(list, nv)) {
			rc = syn_error_set(SYN_ENOMEM, "out of memory");
			goto out;
		}
	}
	*out = o;
	o = NULL;
out:
	json_decref(o);
	syn_buf_dispose(&url);
	return rc;
}
