/* Tests of the util module. */
#include "common.h"

int main(void)
{
	Suite *s = suite_create("cli");

	return test_main(s);
}
