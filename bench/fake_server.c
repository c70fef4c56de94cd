/*
 * syn-bench-server: a loopback Civitai for the install and scale benchmarks.
 * It serves model 4242 (a checkpoint, one file of the given size), model 5000
 * (a LoRA: one file and one preview image) and model 5001 (a LoRA of two
 * versions, one file each, for `import --version A --version B`), prints its
 * base URL and the SHA-256 of model 4242's file, and runs until its standard
 * input closes. Every file has the given size.
 *
 *   syn-bench-server <size-bytes>
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "fake_civitai.h"

int main(int argc, char **argv)
{
	struct fake_civitai *f;
	const unsigned char *body;
	char sha[65], buf[64];
	size_t len;
	json_t *model;
	char *end;
	unsigned long long size;

	if (argc != 2 || (size = strtoull(argv[1], &end, 10)) == 0 || *end) {
		fprintf(stderr, "usage: syn-bench-server <size-bytes>\n");
		return 2;
	}
	if (fake_civitai_start(&f, NULL, (size_t)size)) {
		fprintf(stderr, "syn-bench-server: cannot start\n");
		return 1;
	}
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
	printf("%s %s\n", fake_civitai_url(f), sha);
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	fake_civitai_stop(f);
	return 0;
}
