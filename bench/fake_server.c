/*
 * syn-bench-server: a loopback Civitai for the install and scale benchmarks.
 * It serves model 4242 (a checkpoint, one file of the given size), model 5000
 * (a LoRA: one file and one preview image) and model 5001 (a LoRA of two
 * versions, one file each, for `import --version A --version B`), prints its
 * base URL and the SHA-256 of model 4242's file, and runs until its standard
 * input closes. Every file has the given size.
 *
 * With <updates>, it also serves models 1000000 ... 1000000 + <updates> - 1,
 * shaped as `syn-bench scalepacks` names the packs it clones from model 5000,
 * each with a newer version whose file continues the pack's file name: the
 * update benchmark's store has one update per pack. A line "count" on its
 * standard input prints the number of API requests (/api/v1/...) since the
 * last count.
 *
 * With --cdn-rate=<bytes/s>, every file body is sent at most that fast per
 * connection, as CDNs cap each connection (Range is honoured as always).
 *
 *   syn-bench-server [--cdn-rate=<bytes/s>] <size-bytes> [<updates>]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fake_civitai.h"

/*
 * Model 1000000 + @i as the i-th clone of model 5000 names it (version
 * 10000000 + 10i, file 100000001 + 100i, "scale_lora_<i>.safetensors"),
 * with a newer version 5 whose file is "scale_lora_<i>_v2.safetensors".
 */
static int add_updated(struct fake_civitai *f, long i)
{
	long long mid = 1000000 + i, old_vid = mid * 10, new_vid = mid * 10 + 5;
	char old_name[64], new_name[64];
	json_t *model;
	int rc;

	snprintf(old_name, sizeof(old_name), "scale_lora_%05ld.safetensors", i);
	snprintf(new_name, sizeof(new_name), "scale_lora_%05ld_v2.safetensors", i);
	model = json_pack("{s:I, s:s+, s:s, s:[{s:I, s:s, s:s, s:[s], s:[{s:I, s:s, s:f, s:b, s:s}], s:[]}, "
		"{s:I, s:s, s:s, s:[s], s:[{s:I, s:s, s:f, s:b, s:s}], s:[]}]}",
		"id", mid, "name", "Scale Lora ", old_name, "type", "LORA", "modelVersions",
		"id", new_vid, "name", "v2", "baseModel", "SD 1.5", "trainedWords", "scalebench",
		"files", "id", new_vid * 10 + 1, "name", new_name, "sizeKB", 16.0, "primary", 1, "type", "Model",
		"images",
		"id", old_vid, "name", "v1", "baseModel", "SD 1.5", "trainedWords", "scalebench",
		"files", "id", old_vid * 10 + 1, "name", old_name, "sizeKB", 16.0, "primary", 1, "type", "Model",
		"images");
	rc = model ? fake_civitai_add_model(f, model) : -1;
	json_decref(model);
	return rc;
}

/* API requests since the last call (the log is cleared). */
static size_t api_requests(struct fake_civitai *f)
{
	size_t n = fake_civitai_requests(f, NULL, 0), k, i, api = 0;
	struct fake_request *log = calloc(n + 1, sizeof(*log));

	k = log ? fake_civitai_requests(f, log, n) : 0;
	for (i = 0; i < k && i < n; i++)
		api += !strncmp(log[i].path, "/api/v1/", 8);
	free(log);
	fake_civitai_clear_requests(f);
	return api;
}

