// SPDX-License-Identifier: GPL-2.0
/*
 * bpfh-map-test NAME...: run only the named map tests of a kernel tree's BPF selftests.
 *
 * test_maps runs every map test it has, one after the other, and has no filter; under TCG
 * that is many minutes for the one test the harness wants. The map tests are separate files
 * (tools/testing/selftests/bpf/map_tests/NAME.c, each defining test_NAME()), which the
 * selftests' Makefile compiles to NAME.test.o; harness/selftests/build.ts links this main with
 * the wanted ones and the tree's libbpf. Each test reports itself as test_maps does:
 * "test_NAME:PASS", or a CHECK failure line and exit(-1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void test_sk_storage_map(void);

static const struct map_test {
	const char *name;
	void (*run)(void);
} map_tests[] = {
	{ "sk_storage_map", test_sk_storage_map },
};

int main(int argc, char **argv)
{
	size_t i;
	int a;

	/* As test_maps does: some map tests draw random keys. */
	srand(time(NULL));
	if (argc < 2) {
		fprintf(stderr, "usage: %s NAME...\n", argv[0]);
		return 2;
	}
	for (a = 1; a < argc; a++) {
		const struct map_test *t = NULL;

		for (i = 0; i < sizeof(map_tests) / sizeof(map_tests[0]); i++)
			if (!strcmp(map_tests[i].name, argv[a]))
				t = &map_tests[i];
		if (!t) {
			fprintf(stderr, "%s: no map test %s\n", argv[0], argv[a]);
			return 2;
		}
		t->run();
		fflush(stdout);
	}
	return 0;
}
