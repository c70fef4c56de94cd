/* Tests of the fs module. */
#include "common.h"

int main(void)
{
	Suite *s = suite_create("fs");

	return test_main(s);
}