int main(int argc, char **argv)
{
	struct fake_civitai *f;
	const unsigned char *body;
	char sha[65], buf[64];
	size_t len;
	json_t *model;
	char *end;
	unsigned long long size;
	long updates = 0, i;
	unsigned long long cdn_rate = 0;
	FILE *in;

	if (argc > 1 && !strncmp(argv[1], "--cdn-rate=", 11)) {
		cdn_rate = strtoull(argv[1] + 11, &end, 10);
		if (*end || !cdn_rate) {
			fprintf(stderr, "syn-bench-server: --cdn-rate needs a positive number of bytes per second\n");
			return 2;
		}
		argv++;
		argc--;
	}
	if ((argc != 2 && argc != 3) || (size = strtoull(argv[1], &end, 10)) == 0 || *end ||
	    (argc == 3 && ((updates = strtol(argv[2], &end, 10)) < 0 || *end || updates > 100000))) {
		fprintf(stderr, "usage: syn-bench-server [--cdn-rate=<bytes/s>] <size-bytes> [<updates>]\n");
		return 2;
	}
	if (fake_civitai_start(&f, NULL, (size_t)size)) {
		fprintf(stderr, "syn-bench-server: cannot start\n");
		return 1;
	}
	fake_civitai_cdn_rate(f, cdn_rate);
	model = json_pack("{s:i, s:s, s:s, s:[{s:i, s:s, s:s, s:[], s:[{s:i, s:s, s:f, s:b, s:s}], s:[]}]}",
		"id", 4242, "name", "Bench Model", "type", "Checkpoint", "modelVersions",
		"id", 42420, "name", "v1", "baseModel", "SDXL 1.0", "trainedWords",
		"files", "id", 424200, "name", "bench.safetensors", "sizeKB", 1.0, "primary", 1, "type", "Model",
		"images");
	if (!model || fake_civitai_add_model(f, model) || !fake_civitai_file(f, 424200, &body, &len, sha)) {
		fprintf(stderr, "syn-bench-server: cannot add the model\n");
		return 1;
	}
	json_decref(model);
	model = json_pack("{s:i, s:s, s:s, s:[{s:s}], s:[{s:i, s:s, s:s, s:[s], s:[{s:i, s:s, s:f, s:b, s:s}], "
		"s:[{s:s, s:i, s:i}]}]}",
		"id", 5000, "name", "Scale Lora", "type", "LORA", "tags", "name", "bench", "modelVersions",
		"id", 50000, "name", "v1", "baseModel", "SD 1.5", "trainedWords", "scalebench",
		"files", "id", 500000, "name", "scale_lora.safetensors", "sizeKB", 16.0, "primary", 1, "type", "Model",
		"images", "url", "https://image.civitai.com/bench/width=450/scale.jpeg", "width", 450, "height", 600);
	if (!model || fake_civitai_add_model(f, model)) {
		fprintf(stderr, "syn-bench-server: cannot add model 5000\n");
		return 1;
	}
	json_decref(model);
	model = json_pack("{s:i, s:s, s:s, s:[{s:i, s:s, s:s, s:[s], s:[{s:i, s:s, s:f, s:b, s:s}], s:[]}, "
		"{s:i, s:s, s:s, s:[s], s:[{s:i, s:s, s:f, s:b, s:s}], s:[]}]}",
		"id", 5001, "name", "Scale Pair", "type", "LORA", "modelVersions",
		"id", 50011, "name", "v2", "baseModel", "SD 1.5", "trainedWords", "scalepair",
		"files", "id", 500011, "name", "scale_pair_v2.safetensors", "sizeKB", 16.0, "primary", 1, "type", "Model",
		"images",
		"id", 50010, "name", "v1", "baseModel", "SD 1.5", "trainedWords", "scalepair",
		"files", "id", 500010, "name", "scale_pair_v1.safetensors", "sizeKB", 16.0, "primary", 1, "type", "Model",
		"images");
	if (!model || fake_civitai_add_model(f, model)) {
		fprintf(stderr, "syn-bench-server: cannot add model 5001\n");
		return 1;
	}
	json_decref(model);
	for (i = 0; i < updates; i++)
		if (add_updated(f, i)) {
			fprintf(stderr, "syn-bench-server: cannot add model %ld\n", 1000000 + i);
			return 1;
		}
	printf("%s %s\n", fake_civitai_url(f), sha);
	fflush(stdout);
	in = fdopen(STDIN_FILENO, "r");
	while (in && fgets(buf, sizeof(buf), in)) {
		if (!strcmp(buf, "count\n")) {
			printf("%zu\n", api_requests(f));
			fflush(stdout);
		}
	}
	fake_civitai_stop(f);
	return 0;
}
