/*
 * syn-bench-server: a loopback Civitai for the install benchmark. It serves
 * model 4242 with one file of the given size, prints its base URL and the
 * file's SHA-256, and runs until its standard input closes.
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
	printf("%s %s\n", fake_civitai_url(f), sha);
	fflush(stdout);
	while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
		;
	fake_civitai_stop(f);
	return 0;
}
