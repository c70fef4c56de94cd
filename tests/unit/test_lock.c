/* Tests of the lock module. */
#include "common.h"

int main(void)
{
	Suite *s = suite_create("lock");

	return test_main(s);
}
