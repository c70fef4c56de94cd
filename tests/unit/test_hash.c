/* Tests of the hash module. */
#include "common.h"

int main(void)
{
	Suite *s = suite_create("hash");

	return test_main(s);
}
