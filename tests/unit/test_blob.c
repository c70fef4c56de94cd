/* Tests of the blob module. */
#include "common.h"

int main(void)
{
	Suite *s = suite_create("blob");

	return test_main(s);
}
