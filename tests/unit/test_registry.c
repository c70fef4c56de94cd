/* Tests of the registry module. */
#include "common.h"

int main(void)
{
	Suite *s = suite_create("registry");

	return test_main(s);
}
