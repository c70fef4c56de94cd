/* Tests of the store module. */
#include "common.h"

int main(void)
{
	Suite *s = suite_create("store");

	return test_main(s);
}
